import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { load, type TablePolicies } from "./load.ts"
import { parse } from "./parse.ts"
import { type Node, resolve } from "./resolve.ts"
import { type PolicyDatabase, policyDatabase } from "./test/policyDatabase.ts"

let db: PolicyDatabase

beforeAll(async () => {
  db = await policyDatabase()
  await db.postgres.pool.query(`
    create table members (team_id integer, user_id uuid, role text, primary key (team_id, user_id));
    create table todos (
      id integer primary key, user_id uuid, owner uuid, team_id integer, is_public boolean,
      status text, title varchar(40), n bigint, amt numeric(10, 2), ts timestamptz, data jsonb
    );`)
})
afterAll(() => db.close())

/** The table as load() reads it back with one policy per USING expression, named p0, p1, ... */
const withPolicies = (usings: ReadonlyArray<string>): Promise<TablePolicies> =>
  Effect.runPromise(
    db.postgres.transaction((tx) =>
      Effect.gen(function* () {
        yield* tx.query("savepoint policies")
        for (const [i, using] of usings.entries())
          yield* tx.query(`create policy p${i} on todos using (${using})`)
        const tables = yield* load(tx, ["public"])
        // Nothing of the test's policies is kept: each test sees only its own.
        yield* tx.query("rollback to savepoint policies")
        return tables.find((t) => t.table === "todos")!
      }),
    ),
  )

const show = (node: Node): string => {
  switch (node.kind) {
    case "column":
      return node.name
    case "const":
      return `${typeof node.value === "string" ? `'${node.value}'` : String(node.value)}::${node.type}`
    case "claim":
      return `${node.emptyIsNull ? "auth" : "jwt"}(${node.path.join(".")})`
    case "cast":
      return `${node.type}(${show(node.expr)})`
    case "compare":
      return `(${show(node.left)} ${node.op} ${show(node.right)})`
    case "quantified":
      return `(${show(node.left)} ${node.op} ${node.all ? "ALL" : "ANY"} [${node.items.map(show).join(", ")}])`
    case "is":
      return `(${show(node.expr)} IS ${node.negated ? "NOT " : ""}${node.test.toUpperCase()})`
    case "and":
    case "or":
      return `(${node.items.map(show).join(` ${node.kind.toUpperCase()} `)})`
    case "not":
      return `(NOT ${show(node.expr)})`
    case "member":
      return `member ${node.schema}.${node.table} {${node.conditions.map((c) => `${c.column}: ${show(c.value)}`).join(", ")}}`
  }
}

/** What Postgres prints for each USING expression, and what it is read as (or why it falls back). */
const read = async (usings: ReadonlyArray<string>) => {
  const table = await withPolicies(usings)
  const byNumber = [...table.policies].sort((a, b) => Number(a.name.slice(1)) - Number(b.name.slice(1)))
  return byNumber.map((policy) => {
    const parsed = parse(policy.using!)
    if (!parsed.ok) return { printed: policy.using, fallback: parsed.reason }
    const resolved = resolve(parsed.syntax, table, policy.relations)
    return resolved.ok
      ? { printed: policy.using, node: show(resolved.resolved.node) }
      : { printed: policy.using, fallback: resolved.reason }
  })
}

