// Seeded random tables, policies and subscribers for the property test of in-memory visibility.

import type { Random } from "../../../test/support/random.ts"

export { type Random, random } from "../../../test/support/random.ts"

export const users = [
  "6f1c2a4e-0000-4000-8000-000000000001",
  "6f1c2a4e-0000-4000-8000-000000000002",
  "6f1c2a4e-0000-4000-8000-000000000003",
  "6f1c2a4e-0000-4000-8000-00000000000a",
]

export const tableSql = (schema: string) => `
create schema ${schema};
grant usage on schema ${schema} to anon, authenticated, service_role;
create table ${schema}.members (team integer not null, user_id uuid not null, role text, primary key (team, user_id));
grant select on ${schema}.members to anon, authenticated, service_role;
create table ${schema}.items (
  id integer primary key, owner uuid, team integer, status text, is_public boolean,
  score bigint, label varchar(20), amount numeric
);`

const literal = (value: string | number | boolean | null) =>
  value === null ? "null" : typeof value === "string" ? `'${value.replaceAll("'", "''")}'` : String(value)

const orNull = <A>(r: Random, value: A, p = 0.2): A | null => (r.chance(p) ? null : value)

/** Statements replacing the rows of items and members. */
export const rowsSql = (r: Random): string => {
  const items = Array.from({ length: r.int(8, 16) }, (_, i) =>
    [
      i + 1,
      orNull(r, r.pick(users)),
      orNull(r, r.int(1, 4)),
      orNull(r, r.pick(["a", "b", "c", "it's"])),
      orNull(r, r.chance(0.5)),
      orNull(r, r.chance(0.1) ? 10_000_000_000 : r.int(-3, 10)),
      orNull(r, r.pick(["x", "y"])),
      orNull(r, r.pick([1, 2, 3, 2.5])),
    ]
      .map(literal)
      .join(", "),
  )
  const members = users.flatMap((user) =>
    [1, 2, 3, 4]
      .filter(() => r.chance(0.3))
      .map((team) => `${team}, '${user}', ${literal(orNull(r, r.pick(["admin", "member"]), 0.3))}`),
  )
  return [
    "delete from items; delete from members;",
    `insert into items values (${items.join("), (")});`,
    members.length > 0 ? `insert into members values (${members.join("), (")});` : "",
  ].join("\n")
}

export interface Expr {
  readonly sql: string
  /** Of the grammar evaluated in memory (README): compile must not send it to the database. */
  readonly inMemory: boolean
}

const atom = (sql: string, inMemory = true): Expr => ({ sql, inMemory })

const ops = ["=", "<>", "<", "<=", ">", ">="]

const comparisons = (r: Random): Array<() => Expr> => [
  () => atom("owner = auth.uid()"),
  () => atom("owner = (auth.jwt() ->> 'sub')::uuid"),
  () => atom("team = (auth.jwt() ->> 'team')::int"),
  () => atom("team::text = auth.jwt() ->> 'team'"),
  () => atom("team = (auth.jwt() -> 'app_metadata' ->> 'team_id')::integer"),
  () => atom("status = auth.jwt() ->> 's'"),
  () => atom("status = current_setting('request.jwt.claims', true)::jsonb ->> 's'"),
  () => atom(`team ${r.pick(ops)} ${r.int(0, 5)}`),
  () => atom(`score ${r.pick(ops)} ${r.pick([-1, 3, 5_000_000_000])}`),
  () => atom(`${r.int(0, 5)} ${r.pick(ops)} team`),
  () => atom(`status ${r.pick(["=", "<>"])} ${literal(r.pick(["a", "b", "it's"]))}`),
  () => atom(`owner ${r.pick(["=", "<>", "<"])} '${r.pick(users)}'`),
  () => atom("is_public"),
  () => atom(`is_public = ${r.pick(["true", "false"])}`),
  () => atom(`is_public is ${r.pick(["", "not "])}${r.pick(["true", "false", "null"])}`),
  () => atom(`${r.pick(["status", "owner", "team", "score"])} is ${r.pick(["", "not "])}null`),
  () => atom(`team ${r.pick(["in", "not in"])} (${r.pick(["1, 2", "3", "2, null", "1, 4"])})`),
  () => atom("status = any(array['a', 'b'])"),
  () => atom("status = any(array['a', auth.jwt() ->> 's'])"),
  () => atom(`auth.role() = ${literal(r.pick(["authenticated", "anon"]))}`),
  () => atom(`(auth.jwt() ->> 'role') = ${literal(r.pick(["authenticated", "anon"]))}`),
  () => atom("(auth.jwt() ->> 'b')::boolean"),
  () => atom("auth.email() = 'a@x.test'"),
  () => atom(`auth.uid() is ${r.pick(["", "not "])}null`),
  () => atom(`label = ${literal(r.pick(["x", "y"]))}`),
  () => atom(`amount ${r.pick(ops)} ${r.pick([1, 2, 2.5])}`),
  () => atom("score::numeric > 2.5"),
  () => atom("team::bigint = score"),
  () => atom("(owner = (select auth.uid()))"),
]

