import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTestDatabase, type TestDatabase } from "../../test/support/database.ts"
import * as Postgres from "./Postgres.ts"
import type { Settings } from "./SettingsQuery.ts"

let db: TestDatabase
let scope: Scope.Closeable
let postgres: Postgres.PostgresShape
/** One shared connection, so every autocommit statement follows the one before on the same session. */
let single: Postgres.PostgresShape

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const failure = <A>(effect: Effect.Effect<A, Postgres.PgError>) => run(Effect.flip(effect))

beforeAll(async () => {
  db = await createTestDatabase()
  scope = Effect.runSync(Scope.make())
  postgres = await run(Scope.provide(Postgres.make(db.url, 4), scope))
  single = await run(Scope.provide(Postgres.make(db.url, 2, 1), scope))
  await run(
    postgres.query(`create table notes (id int primary key, body text);
      insert into notes values (1, 'one'), (2, 'two')`),
  )
})
afterAll(async () => {
  await run(Scope.close(scope, Exit.void))
  await db.drop()
})

const settingsNow =
  "select current_setting('app.who', true) as who, current_setting('transaction_read_only') as ro"

describe("statements in transactions of their own (autocommit)", () => {
  it("run after their settings, which are gone when the statement is done", async () => {
    const asAlice = single.autocommit({ locals: [["app.who", "alice"]], readOnly: true })
    const { rows } = await run(asAlice.query({ name: "settings-now", text: settingsNow }))
    expect(rows).toEqual([{ who: "alice", ro: "on" }])
    const after = await run(single.autocommit({}).query(settingsNow))
    expect(after.rows).toEqual([{ who: "", ro: "off" }])
  })

  it("refuse to write when read-only, and write nothing", async () => {
    const reader = single.autocommit({ locals: [["app.who", "bob"]], readOnly: true })
    const error = await failure(reader.query("insert into notes values (3, 'three')"))
    expect(error.code).toBe("25006")
    expect((await run(postgres.query("select count(*)::int as n from notes"))).rows).toEqual([{ n: 2 }])
  })

  it("each see their own settings when many share a connection at once", async () => {
    const whos = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        run(
          single
            .autocommit({ locals: [["app.who", `user-${i}`]], readOnly: i % 2 === 0 })
            .query<{ who: string; ro: string }>({ name: "settings-now", text: settingsNow }),
        ).then((r) => r.rows[0]),
      ),
    )
    expect(whos).toEqual(
      Array.from({ length: 200 }, (_, i) => ({ who: `user-${i}`, ro: i % 2 === 0 ? "on" : "off" })),
    )
  })

  it("leave the connection usable after failing to parse or to run", async () => {
    const tx = single.autocommit({ locals: [["app.who", "carol"]] })
    for (let i = 0; i < 2; i++) {
      expect((await failure(tx.query({ name: "broken", text: "selec 1" }))).code).toBe("42601")
    }
    const divide = { name: "divide", text: "select 10 / $1::int as q" }
    expect((await failure(tx.query({ ...divide, values: [0] }))).code).toBe("22012")
    expect((await run(tx.query({ ...divide, values: [5] }))).rows).toEqual([{ q: 2 }])
    expect((await run(tx.query({ name: "settings-now", text: settingsNow }))).rows[0]).toMatchObject({
      who: "carol",
    })
  })

  it("recover when Postgres drops the connection", async () => {
    const tx = single.autocommit({ locals: [["app.who", "dave"]] })
    // The first run of a shape takes the pool; the second, on the shared connection, is the one dropped.
    await run(tx.query("select pg_backend_pid() as pid"))
    const pid = (await run(tx.query<{ pid: number }>("select pg_backend_pid() as pid"))).rows[0]!.pid
    await run(postgres.query("select pg_terminate_backend($1)", [pid]))
    // Statements written before the client hears of the drop fail; the ones after get a new connection.
    let again: Exit.Exit<{ rows: Array<{ pid: number }> }, Postgres.PgError> | undefined
    for (let i = 0; i < 50 && (again === undefined || Exit.isFailure(again)); i++) {
      again = await run(Effect.exit(tx.query<{ pid: number }>("select pg_backend_pid() as pid")))
      if (Exit.isFailure(again)) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(Exit.isSuccess(again!)).toBe(true)
    if (Exit.isSuccess(again!)) expect(again.value.rows[0]!.pid).not.toBe(pid)
  })
})

