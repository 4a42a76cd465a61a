import { Deferred, Effect, Exit, Fiber, Schema, Scope } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { BusShape, Delivery } from "../../bus/Bus.ts"
import * as MemoryBus from "../../bus/MemoryBus.ts"
import { capability } from "../../contracts/Contract.ts"
import { InternalError } from "../../contracts/errors.ts"
import { createTestDatabase, type TestDatabase } from "../../test/support/database.ts"
import { migrate } from "../migrate/Migrations.ts"
import * as Postgres from "../postgres/Postgres.ts"
import { CommitThenFail, transact } from "./CommandTransaction.ts"
import * as EventStore from "./EventStore.ts"
import { readAfter } from "./Follower.ts"
import * as LogCursor from "./LogCursor.ts"
import * as OutboxRelay from "./OutboxRelay.ts"
import { rebuild } from "./Rebuild.ts"

const ledger = capability("ledger")
const Deposited = ledger.event({
  name: "Deposited",
  description: "money in",
  payload: Schema.Struct({ amount: Schema.Int }),
})
EventStore.register([Deposited])
class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Int }) {}
const Deposit = ledger.command({
  name: "Deposit",
  description: "add money",
  payload: Schema.Struct({ account: Schema.String, amount: Schema.Int }),
  success: Schema.Struct({ balance: Schema.Int }),
  errors: [Overdrawn, InternalError],
})

const meta = { requestId: "r1" }
// The tests choose their keys, as a client sending Idempotency-Key does.
const context = (idempotencyKey: string) => ({ meta, idempotencyKey, delivery: 1, mayHaveRun: true })

let db: TestDatabase
let scope: Scope.Closeable
let postgres: Postgres.PostgresShape

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

beforeAll(async () => {
  db = await createTestDatabase()
  await run(migrate({ url: db.url }))
  scope = Effect.runSync(Scope.make())
  postgres = await run(Scope.provide(Postgres.make(db.url, 10), scope))
})
afterAll(async () => {
  await run(Scope.close(scope, Exit.void))
  await db.drop()
})

const deposits = (...amounts: Array<number>) =>
  amounts.map((amount) => EventStore.newEvent(Deposited, { amount }))

/** A deposit handler: the balance is the sum of the account stream's events. */
const deposit = (account: string, amount: number, key: string, calls?: { n: number }) =>
  transact(postgres, { contract: Deposit, context: context(key) }, (tx) =>
    Effect.gen(function* () {
      if (calls) calls.n++
      const stream = yield* tx.readStream(`ledger.${account}`)
      const balance = stream.events.reduce((sum, e) => sum + (e.payload as { amount: number }).amount, 0)
      if (balance + amount < 0) return new CommitThenFail({ error: new Overdrawn({ balance }) })
      yield* tx.append(`ledger.${account}`, stream.version, deposits(amount))
      return { balance: balance + amount }
    }),
  )

