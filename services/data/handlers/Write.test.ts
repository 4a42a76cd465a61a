// The data worker's write handler against real Postgres: an insert commits with its reply kept in
// one round trip, a redelivery replies the same without writing again, and the writes whose
// result can still fail them run as a transaction the worker ends itself.
import { randomUUID } from "node:crypto"
import { Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HandlerContext, RpcHandler } from "../../../bus/Bus.ts"
import type * as Data from "../../../contracts/data.ts"
import { migrate } from "../../../platform/migrate/Migrations.ts"
import * as Postgres from "../../../platform/postgres/Postgres.ts"
import { createTestDatabase, type TestDatabase } from "../../../test/support/database.ts"
import { SchemaCatalog } from "../SchemaCatalog.ts"
import { load } from "../schema/SchemaCache.ts"
import { Write } from "./Write.ts"

let db: TestDatabase
let scope: Scope.Closeable
let postgres: Postgres.PostgresShape
let write: RpcHandler

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const sql = async (text: string, values: ReadonlyArray<unknown> = []) =>
  (await postgres.pool.query(text, values as Array<unknown>)).rows

beforeAll(async () => {
  db = await createTestDatabase()
  await run(migrate({ url: db.url }))
  scope = Effect.runSync(Scope.make())
  postgres = await run(Scope.provide(Postgres.make(db.url, 4), scope))
  await sql(`
    create table public.notes (id int primary key, body text not null);
    grant select, insert on public.notes to anon;
    create table public.stamped (id int primary key, body text not null);
    grant select, insert on public.stamped to anon;
    create function public.stamp() returns trigger language plpgsql as $$
    begin
      perform set_config('response.status', new.body, true);
      return new;
    end $$;
    create trigger stamp before insert on public.stamped for each row execute function public.stamp();
    select reactor.capture_schemas(array['public']);`)
  const cache = await run(load(postgres, ["public"]))
  write = await run(
    Write.pipe(
      Effect.provide(
        Layer.mergeAll(
          Layer.succeed(Postgres.Postgres, postgres),
          Layer.succeed(SchemaCatalog, { current: () => cache, reload: Effect.void }),
        ),
      ),
    ),
  )
})
afterAll(async () => {
  await run(Scope.close(scope, Exit.void))
  await db.drop()
})

const insert = (table: string, body: unknown, prefer: string | null = null): Data.RestRequest => ({
  role: "anon",
  claims: JSON.stringify({ role: "anon" }),
  method: "POST",
  schema: "public",
  target: { kind: "table", name: table },
  query: [],
  prefer,
  accept: null,
  range: null,
  body: JSON.stringify(body),
})

const delivered = (key: string, delivery = 1): HandlerContext => ({
  meta: { requestId: randomUUID() },
  idempotencyKey: key,
  delivery,
  mayHaveRun: delivery > 1,
})

const handle = (payload: Data.RestRequest, context: HandlerContext) =>
  run(Effect.exit(write.handle(payload as never, context) as Effect.Effect<Data.RestReply, Data.RestError>))

const kept = async (key: string) =>
  (await sql("select outcome from reactor.command_log where idempotency_key = $1", [key]))[0]?.["outcome"]

describe("a table insert", () => {
  it("commits with its reply kept, and a redelivery replies the same without writing again", async () => {
    const key = randomUUID()
    const payload = insert("notes", { id: 1, body: "first" }, "return=representation")
    const first = await handle(payload, delivered(key))
    expect(first).toEqual(
      Exit.succeed({
        status: 201,
        headers: {
          "content-range": "*/*",
          "content-type": "application/json; charset=utf-8",
          "preference-applied": "return=representation",
        },
        body: '[{"id":1,"body":"first"}]',
      }),
    )
    expect(await kept(key)).toBe("row")
    // The worker died before acknowledging: the bus delivers the command again.
    expect(await handle(payload, delivered(key, 2))).toEqual(first)
    expect(await sql("select id, body from public.notes")).toEqual([{ id: 1, body: "first" }])
    const changes = await sql(
      "select count(*)::int as n from reactor.events where data->>'table' = 'notes' and type = 'data.RowChanged'",
    )
    expect(changes).toEqual([{ n: 1 }])
  })

  it("whose key is already kept replies what was kept and is rolled back", async () => {
    // Two first deliveries of one key do not happen; were they to, the command log's key is the
    // backstop: the second's batch fails on it, and the write is undone.
    const key = randomUUID()
    const first = await handle(insert("notes", { id: 2, body: "once" }), delivered(key))
    expect(Exit.isSuccess(first)).toBe(true)
    const again = await handle(insert("notes", { id: 3, body: "twice" }), delivered(key))
    expect(again).toEqual(first)
    expect(await sql("select id from public.notes where id in (2, 3)")).toEqual([{ id: 2 }])
  })

  it("that breaks a constraint fails as PostgREST says and keeps nothing", async () => {
    const key = randomUUID()
    const exit = await handle(insert("notes", { id: 1, body: "again" }), delivered(key))
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("23505")
    expect(await kept(key)).toBeUndefined()
  })

  it("whose trigger sets the response status runs as a transaction, and answers with it", async () => {
    const key = randomUUID()
    const exit = await handle(insert("stamped", { id: 1, body: "202" }), delivered(key))
    expect(Exit.isSuccess(exit) && exit.value.status).toBe(202)
    expect(await kept(key)).toBe("ok")
  })

  it("whose trigger sets an invalid response status is rolled back", async () => {
    const key = randomUUID()
    const exit = await handle(insert("stamped", { id: 2, body: "not a status" }), delivered(key))
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("PGRST112")
    expect(await sql("select count(*)::int as n from public.stamped where id = 2")).toEqual([{ n: 0 }])
    expect(await kept(key)).toBeUndefined()
  })
})