describe("parse", () => {
  it("reads owner and claim comparisons as Postgres prints them", async () => {
    expect(
      await read([
        "user_id = auth.uid()",
        "team_id::text = auth.jwt() ->> 'team_id'",
        "(auth.jwt() ->> 'role') = 'admin'",
        "auth.role() = 'authenticated'",
        "team_id = (auth.jwt() -> 'app_metadata' ->> 'team_id')::int",
        "owner::text = current_setting('request.jwt.claims', true)::json ->> 'sub'",
        "owner = (select auth.uid())",
        "status = auth.email()",
      ]),
    ).toEqual([
      { printed: "(user_id = auth.uid())", node: "(user_id = uuid(auth(sub)))" },
      {
        printed: "((team_id)::text = (auth.jwt() ->> 'team_id'::text))",
        node: "(text(team_id) = jwt(team_id))",
      },
      { printed: "((auth.jwt() ->> 'role'::text) = 'admin'::text)", node: "(jwt(role) = 'admin'::text)" },
      { printed: "(auth.role() = 'authenticated'::text)", node: "(auth(role) = 'authenticated'::text)" },
      {
        printed: "(team_id = (((auth.jwt() -> 'app_metadata'::text) ->> 'team_id'::text))::integer)",
        node: "(team_id = int4(jwt(app_metadata.team_id)))",
      },
      {
        printed:
          "((owner)::text = ((current_setting('request.jwt.claims'::text, true))::json ->> 'sub'::text))",
        node: "(text(owner) = jwt(sub))",
      },
      { printed: "(owner = ( SELECT auth.uid() AS uid))", node: "(owner = uuid(auth(sub)))" },
      { printed: "(status = auth.email())", node: "(status = auth(email))" },
    ])
  })

  it("reads boolean logic, IS tests, IN lists and typed constants", async () => {
    expect(
      await read([
        "is_public or owner = auth.uid()",
        "team_id = 1 or team_id = 2 and not (status = 'a' or status is null)",
        "status in ('a', 'b')",
        "team_id not in (1, 2)",
        "status = any(array['a', auth.jwt() ->> 'a'])",
        "true",
        "(user_id = auth.uid()) is true and (team_id > 1) is not false and is_public is not null",
        "n >= 5 and team_id::bigint = 5::bigint and -1 < team_id and n = 10000000000",
        "owner = '00000000-0000-0000-0000-00000000000A' and status = 'it''s' and title = 'x'",
        "amt > 2.5 and (auth.jwt() ->> 'b')::boolean and status = null",
      ]),
    ).toEqual([
      { printed: "(is_public OR (owner = auth.uid()))", node: "(is_public OR (owner = uuid(auth(sub))))" },
      {
        printed: "((team_id = 1) OR ((team_id = 2) AND (NOT ((status = 'a'::text) OR (status IS NULL)))))",
        node: "((team_id = 1::int4) OR ((team_id = 2::int4) AND (NOT ((status = 'a'::text) OR (status IS NULL)))))",
      },
      {
        printed: "(status = ANY (ARRAY['a'::text, 'b'::text]))",
        node: "(status = ANY ['a'::text, 'b'::text])",
      },
      { printed: "(team_id <> ALL (ARRAY[1, 2]))", node: "(team_id <> ALL [1::int4, 2::int4])" },
      {
        printed: "(status = ANY (ARRAY['a'::text, (auth.jwt() ->> 'a'::text)]))",
        node: "(status = ANY ['a'::text, jwt(a)])",
      },
      { printed: "true", node: "true::bool" },
      {
        printed:
          "(((user_id = auth.uid()) IS TRUE) AND ((team_id > 1) IS NOT FALSE) AND (is_public IS NOT NULL))",
        node: "(((user_id = uuid(auth(sub))) IS TRUE) AND ((team_id > 1::int4) IS NOT FALSE) AND (is_public IS NOT NULL))",
      },
      {
        printed:
          "((n >= 5) AND ((team_id)::bigint = (5)::bigint) AND ('-1'::integer < team_id) AND (n = '10000000000'::bigint))",
        node: "((n >= 5::int4) AND (int8(team_id) = int8(5::int4)) AND (-1::int4 < team_id) AND (n = 10000000000::int8))",
      },
      {
        printed:
          "((owner = '00000000-0000-0000-0000-00000000000a'::uuid) AND (status = 'it''s'::text) AND ((title)::text = 'x'::text))",
        node: "((owner = '00000000-0000-0000-0000-00000000000a'::uuid) AND (status = 'it's'::text) AND (title = 'x'::text))",
      },
      {
        printed: "((amt > 2.5) AND ((auth.jwt() ->> 'b'::text))::boolean AND (status = NULL::text))",
        node: "((amt > '2.5'::numeric) AND bool(jwt(b)) AND (status = null::text))",
      },
    ])
  })

  it("reads membership through a table", async () => {
    expect(
      await read([
        "team_id in (select team_id from members where user_id = auth.uid())",
        "exists (select 1 from members m where m.team_id = todos.team_id and m.user_id = auth.uid())",
        "exists (select 1 from members where team_id = todos.team_id and user_id = auth.uid() and role = 'admin')",
        "is_public or user_id in (select m.user_id from members m where m.team_id = (auth.jwt() ->> 'team')::int)",
      ]),
    ).toEqual([
      {
        printed:
          "(team_id IN ( SELECT members.team_id\n   FROM public.members\n  WHERE (members.user_id = auth.uid())))",
        node: "member public.members {team_id: team_id, user_id: uuid(auth(sub))}",
      },
      {
        printed:
          "(EXISTS ( SELECT 1\n   FROM public.members m\n  WHERE ((m.team_id = todos.team_id) AND (m.user_id = auth.uid()))))",
        node: "member public.members {team_id: team_id, user_id: uuid(auth(sub))}",
      },
      {
        printed:
          "(EXISTS ( SELECT 1\n   FROM public.members\n  WHERE ((members.team_id = todos.team_id) AND (members.user_id = auth.uid()) AND (members.role = 'admin'::text))))",
        node: "member public.members {team_id: team_id, user_id: uuid(auth(sub)), role: 'admin'::text}",
      },
      {
        printed:
          "(is_public OR (user_id IN ( SELECT m.user_id\n   FROM public.members m\n  WHERE (m.team_id = ((auth.jwt() ->> 'team'::text))::integer))))",
        node: "(is_public OR member public.members {user_id: user_id, team_id: int4(jwt(team))})",
      },
    ])
  })

  it("leaves everything else to the database, saying why", async () => {
    const fallbacks = (
      await read([
        "owner = gen_random_uuid()",
        "status like 'a%'",
        "status < 'b'",
        "amt::text = '1.50'",
        "ts > '2020-01-01'",
        "data ->> 'x' = 'y'",
        "(auth.jwt() -> 'app_metadata') is null",
        "title::varchar(2) = 'ab'",
        "length(status) > 2",
        "team_id not in (select team_id from members where user_id = auth.uid())",
        "not exists (select 1 from members m where m.team_id = todos.team_id)",
        "team_id in (select team_id from members where user_id = auth.uid() and team_id > 0)",
        "team_id + 1 = 2",
      ])
    ).map((r) => r.fallback)
    expect(fallbacks).toEqual([
      "function gen_random_uuid",
      "operator ~~ is not evaluated in memory",
      "text compared with <",
      "a cast from numeric to text",
      "column ts has type timestamp with time zone",
      "a JSON value other than the JWT claims",
      "operator ->",
      "a cast to character varying(2)",
      "function length",
      "a membership test under NOT, IS or a comparison",
      "a membership test under NOT, IS or a comparison",
      "a membership condition other than col = value",
      "operator + is not evaluated in memory",
    ])
  })
})
