import { randomUUID } from "node:crypto"
import type { SupabaseClient } from "@supabase/supabase-js"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { appMigrations, eventually, signedIn } from "../support/app.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"
import { supabaseClient } from "../support/supabase.ts"

describe.each(topologies)("Data through supabase-js (%s)", (topology) => {
  let reactor: RunningReactor
  let admin: pg.Client
  let ada: { client: SupabaseClient; userId: string }
  let bob: { client: SupabaseClient; userId: string }
  const anon = () => supabaseClient(reactor.url, reactor.anonKey)
  const service = () => supabaseClient(reactor.url, reactor.serviceKey)
  const rest = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${reactor.url}/rest/v1${path}`, {
      ...init,
      headers: { apikey: reactor.anonKey, "content-type": "application/json", ...init.headers },
    })

  beforeAll(async () => {
    reactor = await startReactor(topology, { env: { REACTOR_DATABASE_APP_MIGRATIONS: appMigrations } })
    admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
    ada = await signedIn(reactor)
    bob = await signedIn(reactor)
    const { error } = await service()
      .from("teams")
      .insert([{ name: "red" }, { name: "blue" }])
    expect(error).toBeNull()
  }, 90_000)
  afterAll(async () => {
    await admin?.end()
    await reactor?.stop()
  })

  describe("reading", () => {
    it("serves a table the anon role may read", async () => {
      const { data, error, status } = await anon().from("teams").select("name").order("name")
      expect(error).toBeNull()
      expect(status).toBe(200)
      expect(data).toEqual([{ name: "blue" }, { name: "red" }])
    })

    it("counts exactly and pages with Content-Range", async () => {
      const { data, count, error } = await anon()
        .from("teams")
        .select("id, name", { count: "exact" })
        .order("name", { ascending: false })
        .range(0, 0)
      expect(error).toBeNull()
      expect(count).toBe(2)
      expect(data).toEqual([expect.objectContaining({ name: "red" })])
    })

    it("answers .single() on no rows with PGRST116", async () => {
      const { data, error, status } = await anon().from("teams").select().eq("name", "green").single()
      expect(data).toBeNull()
      expect(status).toBe(406)
      expect(error).toMatchObject({ code: "PGRST116" })
    })
  })

  describe("row-level security", () => {
    it("lets each user see and change only their own rows", async () => {
      const inserted = await ada.client
        .from("todos")
        .insert({ title: "ada's", priority: 1 })
        .select()
        .single()
      expect(inserted.error).toBeNull()
      expect(inserted.data).toMatchObject({ title: "ada's", owner: ada.userId, done: false })
      expect((await bob.client.from("todos").select().eq("id", inserted.data.id)).data).toEqual([])
      const stolen = await bob.client.from("todos").update({ done: true }).eq("id", inserted.data.id).select()
      expect(stolen.data).toEqual([])
      const own = await ada.client
        .from("todos")
        .update({ done: true })
        .eq("id", inserted.data.id)
        .select("done")
      expect(own.data).toEqual([{ done: true }])
    })

    it("refuses a write the policy does not allow, in PostgREST's shape", async () => {
      const { error, status } = await bob.client.from("todos").insert({ title: "forged", owner: ada.userId })
      expect(status).toBe(403)
      expect(error).toMatchObject({ code: "42501" })
    })

    it("keeps anon out of a table it has no grant on", async () => {
      const { error, status } = await anon().from("todos").select()
      expect(status).toBe(401)
      expect(error).toMatchObject({ code: "42501" })
    })
  })

  describe("writing", () => {
    it("inserts in bulk, filters, updates and deletes", async () => {
      const titles = ["one", "two", "three"].map((t) => `${t}-${randomUUID().slice(0, 4)}`)
      const { error } = await ada.client
        .from("todos")
        .insert(titles.map((title, i) => ({ title, priority: i })))
      expect(error).toBeNull()
      const high = await ada.client
        .from("todos")
        .select("title")
        .in("title", titles)
        .gte("priority", 1)
        .order("priority")
      expect(high.data).toEqual([{ title: titles[1] }, { title: titles[2] }])
      const removed = await ada.client.from("todos").delete().in("title", titles).select("title")
      expect(removed.data).toHaveLength(3)
    })

    it("upserts on a conflict column", async () => {
      const first = await anon().from("labels").upsert({ id: "urgent", color: "red" }).select()
      expect(first.error).toBeNull()
      const second = await anon()
        .from("labels")
        .upsert({ id: "urgent", color: "orange" }, { onConflict: "id" })
        .select()
      expect(second.data).toEqual([{ id: "urgent", color: "orange" }])
    })

    it("answers a unique violation with 409 and the SQLSTATE", async () => {
      const { error, status } = await service().from("teams").insert({ name: "red" })
      expect(status).toBe(409)
      expect(error).toMatchObject({ code: "23505" })
    })

    it("applies a write once when the client retries it with the same Idempotency-Key", async () => {
      const key = randomUUID()
      const label = `once-${key.slice(0, 8)}`
      const send = () =>
        rest("/labels", {
          method: "POST",
          headers: { "idempotency-key": key, prefer: "return=representation" },
          body: JSON.stringify({ id: label, color: "green" }),
        })
      const [a, b] = [await send(), await send()]
      expect(a.status).toBe(201)
      expect(b.status).toBe(201)
      expect(await b.json()).toEqual([{ id: label, color: "green" }])
      expect(
        (await admin.query("select count(*)::int as n from labels where id = $1", [label])).rows[0].n,
      ).toBe(1)
    })
  })

  describe("embedding and functions", () => {
    it("embeds a many-to-one relation", async () => {
      const red = (await anon().from("teams").select("id").eq("name", "red").single()).data!
      const made = await ada.client
        .from("todos")
        .insert({ title: "team work", team_id: red.id })
        .select("id")
        .single()
      const { data, error } = await ada.client
        .from("todos")
        .select("title, teams(name)")
        .eq("id", made.data!.id)
        .single()
      expect(error).toBeNull()
      expect(data).toEqual({ title: "team work", teams: { name: "red" } })
    })

    it("calls a function by POST and by GET", async () => {
      expect((await anon().rpc("add_numbers", { a: 2, b: 3 })).data).toBe(5)
      expect((await anon().rpc("add_numbers", { a: 4, b: 3 }, { get: true })).data).toBe(7)
    })
  })

  describe("bad requests", () => {
    it("answers an unknown table with PGRST205 and 404", async () => {
      const { error, status } = await anon().from("nope").select()
      expect(status).toBe(404)
      expect(error).toMatchObject({ code: "PGRST205" })
    })

    it("answers an unknown column and a malformed filter with 400", async () => {
      const unknown = await anon().from("teams").select("nope")
      expect(unknown.status).toBe(400)
      expect(unknown.error).toMatchObject({ code: "42703" })
      const malformed = await rest("/teams?id=zz.1")
      expect(malformed.status).toBe(400)
      expect(await malformed.json()).toMatchObject({ code: "PGRST100" })
    })

    it("answers a schema that is not exposed with PGRST106", async () => {
      const response = await rest("/teams", { headers: { "accept-profile": "reactor" } })
      expect(response.status).toBe(406)
      expect(await response.json()).toMatchObject({ code: "PGRST106" })
    })

    it("answers a bad token with 401 and a missing apikey as the gateway does", async () => {
      const bad = await rest("/teams", { headers: { authorization: "Bearer nope" } })
      expect(bad.status).toBe(401)
      expect(await bad.json()).toMatchObject({ code: "PGRST301" })
      const none = await fetch(`${reactor.url}/rest/v1/teams`)
      expect(none.status).toBe(401)
    })
  })

  describe("change capture", () => {
    it("records every committed change as an event, whoever wrote it, and nothing for a rollback", async () => {
      const label = `sql-${randomUUID().slice(0, 8)}`
      await admin.query("insert into labels (id, color) values ($1, 'blue')", [label])
      await admin.query("begin")
      await admin.query("insert into labels (id, color) values ($1, 'gone')", [`${label}-rolled-back`])
      await admin.query("rollback")
      await anon().from("labels").update({ color: "teal" }).eq("id", label)
      await anon().from("labels").delete().eq("id", label)
      const { rows } = await admin.query(
        `select data->>'type' as type, data->'record'->>'color' as color, data->'old_record'->>'color' as old
         from reactor.events where type = 'data.RowChanged' and data->>'table' = 'labels'
           and coalesce(data->'record'->>'id', data->'old_record'->>'id') like $1 || '%'
         order by position`,
        [label],
      )
      expect(rows).toEqual([
        { type: "INSERT", color: "blue", old: null },
        { type: "UPDATE", color: "teal", old: "blue" },
        { type: "DELETE", color: null, old: "teal" },
      ])
    })

    it("serves a table created by plain SQL once Postgres announces the schema change", async () => {
      const table = `t_${randomUUID().slice(0, 8)}`
      await admin.query(`create table public.${table} (id int primary key); grant select on ${table} to anon`)
      await admin.query(`insert into public.${table} values (1)`)
      await eventually(
        async () => (await rest(`/${table}`)).status === 200,
        "the new table to be served",
        5_000,
      )
      expect(await (await rest(`/${table}`)).json()).toEqual([{ id: 1 }])
      const captured = await admin.query(
        "select count(*)::int as n from reactor.events where data->>'table' = $1",
        [table],
      )
      expect(captured.rows[0].n).toBe(1)
    })

    it("gives each change the columns its table had when it was made, across ALTER TABLE", async () => {
      const table = `t_${randomUUID().slice(0, 8)}`
      await admin.query(`create table public.${table} (id int primary key, note text)`)
      await admin.query(`insert into public.${table} values (1, 'a')`)
      await admin.query(`alter table public.${table} add column size int`)
      await admin.query(`insert into public.${table} values (2, 'b', 3)`)
      // In one transaction: the statement after the ALTER already sees the new columns.
      await admin.query(
        `begin;
         alter table public.${table} rename column note to label;
         alter table public.${table} alter column size type bigint;
         update public.${table} set label = 'c' where id = 2;
         commit`,
      )
      await admin.query(`alter table public.${table} drop column size`)
      await admin.query(`delete from public.${table} where id = 1`)
      const { rows } = await admin.query(
        `select data->>'type' as type, data->'columns' as columns from reactor.events
         where data->>'table' = $1 order by position`,
        [table],
      )
      const id = { name: "id", type: "int4" }
      expect(rows).toEqual([
        { type: "INSERT", columns: [id, { name: "note", type: "text" }] },
        { type: "INSERT", columns: [id, { name: "note", type: "text" }, { name: "size", type: "int4" }] },
        { type: "UPDATE", columns: [id, { name: "label", type: "text" }, { name: "size", type: "int8" }] },
        { type: "DELETE", columns: [id, { name: "label", type: "text" }] },
      ])
    })
  })
})