const memberships = (r: Random): Array<() => string> => [
  () => "team in (select team from members where user_id = auth.uid())",
  () => "exists (select 1 from members m where m.team = items.team and m.user_id = auth.uid())",
  () =>
    `exists (select 1 from members m where m.team = items.team and m.user_id = auth.uid() and m.role = ${literal(r.pick(["admin", "member"]))})`,
  () => "owner in (select user_id from members where team = (auth.jwt() ->> 'team')::int)",
  () => "exists (select 1 from members where user_id = auth.uid())",
]

/** Forms outside the grammar: the policy must be left to the database. */
const outside = (r: Random): Array<() => Expr> => [
  () => atom(`status like ${literal(r.pick(["a%", "%"]))}`, false),
  () => atom("length(status) > 1", false),
  () => atom(`status ${r.pick(["<", ">="])} 'b'`, false),
  () => atom("team + 1 > 2", false),
  () => atom("owner::text like '6f%'", false),
]

/**
 * A random condition. `positive`: only AND and OR lie above it, where membership tests are
 * evaluated in memory; under NOT they fall back.
 */
export const condition = (r: Random, depth: number, positive = true): Expr => {
  if (depth === 0 || r.chance(0.35)) {
    const roll = r.next()
    if (roll < 0.15) {
      const sql = r.pick(memberships(r))()
      return { sql, inMemory: positive }
    }
    if (roll < 0.18) return r.pick(outside(r))()
    return r.pick(comparisons(r))()
  }
  const roll = r.next()
  if (roll < 0.15) {
    const inner = condition(r, depth - 1, false)
    return { sql: `not (${inner.sql})`, inMemory: inner.inMemory }
  }
  if (roll < 0.2) {
    const inner = condition(r, depth - 1, false)
    return {
      sql: `(${inner.sql}) is ${r.pick(["", "not "])}${r.pick(["true", "false"])}`,
      inMemory: inner.inMemory,
    }
  }
  const items = Array.from({ length: r.int(2, 3) }, () => condition(r, depth - 1, positive))
  return {
    sql: items.map((i) => `(${i.sql})`).join(roll < 0.6 ? " and " : " or "),
    inMemory: items.every((i) => i.inMemory),
  }
}

export interface PolicySpec {
  readonly name: string
  readonly sql: string
  /** Whether reads under some role go to the database because of this policy. */
  readonly inMemory: boolean
}

export const policies = (r: Random): Array<PolicySpec> =>
  Array.from({ length: r.int(1, 3) }, (_, i) => {
    const name = `p${i}`
    const as = r.chance(0.75) ? "permissive" : "restrictive"
    const to = r.pick(["public", "public", "authenticated", "anon", "authenticated, anon", "service_role"])
    const kind = r.next()
    if (kind < 0.05)
      return {
        name,
        sql: `create policy ${name} on items as ${as} for insert to ${to} with check (true)`,
        inMemory: true,
      }
    if (kind < 0.1)
      return {
        name,
        sql: `create policy ${name} on items as ${as} for all to ${to} with check (true)`,
        inMemory: true,
      }
    const using = condition(r, r.int(0, 3))
    const command = r.pick(["all", "select"])
    return {
      name,
      sql: `create policy ${name} on items as ${as} for ${command} to ${to} using (${using.sql})`,
      inMemory: using.inMemory,
    }
  })

/** The claims of a subscriber; values come from small pools so that audiences repeat. */
export const claims = (r: Random): Record<string, unknown> => {
  const role = r.pick(["anon", "authenticated", "authenticated", "authenticated", "service_role"])
  const claims: Record<string, unknown> = { role, exp: 4_102_444_800 }
  if (role !== "anon" && r.chance(0.85)) claims["sub"] = r.pick(users)
  if (r.chance(0.6)) claims["team"] = r.chance(0.7) ? r.int(1, 4) : String(r.int(1, 4))
  if (r.chance(0.5)) claims["app_metadata"] = r.chance(0.8) ? { team_id: r.int(1, 4) } : {}
  if (r.chance(0.5)) claims["s"] = r.pick(["a", "b", "it's"])
  if (r.chance(0.5)) claims["b"] = r.pick([true, false, "true", "f", null])
  if (r.chance(0.3)) claims["email"] = r.pick(["a@x.test", ""])
  return claims
}