describe("autocommit statements, shared or not", () => {
  const backend = { name: "backend-pid", text: "select pg_backend_pid() as pid" }
  const pids = (count: number) =>
    Promise.all(
      Array.from({ length: count }, () =>
        run(single.autocommit({ locals: [["app.who", "gina"]] }).query<{ pid: number }>(backend)),
      ),
    ).then((results) => new Set(results.map((r) => r.rows[0]!.pid)))

  it("share one connection, once their shape has run quickly", async () => {
    await pids(1)
    // The pool has two connections: fifty at once on it would have used both.
    expect((await pids(50)).size).toBe(1)
  })

  const sleeper = (name: string, seconds: number) => ({
    name,
    text: "select pg_sleep($1::float8) as slept, 1 as done",
    values: [seconds],
  })
  /** How long `count` quick reads take while `slow` runs, and that `slow` was still running then. */
  const quickWhile = async (slow: Promise<unknown>) => {
    let slowDone = false
    void slow.then(() => {
      slowDone = true
    })
    const start = performance.now()
    await pids(20)
    return { ms: performance.now() - start, slowDone }
  }

  it("run on a connection of their own the first time their shape is seen", async () => {
    await pids(1)
    const reader = single.autocommit({})
    const slow = run(reader.query(sleeper("first-sleep", 1)))
    const quick = await quickWhile(slow)
    expect(quick.slowDone).toBe(false)
    expect(quick.ms).toBeLessThan(500)
    // Learned slow: the next one takes the pool too.
    const again = run(reader.query(sleeper("first-sleep", 1)))
    expect((await quickWhile(again)).ms).toBeLessThan(500)
    await Promise.all([slow, again])
  })

  it("are not written behind one that has been running long", async () => {
    await pids(1)
    const reader = single.autocommit({})
    await run(reader.query(sleeper("sometimes-slow", 0)))
    await run(reader.query(sleeper("sometimes-slow", 0)))
    // Quick last time, so on the shared connection; this time it takes a second.
    const slow = run(reader.query(sleeper("sometimes-slow", 1)))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const quick = await quickWhile(slow)
    expect(quick.slowDone).toBe(false)
    expect(quick.ms).toBeLessThan(500)
    await slow
  })

  it("that fail on a connection of their own leave the pool usable", async () => {
    const reader = single.autocommit({})
    const divide = { name: "divide-once", text: "select 10 / $1::int as q" }
    // More failures than the pool has connections: each must have given its connection back.
    for (let i = 0; i < 3; i++) {
      expect((await failure(reader.query({ ...divide, values: [0] }))).code).toBe("22012")
    }
    expect((await run(reader.query({ ...divide, values: [5] }))).rows).toEqual([{ q: 2 }])
    expect((await run(single.query("select 1 as one"))).rows).toEqual([{ one: 1 }])
  })
})

describe("a transaction's statements sent without waiting", () => {
  it("make the commit fail when one of them failed, and nothing is committed", async () => {
    const error = await failure(
      postgres.transaction((tx) =>
        Effect.gen(function* () {
          yield* tx.send("insert into notes values (10, 'ten')")
          yield* tx.send("insert into notes values (1, 'duplicate')")
        }),
      ),
    )
    expect(error.code).toBe("23505")
    expect((await run(postgres.query("select count(*)::int as n from notes where id = 10"))).rows).toEqual([
      { n: 0 },
    ])
  })

  it("report their own failure to the next statement waited for, not 'transaction aborted'", async () => {
    const error = await failure(
      postgres.transaction((tx) =>
        Effect.gen(function* () {
          yield* tx.send("select 1 / 0")
          return yield* tx.query("select 1")
        }),
      ),
    )
    expect(error.code).toBe("22012")
  })

  it("commit with the statements waited for when all succeed", async () => {
    await run(
      postgres.transaction((tx) =>
        Effect.gen(function* () {
          yield* tx.send("insert into notes values (20, 'twenty')")
          yield* tx.send("update notes set body = 'TWENTY' where id = 20")
          const { rows } = yield* tx.query("select body from notes where id = 20")
          expect(rows).toEqual([{ body: "TWENTY" }])
        }),
      ),
    )
    expect((await run(postgres.query("select body from notes where id = 20"))).rows).toEqual([
      { body: "TWENTY" },
    ])
  })
})

