// The behaviour every Bus adapter must have. MemoryBus.test.ts and JetStreamBus.test.ts run it unchanged.
import { Deferred, Effect, Exit, Fiber, Option, Ref, Schema, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { capability, type Event } from "../../contracts/Contract.ts"
import { InternalError } from "../../contracts/errors.ts"
import { type BusShape, type Delivery, handler, type Meta } from "../Bus.ts"

export interface BusFactoryOptions {
  readonly maxPending?: number
  readonly maxDeliver?: number
}

/** Builds a fresh, isolated bus (its own subjects and streams) that lives as long as the scope. */
export type BusFactory = (options?: BusFactoryOptions) => Effect.Effect<BusShape, unknown, Scope.Scope>

const test = capability("test")

export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { why: Schema.String }) {}

const Ping = test.query({
  name: "Ping",
  description: "Replies with n",
  payload: Schema.Struct({ n: Schema.Int }),
  success: Schema.Struct({ n: Schema.Int, requestId: Schema.String, traceparent: Schema.String }),
  errors: [Rejected, InternalError],
})

const Add = test.command({
  name: "Add",
  description: "Adds to a counter",
  payload: Schema.Struct({ n: Schema.Int }),
  success: Schema.Struct({ n: Schema.Int, worker: Schema.String, delivery: Schema.Int }),
  errors: [Rejected, InternalError],
})

const Happened = test.event({
  name: "Happened",
  description: "Something numbered happened",
  payload: Schema.Struct({ n: Schema.Int }),
})

const Other = test.event({
  name: "Other",
  description: "Something else happened",
  payload: Schema.Struct({ n: Schema.Int }),
})

const meta = (requestId = "req-1"): Meta => ({
  requestId,
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
})

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

/** Runs `effect` in a scope of its own that the returned effect closes: a worker that can be stopped. */
const startScoped = (effect: Effect.Effect<unknown, unknown, Scope.Scope>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Scope.provide(effect, scope)
    return Scope.close(scope, Exit.void)
  })

/** Event number `n` of `kind`, as the relay would publish it. */
const happened = (n: number, kind: Event = Happened) => ({
  contract: kind,
  id: `event-${kind.name}-${n}`,
  payload: { n },
  logPosition: `0:${n}`,
  meta: meta(`pub-${n}`),
})

const publishHappened = (bus: BusShape, n: number, kind: Event = Happened) => bus.publish(happened(n, kind))

const waitUntil = (check: () => boolean, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("condition not met in time"))
      yield* Effect.sleep(10)
    }
  })

