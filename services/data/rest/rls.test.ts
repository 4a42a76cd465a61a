import { describe, expect, it } from "vitest"
import { call, json, useDatabase } from "./test/fixture.ts"

const db = useDatabase(`
do $$ begin create role anon nologin; exception when others then null; end $$;
do $$ begin create role authenticated nologin; exception when others then null; end $$;
create table todos (id int primary key, owner text not null, task text);
alter table todos enable row level security;
create policy own_rows on todos for select to authenticated
  using (owner = current_setting('request.jwt.claims', true)::json->>'sub');
create policy own_inserts on todos for insert to authenticated
  with check (owner = current_setting('request.jwt.claims', true)::json->>'sub');
create table secrets (id int primary key);
create table drop_box (id int primary key, note text);
alter table drop_box enable row level security;
create policy anyone_drops on drop_box for insert to anon with check (true);
grant usage on schema public to anon, authenticated;
grant select, insert on todos to authenticated;
grant insert on drop_box to anon;
insert into todos values (1, 'ann', 'write tests'), (2, 'bob', 'review'), (3, 'ann', 'ship');
`)

const ann = { role: "authenticated", claims: { role: "authenticated", sub: "ann" } }

describe("row level security", () => {
  it("shows a user only the rows their policy allows", async () => {
    const response = await call(db, "todos", { ...ann, query: "select=id&order=id", prefer: "count=exact" })
    expect(json(response)).toEqual([{ id: 1 }, { id: 3 }])
    expect(response.headers["content-range"]).toBe("0-1/2")
  })

  it("answers 401 to anon and 403 to a user without the privilege", async () => {
    const anon = await call(db, "todos", { role: "anon" })
    expect(anon.status).toBe(401)
    expect(json(anon)).toMatchObject({ code: "42501", message: "permission denied for table todos" })
    expect(anon.headers["www-authenticate"]).toBe("Bearer")
    const user = await call(db, "secrets", ann)
    expect(user.status).toBe(403)
  })

  it("refuses a row the policy does not allow", async () => {
    const response = await call(db, "todos", {
      ...ann,
      method: "POST",
      body: { id: 4, owner: "bob", task: "x" },
    })
    expect(response.status).toBe(403)
    expect(json(response)).toMatchObject({
      code: "42501",
      message: 'new row violates row-level security policy for table "todos"',
    })
  })

  it("inserts with return=minimal where the role may insert but not read", async () => {
    const minimal = await call(db, "drop_box", { role: "anon", method: "POST", body: { id: 1, note: "hi" } })
    expect(minimal.status).toBe(201)
    const representation = await call(db, "drop_box", {
      role: "anon",
      method: "POST",
      body: { id: 2, note: "hi" },
      prefer: "return=representation",
    })
    expect(representation.status).toBe(401)
  })

  it("finds the role itself when the caller does not pass it", async () => {
    expect((await call(db, "secrets", { role: "anon", hideRole: true })).status).toBe(401)
    expect((await call(db, "secrets", { ...ann, hideRole: true })).status).toBe(403)
  })
})