describe("the event store", () => {
  it("appends with consecutive stream versions and reads them back decoded", async () => {
    await run(postgres.transaction((tx) => EventStore.append(tx, "s-1", 0, deposits(1, 2), meta)))
    await run(postgres.transaction((tx) => EventStore.append(tx, "s-1", 2, deposits(3), meta)))
    const stream = await run(EventStore.readStream(postgres, "s-1"))
    expect(stream.version).toBe(3)
    expect(stream.events.map((e) => [e.streamVersion, e.payload])).toEqual([
      [1, { amount: 1 }],
      [2, { amount: 2 }],
      [3, { amount: 3 }],
    ])
    expect(stream.events[0]!.contract).toBe(Deposited)
  })

  it("lets exactly one of two writers that read the same version append", async () => {
    const results = await Promise.all(
      [1, 2].map((n) =>
        run(
          Effect.result(postgres.transaction((tx) => EventStore.append(tx, "s-race", 0, deposits(n), meta))),
        ),
      ),
    )
    expect(results.filter((r) => r._tag === "Success")).toHaveLength(1)
    expect(results.find((r) => r._tag === "Failure")).toMatchObject({
      failure: { _tag: "ConcurrencyConflict" },
    })
  })

  it("orders followers by transaction id as a number, not as text", async () => {
    const fresh = await createTestDatabase()
    try {
      await run(migrate({ url: fresh.url }))
      const client = new pg.Client(fresh.url)
      await client.connect()
      // Two old transactions whose ids have different numbers of digits: 12 sorts before 7 as text.
      for (const [stream, tx] of [
        ["first", 7],
        ["second", 12],
      ] as const) {
        await client.query(
          `insert into reactor.events (stream_id, stream_version, event_id, type, version, data, transaction_id)
           values ($1, 1, gen_random_uuid(), 'ledger.Deposited', 1, '{"amount":1}', $2::text::xid8)`,
          [stream, tx],
        )
      }
      await client.end()
      const scope = Effect.runSync(Scope.make())
      const other = await run(Scope.provide(Postgres.make(fresh.url, 1), scope))
      const read = await run(readAfter(other, LogCursor.start, 10))
      expect(read.map((e) => [e.streamId, e.transactionId])).toEqual([
        ["first", 7n],
        ["second", 12n],
      ])
      const afterFirst = await run(readAfter(other, EventStore.cursorOf(read[0]!), 10))
      expect(afterFirst.map((e) => e.streamId)).toEqual(["second"])
      await run(Scope.close(scope, Exit.void))
    } finally {
      await fresh.drop()
    }
  })

  it("never lets a follower skip a transaction that commits after a later one", async () => {
    const before = await run(readAfter(postgres, LogCursor.start, 10_000))
    const cursor = before.length === 0 ? LogCursor.start : EventStore.cursorOf(before.at(-1)!)
    const slow = new pg.Client(db.url)
    await slow.connect()
    await slow.query("begin")
    await slow.query(
      "insert into reactor.events (stream_id, stream_version, event_id, type, version, data) values ('late', 1, gen_random_uuid(), 'ledger.Deposited', 1, '{\"amount\":1}')",
    )
    await run(postgres.transaction((tx) => EventStore.append(tx, "early", 0, deposits(2), meta)))
    // The early commit has a later transaction id than the open one: it must wait behind it.
    expect(await run(readAfter(postgres, cursor, 100))).toEqual([])
    await slow.query("commit")
    await slow.end()
    const seen = await run(readAfter(postgres, cursor, 100))
    expect(seen.map((e) => e.streamId)).toEqual(["late", "early"])
  })
})

describe("a command transaction", () => {
  it("runs a command once per idempotency key and returns the first reply to a repeat", async () => {
    const calls = { n: 0 }
    const first = await run(deposit("a", 10, "key-a", calls))
    const repeat = await run(deposit("a", 10, "key-a", calls))
    expect(first).toEqual({ balance: 10 })
    expect(repeat).toEqual({ balance: 10 })
    expect(calls.n).toBe(1)
    expect((await run(EventStore.readStream(postgres, "ledger.a"))).version).toBe(1)
  })

  it("skips the lookup for a bus-made key on first delivery, yet applies a duplicate of it once", async () => {
    const fresh = (calls: { n: number }) =>
      transact(
        postgres,
        {
          contract: Deposit,
          context: { meta, idempotencyKey: "bus-made-1", delivery: 1, mayHaveRun: false },
        },
        (tx) =>
          Effect.gen(function* () {
            calls.n++
            const stream = yield* tx.readStream("ledger.fresh")
            yield* tx.append("ledger.fresh", stream.version, deposits(7))
            return { balance: 7 * (stream.version + 1) }
          }),
      )
    const calls = { n: 0 }
    expect(await run(fresh(calls))).toEqual({ balance: 7 })
    // Should the same key come again as a first delivery, the command log's key catches it.
    expect(await run(fresh(calls))).toEqual({ balance: 7 })
    expect(calls.n).toBe(2)
    expect((await run(EventStore.readStream(postgres, "ledger.fresh"))).version).toBe(1)
  })

  it("decides again on fresh state when another command appended to the stream first", async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => run(deposit("b", 1, `key-b-${i}`))),
    )
    expect(replies.map((r) => r.balance).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect((await run(EventStore.readStream(postgres, "ledger.b"))).version).toBe(10)
  })

  it("can commit and still reply with an error, and replays that error to a repeat", async () => {
    await run(deposit("c", 5, "key-c-1"))
    const error = await run(Effect.flip(deposit("c", -50, "key-c-2")))
    expect(error).toEqual(new Overdrawn({ balance: 5 }))
    const calls = { n: 0 }
    expect(await run(Effect.flip(deposit("c", -50, "key-c-2", calls)))).toEqual(new Overdrawn({ balance: 5 }))
    expect(calls.n).toBe(0)
  })

  it("rolls back everything when the handler fails", async () => {
    const failing = transact(postgres, { contract: Deposit, context: context("key-d") }, (tx) =>
      Effect.andThen(tx.append("ledger.d", 0, deposits(1)), Effect.fail("boom" as const)),
    )
    expect(await run(Effect.flip(failing))).toBe("boom")
    expect((await run(EventStore.readStream(postgres, "ledger.d"))).version).toBe(0)
    expect(await run(deposit("d", 1, "key-d"))).toEqual({ balance: 1 })
  })
})

