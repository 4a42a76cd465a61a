import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Claims } from "../jwt/Jwt.ts"
import { load } from "./load.ts"
import * as MembershipIndex from "./MembershipIndex.ts"
import { type PolicyDatabase, policyDatabase } from "./test/policyDatabase.ts"
import { compile, type Visibility } from "./Visibility.ts"

let db: PolicyDatabase

beforeAll(async () => {
  db = await policyDatabase()
  await db.postgres.pool.query(`
    create table members (team integer, user_id uuid, primary key (team, user_id));
    grant select on members to anon, authenticated, service_role;`)
})
afterAll(() => db.close())

const alice = "6f1c2a4e-0000-4000-8000-000000000001"
const bob = "6f1c2a4e-0000-4000-8000-000000000002"
const claims = (role: string, more: Record<string, unknown> = {}) =>
  ({ role, exp: 4_102_444_800, ...more }) as Claims
const noMembers = { has: () => undefined }

/** Compiles table `todos` as `ddl` leaves it; nothing of the DDL is kept. */
const todos = (ddl: string): Promise<Visibility> =>
  Effect.runPromise(
    db.postgres.transaction((tx) =>
      Effect.gen(function* () {
        yield* tx.query(`savepoint t;
          create table todos (id integer primary key, owner uuid, team integer, is_public boolean, n bigint);
          ${ddl}`)
        const tables = yield* load(tx, ["public"])
        yield* tx.query("rollback to savepoint t")
        return compile(tables.find((t) => t.table === "todos")!)
      }),
    ),
  )

const row = { id: 1, owner: alice, team: 1, is_public: false, n: 5 }