export const busContract = (name: string, makeBus: BusFactory) =>
  describe(`${name} (bus contract)`, () => {
    describe("request/reply", () => {
      it("delivers a query to a worker and its reply to the caller, with request and trace ids", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            yield* bus.serve({
              group: "pingers",
              handlers: [
                handler(Ping, ({ n }, ctx) =>
                  Effect.succeed({
                    n,
                    requestId: ctx.meta.requestId,
                    traceparent: ctx.meta.traceparent ?? "",
                  }),
                ),
              ],
            })
            const reply = yield* bus.request(Ping, { n: 7 }, { meta: meta("req-42") })
            expect(reply).toEqual({ n: 7, requestId: "req-42", traceparent: meta().traceparent })
          }),
        ))

      it("carries a contract error back to the caller as that error", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            yield* bus.serve({
              group: "pingers",
              handlers: [handler(Ping, () => Effect.fail(new Rejected({ why: "no" })))],
            })
            const error = yield* Effect.flip(bus.request(Ping, { n: 1 }, { meta: meta() }))
            expect(error).toBeInstanceOf(Rejected)
            expect(error).toMatchObject({ _tag: "Rejected", why: "no" })
          }),
        ))

      it("turns a handler's defect into InternalError with an incident id", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            yield* bus.serve({
              group: "pingers",
              handlers: [handler(Ping, () => Effect.die(new Error("boom")))],
            })
            const error = yield* Effect.flip(bus.request(Ping, { n: 1 }, { meta: meta() }))
            expect(error._tag).toBe("InternalError")
            expect((error as InternalError).incident).toMatch(/^[0-9a-f-]{36}$/)
          }),
        ))

      it("fails at once with BusUnavailable when no worker serves the query", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const started = Date.now()
            const error = yield* Effect.flip(bus.request(Ping, { n: 1 }, { meta: meta(), timeout: 5_000 }))
            expect(error._tag).toBe("BusUnavailable")
            expect(Date.now() - started).toBeLessThan(2_000)
          }),
        ))

      it("fails with BusTimeout when the reply does not come in time", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            yield* bus.serve({ group: "pingers", handlers: [handler(Ping, () => Effect.never)] })
            const error = yield* Effect.flip(bus.request(Ping, { n: 1 }, { meta: meta(), timeout: 300 }))
            expect(error).toMatchObject({ _tag: "BusTimeout", afterMs: 300 })
          }),
        ))
    })

    describe("durable commands", () => {
      const adder = (worker: string, seen: Array<number>, extra: Effect.Effect<void> = Effect.void) =>
        handler(Add, ({ n }, ctx) =>
          Effect.andThen(
            extra,
            Effect.sync(() => {
              seen.push(n)
              return { n, worker, delivery: ctx.delivery }
            }),
          ),
        )

      it("hands each command to exactly one worker of the group", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const seenA: Array<number> = []
            const seenB: Array<number> = []
            yield* bus.serve({ group: "adders", handlers: [adder("a", seenA)] })
            yield* bus.serve({ group: "adders", handlers: [adder("b", seenB)] })
            const replies = yield* Effect.forEach(
              Array.from({ length: 40 }, (_, i) => i),
              (n) => bus.send(Add, { n }, { meta: meta(`r${n}`) }),
              { concurrency: 10 },
            )
            expect(replies.map((r) => r.n)).toEqual(Array.from({ length: 40 }, (_, i) => i))
            expect([...seenA, ...seenB].sort((x, y) => x - y)).toEqual(
              Array.from({ length: 40 }, (_, i) => i),
            )
          }),
        ))

      it("keeps a command sent while no worker runs, and delivers it when one starts", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const seen: Array<number> = []
            const reply = yield* Effect.forkChild(bus.send(Add, { n: 5 }, { meta: meta(), timeout: 10_000 }))
            yield* Effect.sleep(300)
            yield* bus.serve({ group: "adders", handlers: [adder("late", seen)] })
            expect(yield* Fiber.join(reply)).toMatchObject({ n: 5, worker: "late" })
            expect(seen).toEqual([5])
          }),
        ))

      it("redelivers to another worker a command whose worker died before acknowledging it", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const received = yield* Deferred.make<void>()
            const stopDoomed = yield* startScoped(
              bus.serve({
                group: "adders",
                ackWait: 1_000,
                handlers: [
                  handler(Add, () => Effect.andThen(Deferred.succeed(received, undefined), Effect.never)),
                ],
              }),
            )
            const reply = yield* Effect.forkChild(bus.send(Add, { n: 9 }, { meta: meta(), timeout: 15_000 }))
            yield* Deferred.await(received)
            yield* stopDoomed
            const seen: Array<number> = []
            yield* bus.serve({ group: "adders", ackWait: 1_000, handlers: [adder("survivor", seen)] })
            const result = yield* Fiber.join(reply)
            expect(result).toMatchObject({ n: 9, worker: "survivor" })
            expect(result.delivery).toBeGreaterThanOrEqual(2)
            expect(seen).toEqual([9])
          }),
        ))

      it("redelivers to another worker a command not acknowledged within ackWait", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const received = yield* Deferred.make<void>()
            yield* bus.serve({
              group: "adders",
              ackWait: 800,
              concurrency: 1,
              handlers: [
                handler(Add, () => Effect.andThen(Deferred.succeed(received, undefined), Effect.never)),
              ],
            })
            const reply = yield* Effect.forkChild(bus.send(Add, { n: 3 }, { meta: meta(), timeout: 15_000 }))
            yield* Deferred.await(received)
            const seen: Array<number> = []
            yield* bus.serve({ group: "adders", ackWait: 800, handlers: [adder("healthy", seen)] })
            const result = yield* Fiber.join(reply)
            expect(result).toMatchObject({ n: 3, worker: "healthy" })
            expect(result.delivery).toBeGreaterThanOrEqual(2)
          }),
        ))

      it("gives up on a command that outlasts ackWait on every one of maxDeliver deliveries", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus({ maxDeliver: 2 })
            let deliveries = 0
            for (const _ of [1, 2]) {
              yield* bus.serve({
                group: "adders",
                ackWait: 500,
                concurrency: 1,
                handlers: [
                  handler(Add, () =>
                    Effect.andThen(
                      Effect.sync(() => deliveries++),
                      Effect.never,
                    ),
                  ),
                ],
              })
            }
            const error = yield* Effect.flip(bus.send(Add, { n: 1 }, { meta: meta(), timeout: 3_000 }))
            expect(error._tag).toBe("BusTimeout")
            expect(deliveries).toBe(2)
          }),
        ))

      it("applies a command sent twice with one idempotency key once, and replies the same to both", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const seen: Array<number> = []
            yield* bus.serve({ group: "adders", handlers: [adder("a", seen, Effect.sleep(200))] })
            const options = { meta: meta(), idempotencyKey: "pay-once" }
            const [first, second] = yield* Effect.all(
              [bus.send(Add, { n: 1 }, options), bus.send(Add, { n: 1 }, options)],
              {
                concurrency: 2,
              },
            )
            const third = yield* bus.send(Add, { n: 1 }, options)
            expect(seen).toEqual([1])
            expect(second).toEqual(first)
            expect(third).toEqual(first)
            const other = yield* bus.send(Add, { n: 1 }, { meta: meta(), idempotencyKey: "another" })
            expect(other.n).toBe(1)
            expect(seen).toEqual([1, 1])
          }),
        ))

      it("carries a command's contract error, request id and trace id", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const metas: Array<Meta> = []
            yield* bus.serve({
              group: "adders",
              handlers: [
                handler(Add, (_, ctx) =>
                  Effect.andThen(
                    Effect.sync(() => metas.push(ctx.meta)),
                    Effect.fail(new Rejected({ why: "over limit" })),
                  ),
                ),
              ],
            })
            const error = yield* Effect.flip(bus.send(Add, { n: 1 }, { meta: meta("req-cmd") }))
            expect(error).toMatchObject({ _tag: "Rejected", why: "over limit" })
            expect(metas[0]).toEqual(meta("req-cmd"))
          }),
        ))
    })

    describe("bounded in-flight work", () => {
      it("refuses calls past maxPending at once instead of queueing them in memory", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus({ maxPending: 5 })
            yield* bus.serve({
              group: "pingers",
              handlers: [
                handler(Ping, ({ n }) => Effect.as(Effect.sleep(500), { n, requestId: "", traceparent: "" })),
              ],
            })
            const started = Date.now()
            const results = yield* Effect.forEach(
              Array.from({ length: 8 }, (_, n) => n),
              (n) => Effect.result(bus.request(Ping, { n }, { meta: meta() })),
              { concurrency: 8 },
            )
            const refused = results.filter((r) => r._tag === "Failure")
            expect(refused).toHaveLength(3)
            for (const r of refused) expect(r).toMatchObject({ failure: { _tag: "BusOverloaded" } })
            expect(results.filter((r) => r._tag === "Success")).toHaveLength(5)
            expect(Date.now() - started).toBeLessThan(5_000)
          }),
        ))
    })

    describe("events", () => {
      const collector = () => {
        const seen: Array<Delivery> = []
        return { seen, handle: (d: Delivery) => Effect.sync(() => void seen.push(d)) }
      }
      const numbers = (deliveries: ReadonlyArray<Delivery>) =>
        deliveries.map((d) => (d.payload as { n: number }).n)

      it("delivers published events in order to a subscriber, with their metadata", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const { seen, handle } = collector()
            yield* bus.subscribe({ events: [Happened], startAt: "new" }, handle)
            yield* Effect.sleep(100)
            for (let n = 1; n <= 5; n++) yield* publishHappened(bus, n)
            yield* waitUntil(() => seen.length === 5)
            expect(numbers(seen)).toEqual([1, 2, 3, 4, 5])
            expect(seen[0]).toMatchObject({ id: "event-Happened-1", logPosition: "0:1", meta: meta("pub-1") })
            expect(seen.map((d) => d.sequence)).toEqual(
              [...seen.map((d) => d.sequence)].sort((a, b) => a - b),
            )
          }),
        ))

      it("filters by contract or by capability", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const only = collector()
            const all = collector()
            yield* bus.subscribe({ events: [Other], startAt: "all" }, only.handle)
            yield* bus.subscribe({ events: { capability: "test" }, startAt: "all" }, all.handle)
            yield* publishHappened(bus, 1)
            yield* publishHappened(bus, 2, Other)
            yield* publishHappened(bus, 3)
            yield* waitUntil(() => all.seen.length === 3 && only.seen.length === 1)
            expect(numbers(only.seen)).toEqual([2])
            expect(all.seen.map((d) => d.contract.name)).toEqual(["Happened", "Other", "Happened"])
          }),
        ))

      it("drops a second publish of the same event id and reports the last event published", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            expect(Option.isNone(yield* bus.lastPublished)).toBe(true)
            const first = yield* publishHappened(bus, 1)
            const again = yield* publishHappened(bus, 1)
            expect(first.duplicate).toBe(false)
            expect(again).toEqual({ sequence: first.sequence, duplicate: true })
            yield* publishHappened(bus, 2)
            expect(Option.getOrThrow(yield* bus.lastPublished)).toMatchObject({ logPosition: "0:2" })
            const { seen, handle } = collector()
            yield* bus.subscribe({ events: [Happened], startAt: "all" }, handle)
            yield* waitUntil(() => seen.length >= 2)
            yield* Effect.sleep(200)
            expect(numbers(seen)).toEqual([1, 2])
          }),
        ))

      it("publishes a batch in order, as one publish after another would", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const { seen, handle } = collector()
            yield* bus.subscribe({ events: [Happened], startAt: "all" }, handle)
            yield* publishHappened(bus, 1)
            const acks = yield* bus.publishAll([2, 3, 4, 5, 6].map((n) => happened(n)))
            expect(acks.map((a) => a.duplicate)).toEqual([false, false, false, false, false])
            expect(acks.map((a) => a.sequence - acks[0]!.sequence)).toEqual([0, 1, 2, 3, 4])
            expect(Option.getOrThrow(yield* bus.lastPublished)).toMatchObject({
              sequence: acks[4]!.sequence,
              logPosition: "0:6",
            })
            yield* waitUntil(() => seen.length === 6)
            expect(numbers(seen)).toEqual([1, 2, 3, 4, 5, 6])
            expect(yield* bus.publishAll([])).toEqual([])
          }),
        ))

      it("drops the events of a batch the bus already has, and appends the rest once", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const stored = yield* bus.publishAll([1, 2].map((n) => happened(n)))
            const again = yield* bus.publishAll([1, 2, 3, 4].map((n) => happened(n)))
            expect(again.slice(0, 2)).toEqual(stored.map((a) => ({ ...a, duplicate: true })))
            expect(again.slice(2).map((a) => a.duplicate)).toEqual([false, false])
            const { seen, handle } = collector()
            yield* bus.subscribe({ events: [Happened], startAt: "all" }, handle)
            yield* waitUntil(() => seen.length >= 4)
            yield* Effect.sleep(200)
            expect(numbers(seen)).toEqual([1, 2, 3, 4])
          }),
        ))

      it("appends a batch after a given sequence only while the stream still ends there", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const [first] = yield* bus.publishAll([happened(1)])
            const next = yield* bus.publishAll(
              [2, 3].map((n) => happened(n)),
              { afterSequence: first!.sequence },
            )
            expect(next.map((a) => a.sequence - first!.sequence)).toEqual([1, 2])
            // A relay that fell behind (another appended since) is refused, and appends nothing.
            const stale = yield* Effect.flip(
              bus.publishAll(
                [4, 5].map((n) => happened(n)),
                { afterSequence: first!.sequence },
              ),
            )
            expect(stale._tag).toBe("BusUnavailable")
            expect(Option.getOrThrow(yield* bus.lastPublished)).toMatchObject({
              sequence: next[1]!.sequence,
              logPosition: "0:3",
            })
            const { seen, handle } = collector()
            yield* bus.subscribe({ events: [Happened], startAt: "all" }, handle)
            yield* waitUntil(() => seen.length >= 3)
            yield* Effect.sleep(200)
            expect(numbers(seen)).toEqual([1, 2, 3])
          }),
        ))

      it("starts an ephemeral subscriber after a given sequence", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const acks = yield* Effect.forEach([1, 2, 3, 4], (n) => publishHappened(bus, n))
            const { seen, handle } = collector()
            yield* bus.subscribe(
              { events: [Happened], startAt: { afterSequence: acks[1]!.sequence } },
              handle,
            )
            yield* waitUntil(() => seen.length === 2)
            expect(numbers(seen)).toEqual([3, 4])
          }),
        ))

      it("stops delivering to a subscriber whose scope closed", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const { seen, handle } = collector()
            const stop = yield* startScoped(bus.subscribe({ events: [Happened], startAt: "all" }, handle))
            yield* publishHappened(bus, 1)
            yield* waitUntil(() => seen.length === 1)
            yield* stop
            yield* publishHappened(bus, 2)
            yield* Effect.sleep(300)
            expect(numbers(seen)).toEqual([1])
          }),
        ))

      it("delivers again, in order, an event whose handler failed", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const attempts = yield* Ref.make(0)
            const seen: Array<Delivery> = []
            yield* bus.subscribe({ events: [Happened], startAt: "all", ackWait: 2_000 }, (d) =>
              Effect.gen(function* () {
                if (
                  (d.payload as { n: number }).n === 2 &&
                  (yield* Ref.getAndUpdate(attempts, (x) => x + 1)) === 0
                ) {
                  return yield* Effect.fail("transient")
                }
                seen.push(d)
              }),
            )
            for (let n = 1; n <= 3; n++) yield* publishHappened(bus, n)
            yield* waitUntil(() => seen.length === 3)
            expect(numbers(seen)).toEqual([1, 2, 3])
            expect(seen[1]!.delivery).toBe(2)
          }),
        ))

      it("resumes a durable subscriber exactly after the last event it acknowledged", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            for (let n = 1; n <= 5; n++) yield* publishHappened(bus, n)
            const firstRun: Array<number> = []
            const stuck = yield* Deferred.make<void>()
            const stop = yield* startScoped(
              bus.subscribe(
                { events: [Happened], durable: "projector", startAt: "all", ackWait: 1_000 },
                (d) => {
                  const n = (d.payload as { n: number }).n
                  firstRun.push(n)
                  // The fourth event is never acknowledged: the subscriber "crashes" while handling it.
                  return n === 4
                    ? Effect.andThen(Deferred.succeed(stuck, undefined), Effect.never)
                    : Effect.void
                },
              ),
            )
            yield* Deferred.await(stuck)
            yield* Effect.sleep(200)
            yield* stop
            for (let n = 6; n <= 7; n++) yield* publishHappened(bus, n)
            const secondRun: Array<number> = []
            yield* bus.subscribe(
              { events: [Happened], durable: "projector", startAt: "all", ackWait: 1_000 },
              (d) => Effect.sync(() => void secondRun.push((d.payload as { n: number }).n)),
            )
            yield* waitUntil(() => secondRun.length >= 4)
            yield* Effect.sleep(200)
            expect(firstRun).toEqual([1, 2, 3, 4])
            expect(secondRun).toEqual([4, 5, 6, 7])
          }),
        ))
    })
    describe("signals", () => {
      it("reach every listener of the topic, in the order sent, and no other topic's", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            const first: Array<string> = []
            const second: Array<string> = []
            const elsewhere: Array<string> = []
            yield* bus.listen("room-1", (data) => void first.push(data))
            yield* bus.listen("room-1", (data) => void second.push(data))
            yield* bus.listen("room-2", (data) => void elsewhere.push(data))
            yield* bus.ping
            for (const n of [1, 2, 3]) yield* bus.signal("room-1", `m${n}`)
            yield* waitUntil(() => first.length === 3 && second.length === 3)
            yield* Effect.sleep(100)
            expect(first).toEqual(["m1", "m2", "m3"])
            expect(second).toEqual(["m1", "m2", "m3"])
            expect(elsewhere).toEqual([])
          }),
        ))

      it("are dropped when nobody listens, and stop when the listener's scope closes", () =>
        run(
          Effect.gen(function* () {
            const bus = yield* makeBus()
            yield* bus.signal("nobody", "lost")
            const heard: Array<string> = []
            const stop = yield* startScoped(bus.listen("nobody", (data) => void heard.push(data)))
            yield* bus.ping
            yield* bus.signal("nobody", "heard")
            yield* waitUntil(() => heard.length === 1)
            yield* stop
            yield* bus.signal("nobody", "after")
            yield* Effect.sleep(100)
            expect(heard).toEqual(["heard"])
          }),
        ))
    })
  })