describe("the outbox relay", () => {
  const collect = (bus: BusShape) =>
    Effect.gen(function* () {
      const seen: Array<Delivery> = []
      yield* bus.subscribe({ events: [Deposited], startAt: "all" }, (d) =>
        Effect.sync(() => void seen.push(d)),
      )
      return seen
    })

  const waitFor = (check: () => boolean) =>
    Effect.gen(function* () {
      const deadline = Date.now() + 10_000
      while (!check()) {
        if (Date.now() > deadline) return yield* Effect.die(new Error("timed out"))
        yield* Effect.sleep(20)
      }
    })

  it("publishes every committed event once, in log order, with its position", () =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          const seen = yield* collect(bus)
          const total = (yield* readAfter(postgres, LogCursor.start, 100_000)).length
          yield* Effect.forkScoped(OutboxRelay.run(postgres, bus))
          yield* Effect.forEach([1, 2, 3], (n) =>
            Effect.promise(() => run(deposit("relay", n, `relay-${n}`))),
          )
          yield* waitFor(() => seen.length === total + 3)
          const positions = seen.map((d) => LogCursor.parse(d.logPosition)!)
          const sorted = [...positions].sort(LogCursor.compare)
          expect(positions).toEqual(sorted)
          expect(new Set(seen.map((d) => d.id)).size).toBe(seen.length)
          expect(seen.slice(-3).map((d) => d.payload)).toEqual([{ amount: 1 }, { amount: 2 }, { amount: 3 }])
          expect(seen.at(-1)!.meta).toMatchObject({ requestId: "r1", idempotencyKey: "relay-3" })
        }),
      ),
    ))

  const keyOf = (d: Delivery) => (d.meta as { idempotencyKey?: string }).idempotencyKey

  it("gathers a steady stream of commits into one batch instead of reading each", () =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          const seen = yield* collect(bus)
          const batches: Array<number> = []
          const counted: BusShape = {
            ...bus,
            publishAll: (events, options) => {
              batches.push(events.length)
              return bus.publishAll(events, options)
            },
          }
          yield* Effect.promise(() => run(deposit("gather", 0, "gather-0")))
          yield* Effect.forkScoped(OutboxRelay.run(postgres, counted, { gatherMs: 1_000 }))
          // Caught up (from the checkpoint earlier relays saved), then idle once the gather is over.
          yield* waitFor(() => seen.some((d) => keyOf(d) === "gather-0"))
          yield* Effect.sleep(1_300)
          batches.length = 0
          yield* Effect.promise(() => run(deposit("gather", 1, "gather-1")))
          yield* waitFor(() => seen.some((d) => keyOf(d) === "gather-1"))
          // Committed while the relay lets events gather after the first: read and published as one.
          yield* Effect.forEach([2, 3, 4], (n) =>
            Effect.promise(() => run(deposit("gather", n, `gather-${n}`))),
          )
          yield* waitFor(() => seen.some((d) => keyOf(d) === "gather-4"))
          expect(batches).toEqual([1, 3])
        }),
      ),
    ))

  it("publishes nothing twice after dying between publishing and checkpointing", () =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          const seen = yield* collect(bus)
          yield* Effect.promise(() => run(deposit("crash", 1, "crash-1")))
          // The first relay stops dead right after publishing, before its checkpoint.
          const crashed = yield* Deferred.make<void>()
          const first = yield* Effect.forkScoped(
            OutboxRelay.run(postgres, bus, {
              fault: (point) => {
                if (point === "after-publish") {
                  Deferred.doneUnsafe(crashed, Exit.void)
                  throw new Error("killed")
                }
              },
            }),
          )
          yield* Deferred.await(crashed)
          yield* Fiber.interrupt(first)
          expect(seen.filter((d) => keyOf(d) === "crash-1")).toHaveLength(1)
          yield* Effect.forkScoped(OutboxRelay.run(postgres, bus))
          yield* Effect.promise(() => run(deposit("crash", 1, "crash-2")))
          yield* waitFor(() => seen.some((d) => keyOf(d) === "crash-2"))
          yield* Effect.sleep(300)
          expect(seen.filter((d) => keyOf(d) === "crash-1")).toHaveLength(1)
          expect(new Set(seen.map((d) => d.id)).size).toBe(seen.length)
        }),
      ),
    ))

  it("saves its checkpoint once it has caught up, so a relay on an empty bus starts after it", () =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const first = yield* MemoryBus.make()
          const seenFirst = yield* collect(first)
          // Saves while events keep coming are spaced far apart here: only catching up saves.
          const relay = yield* Effect.forkScoped(
            OutboxRelay.run(postgres, first, { checkpointEveryMs: 3_600_000 }),
          )
          // One at a time, each published before the next: three batches, only the first saved as it came.
          yield* Effect.forEach([1, 2, 3], (n) =>
            Effect.gen(function* () {
              yield* Effect.promise(() => run(deposit("idle", n, `idle-${n}`)))
              yield* waitFor(() => seenFirst.some((d) => keyOf(d) === `idle-${n}`))
            }),
          )
          yield* Effect.sleep(300)
          yield* Fiber.interrupt(relay)
          // A bus that forgot everything (a restarted process): the checkpoint says where to start.
          const second = yield* MemoryBus.make()
          const seenSecond = yield* collect(second)
          yield* Effect.forkScoped(OutboxRelay.run(postgres, second))
          yield* Effect.promise(() => run(deposit("idle", 4, "idle-4")))
          yield* waitFor(() => seenSecond.some((d) => keyOf(d) === "idle-4"))
          expect(seenSecond.filter((d) => keyOf(d)?.startsWith("idle-")).map(keyOf)).toEqual(["idle-4"])
        }),
      ),
    ))

  it("keeps one relay active per database", () =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          const seen = yield* collect(bus)
          yield* Effect.forkScoped(OutboxRelay.run(postgres, bus))
          yield* Effect.forkScoped(OutboxRelay.run(postgres, bus))
          yield* Effect.forEach([1, 2, 3], (n) => Effect.promise(() => run(deposit("pair", 1, `pair-${n}`))))
          yield* waitFor(() => seen.filter((d) => keyOf(d)?.startsWith("pair-")).length >= 3)
          yield* Effect.sleep(300)
          expect(seen.filter((d) => keyOf(d)?.startsWith("pair-")).map(keyOf)).toEqual([
            "pair-1",
            "pair-2",
            "pair-3",
          ])
          expect(new Set(seen.map((d) => d.id)).size).toBe(seen.length)
        }),
      ),
    ))

  it("hands over to a standby relay when the active one stops", () =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          const seen = yield* collect(bus)
          const active = yield* Effect.forkScoped(OutboxRelay.run(postgres, bus))
          yield* Effect.sleep(200)
          yield* Effect.forkScoped(OutboxRelay.run(postgres, bus))
          yield* Fiber.interrupt(active)
          yield* Effect.promise(() => run(deposit("handover", 1, "handover-1")))
          yield* waitFor(() => seen.some((d) => keyOf(d) === "handover-1"))
        }),
      ),
    ))
})

