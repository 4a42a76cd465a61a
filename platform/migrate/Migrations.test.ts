import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTestDatabase, type TestDatabase } from "../../test/support/database.ts"
import { platformMigrations } from "../paths.ts"
import { migrate, migrateApp } from "./Migrations.ts"

/** The platform's migrations in order, by name: `00003_data` is `data`. */
const migrationNames = readdirSync(platformMigrations)
  .sort()
  .map((folder) => folder.replace(/^\d+_/, ""))

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
    expect(applied).toEqual(migrationNames)
    expect(migrationNames.slice(0, 5)).toEqual(["event_log", "auth", "data", "storage", "data_batch"])
    const client = new pg.Client(db.url)
    await client.connect()
    const { rows } = await client.query(
      "select migration_id, name from reactor.migrations order by migration_id",
    )
    expect(rows).toEqual(migrationNames.map((name, i) => ({ migration_id: i + 1, name })))
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

describe("the app's own migrations", () => {
  let db: TestDatabase
  let dir: string
  beforeAll(async () => {
    db = await createTestDatabase()
    await Effect.runPromise(migrate({ url: db.url }))
    dir = mkdtempSync(join(tmpdir(), "app-migrations-"))
    mkdirSync(join(dir, "00001_todos"))
    writeFileSync(
      join(dir, "00001_todos", "index.sql"),
      "create table todos (id serial primary key, title text not null);",
    )
    writeFileSync(
      join(dir, "00002_done.sql"),
      "alter table todos add column done boolean not null default false;",
    )
  })
  afterAll(async () => {
    await db.drop()
    rmSync(dir, { recursive: true, force: true })
  })

  const query = async (text: string) => {
    const client = new pg.Client(db.url)
    await client.connect()
    try {
      return (await client.query(text)).rows
    } finally {
      await client.end()
    }
  }

  it("create the app's tables where its SQL says, tracked apart from Reactor's", async () => {
    expect(await Effect.runPromise(migrateApp({ url: db.url, dir }))).toEqual(["todos", "done"])
    expect(
      await query(
        "select column_name from information_schema.columns where table_schema = 'public' and table_name = 'todos' order by 1",
      ),
    ).toEqual([{ column_name: "done" }, { column_name: "id" }, { column_name: "title" }])
    expect(await query("select migration_id, name from reactor_app.migrations order by 1")).toEqual([
      { migration_id: 1, name: "todos" },
      { migration_id: 2, name: "done" },
    ])
    expect((await query("select count(*)::int as n from reactor.migrations"))[0]).toEqual({
      n: migrationNames.length,
    })
  })

  it("apply only what is new", async () => {
    expect(await Effect.runPromise(migrateApp({ url: db.url, dir }))).toEqual([])
    writeFileSync(join(dir, "00003_tags.sql"), "create table tags (name text primary key);")
    expect(await Effect.runPromise(migrateApp({ url: db.url, dir }))).toEqual(["tags"])
  })

  it("run a Supabase project's `alter publication supabase_realtime add table`", async () => {
    writeFileSync(join(dir, "00004_realtime.sql"), "alter publication supabase_realtime add table tags;")
    expect(await Effect.runPromise(migrateApp({ url: db.url, dir }))).toEqual(["realtime"])
  })

  it("run a Supabase project's extensions, made in the extensions schema and found on the path", async () => {
    writeFileSync(
      join(dir, "00005_uuids.sql"),
      'create extension if not exists "uuid-ossp" with schema extensions; create table ids (id uuid default uuid_generate_v4());',
    )
    expect(await Effect.runPromise(migrateApp({ url: db.url, dir }))).toEqual(["uuids"])
    await query("insert into ids default values")
    expect(await query("select count(*)::int as n from ids where id is not null")).toEqual([{ n: 1 }])
    // Every session finds them too, as on Supabase.
    expect(await query("select uuid_generate_v4() is not null as found")).toEqual([{ found: true }])
  })

  it("leave the database as it was when one fails, and say why", async () => {
    writeFileSync(join(dir, "00006_broken.sql"), "create table half (id int); select no_such_function();")
    const error = await Effect.runPromise(Effect.flip(migrateApp({ url: db.url, dir })))
    expect(error.message).toContain("no_such_function")
    expect(await query("select to_regclass('public.half') as t")).toEqual([{ t: null }])
  })
})