describe("Visibility", () => {
  it("shows every row to a role with SELECT when row security is off, and none to one without", async () => {
    const v = await todos(
      "grant select on todos to authenticated; grant select (id) on todos to service_role",
    )
    expect(v.visible("authenticated", claims("authenticated"), row, noMembers)).toBe(true)
    expect(v.visible("anon", claims("anon"), row, noMembers)).toBe(false)
    // Column grants: which columns a subscriber may read is the database's to say.
    expect(v.visible("service_role", claims("service_role"), row, noMembers)).toBeUndefined()
    expect(v.audienceKey("authenticated", claims("authenticated", { sub: alice }))).toBe('["authenticated"]')
  })

  it("shows nothing when no permissive policy applies, whatever the restrictive ones say", async () => {
    const v = await todos(`grant select on todos to anon, authenticated;
      alter table todos enable row level security;
      create policy r on todos as restrictive using (true);
      create policy mine on todos to authenticated using (owner = auth.uid());
      create policy check_only on todos for all to anon with check (true)`)
    expect(v.visible("anon", claims("anon"), row, noMembers)).toBe(false)
    expect(v.visible("authenticated", claims("authenticated", { sub: alice }), row, noMembers)).toBe(true)
    expect(v.visible("authenticated", claims("authenticated", { sub: bob }), row, noMembers)).toBe(false)
  })

  it("lets service_role (BYPASSRLS) read every row it has SELECT on", async () => {
    const v = await todos(`grant select on todos to service_role;
      alter table todos enable row level security; alter table todos force row level security`)
    expect(v.visible("service_role", claims("service_role"), row, noMembers)).toBe(true)
  })

  it("ANDs restrictive policies with the OR of permissive ones", async () => {
    const v = await todos(`grant select on todos to authenticated;
      alter table todos enable row level security;
      create policy mine on todos using (owner = auth.uid());
      create policy public on todos for select using (is_public);
      create policy team on todos as restrictive using (team = (auth.jwt() ->> 'team')::int)`)
    const see = (r: object, c: Record<string, unknown>) =>
      v.visible("authenticated", claims("authenticated", c), { ...row, ...r }, noMembers)
    expect(see({}, { sub: alice, team: 1 })).toBe(true)
    expect(see({}, { sub: alice, team: 2 })).toBe(false)
    expect(see({}, { sub: alice })).toBe(false)
    expect(see({ is_public: true }, { sub: bob, team: "1" })).toBe(true)
    expect(see({ is_public: null }, { sub: bob, team: 1 })).toBe(false)
  })

  it("groups subscribers by the claims the policies read, and no others", async () => {
    const v = await todos(`grant select on todos to authenticated;
      alter table todos enable row level security;
      create policy p on todos using (owner = auth.uid() or team = (auth.jwt() -> 'app_metadata' ->> 'team')::int)`)
    const key = (c: Record<string, unknown>) => v.audienceKey("authenticated", claims("authenticated", c))
    expect(key({ sub: alice, email: "a@x" })).toBe(key({ sub: alice, email: "b@x" }))
    expect(key({ sub: alice })).not.toBe(key({ sub: bob }))
    expect(key({ sub: alice, app_metadata: { team: 1 } })).not.toBe(
      key({ sub: alice, app_metadata: { team: 2 } }),
    )
    expect(key({ sub: alice, app_metadata: "none" })).toBe(key({ sub: alice }))
  })

  it("leaves a role to the database when a policy for it is not evaluated in memory", async () => {
    const v = await todos(`grant select on todos to anon, authenticated;
      alter table todos enable row level security;
      create policy recent on todos to authenticated using (owner = gen_random_uuid());
      create policy open on todos to anon using (is_public)`)
    expect(v.notInMemory).toEqual([{ policy: "recent", reason: "function gen_random_uuid" }])
    expect(v.visible("authenticated", claims("authenticated"), row, noMembers)).toBeUndefined()
    expect(v.audienceKey("authenticated", claims("authenticated"))).toBeUndefined()
    expect(v.visible("anon", claims("anon"), { ...row, is_public: true }, noMembers)).toBe(true)
    expect(v.visible("some_other_role", claims("some_other_role"), row, noMembers)).toBeUndefined()
  })

  it("answers nothing where Postgres could fail or the row lacks what decides", async () => {
    const v = await todos(`grant select on todos to authenticated;
      alter table todos enable row level security;
      create policy p on todos using (is_public or owner = auth.uid());
      create policy big on todos using (n = 9007199254740993)`)
    const see = (r: Record<string, unknown>, c: Record<string, unknown>) =>
      v.visible("authenticated", claims("authenticated", c), r, noMembers)
    // auth.uid() of a sub that is not a uuid is an error in Postgres.
    expect(see(row, { sub: "not-a-uuid" })).toBeUndefined()
    expect(see({ ...row, n: "9007199254740993" }, { sub: bob })).toBe(true)
    expect(see({ ...row, n: 9007199254740992 }, { sub: bob })).toBeUndefined()
    // A row without `owner` (an unchanged TOASTed column, say) is still decided by is_public.
    expect(see({ id: 1, is_public: true, n: 1 }, { sub: bob })).toBe(true)
    expect(see({ id: 1, is_public: false, n: 1 }, { sub: bob })).toBeUndefined()
  })

  it("reads membership policies from a MembershipIndex", async () => {
    const v = await todos(`grant select on todos to authenticated;
      alter table todos enable row level security;
      create policy team on todos using (team in (select team from members where user_id = auth.uid()))`)
    expect(v.membershipTables).toEqual([
      { schema: "public", table: "members", columns: ["team", "user_id"], key: ["team", "user_id"] },
    ])
    const index = MembershipIndex.make(v.membershipTables)
    const see = (sub: string) => v.visible("authenticated", claims("authenticated", { sub }), row, index)
    expect(see(alice)).toBeUndefined()
    index.load("public", "members", [{ team: 1, user_id: alice }])
    expect([see(alice), see(bob)]).toEqual([true, false])
    index.apply({
      schema: "public",
      table: "members",
      type: "DELETE",
      record: null,
      old_record: { team: 1, user_id: alice },
    })
    expect(see(alice)).toBe(false)
  })

  it("files audiences by the claim each policy equates with a column, and routes rows to them", async () => {
    const v = await todos(`grant select on todos to authenticated, anon;
      alter table todos enable row level security;
      create policy mine on todos to authenticated using (owner = auth.uid() and n > 0);
      create policy team on todos to authenticated using ((auth.jwt() ->> 'team')::bigint = team);
      create policy open on todos to anon using (is_public or n = 1)`)
    const slots = (c: Record<string, unknown>) => v.slotsOf("authenticated", claims("authenticated", c))
    const reached = v.slotsFor(row)!
    const meets = (c: Record<string, unknown>) => slots(c)!.some((s) => reached.includes(s))
    // Alice owns the row; bob is in its team, whether the claim says 1 or "01" (both cast to 1).
    expect([meets({ sub: alice }), meets({ sub: bob, team: 1 }), meets({ sub: bob, team: "01" })]).toEqual([
      true,
      true,
      true,
    ])
    expect(meets({ sub: bob, team: 2 })).toBe(false)
    // No team claim: that policy lets this audience see nothing, and files it nowhere.
    expect(slots({ sub: bob })).toHaveLength(1)
    // A claim Postgres might fail to cast, and an OR at the top of a policy: asked about every row.
    expect(slots({ sub: "not-a-uuid" })).toBeUndefined()
    expect(v.slotsOf("anon", claims("anon"))).toBeUndefined()
    // No SELECT: filed nowhere. A row lacking a routed column: every audience is asked.
    expect(v.slotsOf("service_role", claims("service_role"))).toEqual([])
    expect(v.slotsFor({ id: 1, team: 1 })).toBeUndefined()
    expect(v.slotsFor({ ...row, owner: null, team: null })).toEqual([])
  })
})
