import { Effect } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTestDatabase, type TestDatabase } from "../../test/support/database.ts"
import { migrate } from "./Migrations.ts"

describe("platform migrations", () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(() => db.drop())

  it("apply once even when several processes start together", async () => {
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => Effect.runPromise(migrate({ url: db.url }))),
    )
    const applied = runs.flat()
    expect(applied).toEqual(["event_log", "auth"])
    const client = new pg.Client(db.url)
    await client.connect()
    const { rows } = await client.query(
      "select migration_id, name from reactor.migrations order by migration_id",
    )
    expect(rows).toEqual([
      { migration_id: 1, name: "event_log" },
      { migration_id: 2, name: "auth" },
    ])
    const roles = await client.query(
      "select rolname from pg_roles where rolname in ('anon','authenticated','service_role') order by 1",
    )
    expect(roles.rows.map((r) => r.rolname)).toEqual(["anon", "authenticated", "service_role"])
    await client.end()
  })

  it("does nothing when the database is current", async () => {
    expect(await Effect.runPromise(migrate({ url: db.url }))).toEqual([])
  })

  it("reports a database it cannot reach as a MigrationError", async () => {
    const error = await Effect.runPromise(
      Effect.flip(migrate({ url: "postgres://nobody:x@127.0.0.1:1/none" })),
    )
    expect(error._tag).toBe("MigrationError")
  })
})