describe("rebuilding a projection", () => {
  it("produces the same rows from the log as the handlers did", async () => {
    await run(postgres.query("create table ledger_balances (account text primary key, balance int not null)"))
    const apply = (tx: Postgres.Tx, event: EventStore.StoredEvent) =>
      event.contract === Deposited
        ? tx
            .query(
              `insert into ledger_balances values ($1, $2)
               on conflict (account) do update set balance = ledger_balances.balance + excluded.balance`,
              [event.streamId, (event.payload as { amount: number }).amount],
            )
            .pipe(Effect.asVoid)
        : Effect.void
    const snapshot = () =>
      run(postgres.query("select * from ledger_balances order by account")).then((r) => r.rows)
    await run(rebuild(postgres, { tables: ["ledger_balances"], apply }))
    const first = await snapshot()
    expect(first.length).toBeGreaterThan(0)
    await run(postgres.query("update ledger_balances set balance = -1"))
    await run(rebuild(postgres, { tables: ["ledger_balances"], apply }))
    expect(await snapshot()).toEqual(first)
  })

  it("refuses, and empties nothing, when an app table references the projection", async () => {
    await run(postgres.query("create table ledger_owners (account text primary key, owner text not null)"))
    await run(postgres.query("create table ledger_notes (account text references ledger_owners, note text)"))
    await run(postgres.query("insert into ledger_owners values ('a', 'ada')"))
    await run(postgres.query("insert into ledger_notes values ('a', 'keep me')"))
    const failed = await run(
      Effect.flip(rebuild(postgres, { tables: ["ledger_owners"], apply: () => Effect.void })),
    )
    expect(failed).toMatchObject({ _tag: "PgError", code: "0A000" })
    const notes = await run(postgres.query("select note from ledger_notes")).then((r) => r.rows)
    expect(notes).toEqual([{ note: "keep me" }])
  })
})