describe("a batch: settings, a statement and what trails it, in one round trip", () => {
  const keep = {
    name: "test.keep-note",
    text: "insert into notes values ($1::int, current_setting('app.kept'))",
  }
  /** Inserts a note and leaves its body in `app.kept` for what trails it. */
  const insertNote = (id: number, body: string) => ({
    name: "test.insert-note",
    text: "insert into notes values ($1, $2) returning id, set_config('app.kept', body, true) as kept",
    values: [id, body],
  })

  it("commits all of it, and answers with the statement's rows only", async () => {
    const { rows } = await run(
      postgres.batch(insertNote(30, "thirty"), [["app.who", "erin"]], [{ ...keep, values: ["31"] }]),
    )
    expect(rows).toEqual([{ id: 30, kept: "thirty" }])
    const stored = await run(postgres.query("select id, body from notes where id in (30, 31) order by id"))
    expect(stored.rows).toEqual([
      { id: 30, body: "thirty" },
      { id: 31, body: "thirty" },
    ])
  })

  it("commits none of it when a trailing statement fails, and the connection serves the next", async () => {
    const error = await failure(
      postgres.batch(
        insertNote(40, "forty"),
        [],
        // 1 is taken: the trailing insert fails, and the statement before it is undone.
        [{ ...keep, values: ["1"] }],
      ),
    )
    expect(error.code).toBe("23505")
    expect((await run(postgres.query("select id from notes where id = 40"))).rows).toEqual([])
    // The pool hands the connection the batch failed on out first: it answers, prepared statements and all.
    for (let i = 0; i < 4; i++) {
      const { rows } = await run(
        postgres.batch(insertNote(50 + i, "fifty"), [], [{ ...keep, values: [String(60 + i)] }]),
      )
      expect(rows).toEqual([{ id: 50 + i, kept: "fifty" }])
    }
  })

  /** Sets a note's body in a batch; answers with the backend that ran it. */
  const setBody = (id: number, body: string) => ({
    name: "test.set-body",
    text: "update notes set body = $2 where id = $1 returning pg_backend_pid() as pid",
    values: [id, body],
  })

  /** The backends that ran `count` batches sent at once, each setting note 1's body. */
  const batchBackends = async (count: number) => {
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        run(single.batch(setBody(1, `one ${i}`), [["app.who", `caller ${i}`]], [])),
      ),
    )
    expect(results.every((r) => r.rowCount === 1)).toBe(true)
    return new Set(results.map((r) => r.rows[0]!.pid))
  }

  it("share one connection once their shape has run quickly, each its own transaction", async () => {
    await run(single.batch(setBody(1, "one"), [], []))
    expect((await batchBackends(8)).size).toBe(1)
    const { rows } = await run(single.query("select body from notes where id = 1"))
    expect(rows).toEqual([{ body: "one 7" }])
  })

  it("are not written behind more than they could expect to finish in 25 ms", async () => {
    const nap = {
      name: "test.nap",
      text: "select pg_sleep(0.01) as slept, pg_backend_pid() as pid",
      values: [],
    }
    // Quick enough to share (10 ms), and one after another, so the connection learns how long.
    for (let i = 0; i < 16; i++) await run(single.batch(nap, [], []))
    const once = await Promise.all(
      Array.from({ length: 12 }, () => run(single.batch<{ pid: number }>(nap, [], []))),
    )
    // A few on the shared connection, the rest on the pool's two, where commits share flushes.
    expect(new Set(once.map((r) => r.rows[0]!.pid)).size).toBeGreaterThan(1)
  })

  it("recover when Postgres drops their shared connection", async () => {
    await run(single.batch(setBody(2, "two"), [], []))
    const pid = (await run(single.batch<{ pid: number }>(setBody(2, "two"), [], []))).rows[0]!.pid
    await run(postgres.query("select pg_terminate_backend($1)", [pid]))
    // Batches written before the client hears of the drop fail; the ones after get a new connection.
    let again: Exit.Exit<{ rows: Array<{ pid: number }> }, Postgres.PgError> | undefined
    let tries = 0
    for (; tries < 50 && (again === undefined || Exit.isFailure(again)); tries++) {
      again = await run(Effect.exit(single.batch<{ pid: number }>(setBody(2, `two, try ${tries}`), [], [])))
      if (Exit.isFailure(again)) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(Exit.isSuccess(again!)).toBe(true)
    if (Exit.isSuccess(again!)) expect(again.value.rows[0]!.pid).not.toBe(pid)
    const { rows } = await run(single.query("select body from notes where id = 2"))
    expect(rows).toEqual([{ body: `two, try ${tries - 1}` }])
  })

  it("that waits for a row lock holds up no read, and later batches go round it", async () => {
    const bodyOf = { name: "test.body-of", text: "select body from notes where id = $1", values: [1] }
    // Both shapes quick: each goes to a shared connection, if one is free to take it.
    await run(single.batch(setBody(2, "two"), [], []))
    await run(single.autocommit({}).query(bodyOf))
    let release = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let locked = () => {}
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve
    })
    // Another session holds note 2's row lock until released.
    const holder = run(
      single.transaction((tx) =>
        tx.query("select id from notes where id = 2 for update").pipe(
          Effect.tap(() => Effect.sync(locked)),
          Effect.andThen(Effect.promise(() => released)),
        ),
      ),
    )
    await isLocked
    let waiterDone = false
    const waiter = run(single.batch(setBody(2, "two, after the lock"), [], [])).then((result) => {
      waiterDone = true
      return result
    })
    // Should the read wait behind the batch, the lock goes after two seconds and the test fails.
    const safety = setTimeout(release, 2_000)
    // Sent at once: a read on the batch's connection would be written behind it.
    const start = performance.now()
    const read = await run(single.autocommit({}).query<{ body: string }>(bodyOf))
    expect(performance.now() - start).toBeLessThan(500)
    expect(read.rows).toHaveLength(1)
    // A batch sent once the first has been waiting a while is not written behind it.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const other = await run(single.batch(setBody(1, "one, beside the lock"), [], []))
    expect(other.rowCount).toBe(1)
    expect(performance.now() - start).toBeLessThan(1_000)
    expect(waiterDone).toBe(false)
    clearTimeout(safety)
    release()
    await holder
    expect((await waiter).rowCount).toBe(1)
    const { rows } = await run(single.query("select body from notes where id = 2"))
    expect(rows).toEqual([{ body: "two, after the lock" }])
  })

  it("that fails leaves its connection to a transaction that prepares the same statements", async () => {
    // One connection: the transaction runs where the batch failed.
    const one = await run(Scope.provide(Postgres.make(db.url, 1), scope))
    const settings: Settings = [["app.who", "frank"]]
    // Both statements parse; the insert fails as it runs (1 is taken).
    const error = await failure(one.batch(insertNote(1, "one again"), settings, []))
    expect(error.code).toBe("23505")
    const { rows } = await run(
      one.transaction((tx) =>
        Effect.gen(function* () {
          yield* Postgres.setLocals(tx, settings)
          return yield* tx.query(insertNote(70, "seventy"))
        }),
      ),
    )
    expect(rows).toEqual([{ id: 70, kept: "seventy" }])
  })
})
