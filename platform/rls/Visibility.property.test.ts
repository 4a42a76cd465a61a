import { Effect } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Claims } from "../jwt/Jwt.ts"
import type { Tx } from "../postgres/Postgres.ts"
import { load } from "./load.ts"
import * as MembershipIndex from "./MembershipIndex.ts"
import {
  random,
  claims as randomClaims,
  policies as randomPolicies,
  rowsSql,
  tableSql,
} from "./test/generate.ts"
import { type PolicyDatabase, policyDatabase } from "./test/policyDatabase.ts"
import { compile } from "./Visibility.ts"

// RLS_SEED=<n> replays one seed; the failure message names the seed and the case.
const seeds = process.env["RLS_SEED"] ? [Number(process.env["RLS_SEED"])] : [1, 2, 3]
const casesPerSeed = 150
const subscribersPerCase = 8

let db: PolicyDatabase

beforeAll(async () => {
  db = await policyDatabase(seeds.length + 1)
  for (const seed of seeds) await db.postgres.pool.query(tableSql(`s${seed}`))
})
afterAll(() => db.close())

interface Tally {
  decided: number
  undecided: number
  /** Subscriber and row pairs the slots said need not be asked about. */
  spared: number
}

/** The ids `SELECT` returns as the subscriber; none when the role may not read the table at all. */
const selectAs = (tx: Tx, claims: Record<string, unknown>) =>
  tx
    .query(
      [
        "savepoint subscriber",
        `select set_config('role', ${pg.escapeLiteral(String(claims["role"]))}, true),
                set_config('request.jwt.claims', ${pg.escapeLiteral(JSON.stringify(claims))}, true)`,
        "select id from items",
        "rollback to savepoint subscriber",
      ].join(";\n"),
    )
    .pipe(
      Effect.map((results) => {
        const rows = (results as unknown as Array<pg.QueryResult<{ id: number }>>)[2]!.rows
        return new Set(rows.map((r) => r.id))
      }),
      Effect.catchIf(
        (e) => e.code === "42501",
        () => tx.query("rollback to savepoint subscriber").pipe(Effect.as(new Set<number>())),
      ),
    )

/** One case: random rows, table settings, policies and subscribers; Postgres's answer vs compile's. */
const runCase = (tx: Tx, seed: number, index: number, tally: Tally) =>
  Effect.gen(function* () {
    const r = random(seed * 100_003 + index)
    const where = `seed ${seed} case ${index}`
    const specs = randomPolicies(r)
    yield* tx.query(
      [
        `select set_config('search_path', 's${seed}', true)`,
        "savepoint a_case",
        rowsSql(r),
        `alter table items ${r.chance(0.85) ? "enable" : "disable"} row level security`,
        r.chance(0.2) ? "alter table items force row level security" : "",
        "revoke all on items from anon, authenticated, service_role",
        ...["anon", "authenticated", "service_role"].map((role) =>
          r.chance(0.85) ? `grant select on items to ${role}` : "",
        ),
        ...specs.map((spec) => spec.sql),
      ].join(";\n"),
    )
    const context = `${where}\n${specs.map((s) => s.sql).join("\n")}`
    const table = (yield* load(tx, [`s${seed}`])).find((t) => t.table === "items")!
    const visibility = compile(table)
    expect(visibility.notInMemory.map((p) => p.policy).sort(), context).toEqual(
      specs.filter((s) => !s.inMemory).map((s) => s.name),
    )

    const index_ = MembershipIndex.make(visibility.membershipTables)
    const members = yield* tx.query<{ row: Record<string, unknown> }>(
      "select to_jsonb(m) as row from members m",
    )
    index_.load(
      `s${seed}`,
      "members",
      members.rows.map((m) => m.row),
    )
    const rows = (yield* tx.query<{ row: Record<string, unknown> }>("select to_jsonb(i) as row from items i"))
      .rows
    const byAudience = new Map<string, string>()
    for (let s = 0; s < subscribersPerCase; s++) {
      const claims = randomClaims(r)
      const role = String(claims["role"])
      const expected = yield* selectAs(tx, claims)
      const subscriber = `${context}\nclaims ${JSON.stringify(claims)}`
      const key = visibility.audienceKey(role, claims as unknown as Claims)
      const slots = visibility.slotsOf(role, claims as unknown as Claims)
      // Slots may spare asking only where Postgres does not show the row.
      const missed = rows.filter(({ row }) => {
        const reached = visibility.slotsFor(row)
        if (slots === undefined || reached === undefined || slots.some((s) => reached.includes(s)))
          return false
        tally.spared++
        return expected.has(row["id"] as number)
      })
      if (missed.length > 0)
        expect(
          missed.map((m) => m.row),
          `${subscriber}\nslots ${JSON.stringify(slots)}\nvisible ${[...expected]}`,
        ).toEqual([])
      const wrong = rows.filter(({ row }) => {
        const visible = visibility.visible(role, claims as unknown as Claims, row, index_)
        if (visible === undefined) tally.undecided++
        else tally.decided++
        return visible !== undefined && visible !== expected.has(row["id"] as number)
      })
      if (wrong.length > 0)
        expect(
          wrong.map((w) => w.row),
          `${subscriber}\nvisible ${[...expected]}`,
        ).toEqual([])
      if (key !== undefined) {
        // Equal audience keys must mean equal visibility, here as Postgres decides it.
        const seen = [...expected].sort().join(",")
        expect(byAudience.get(key) ?? seen, `${subscriber}\naudience ${key}`).toBe(seen)
        byAudience.set(key, seen)
      }
    }
    // Nothing of the case is kept: the next one starts from the same empty tables.
    yield* tx.query("rollback to savepoint a_case")
  })

describe("Visibility", () => {
  it("decides as Postgres does, for random policies, rows and subscribers", async () => {
    const tallies = await Promise.all(
      seeds.map((seed) =>
        Effect.runPromise(
          Effect.gen(function* () {
            const tally: Tally = { decided: 0, undecided: 0, spared: 0 }
            // A transaction per case: a long one with thousands of savepoints would slow every
            // other backend's catalog reads (subtransaction cache overflow).
            for (let i = 0; i < casesPerSeed; i++) {
              yield* db.postgres.transaction((tx) => runCase(tx, seed, i, tally))
            }
            return tally
          }),
        ),
      ),
    )
    const decided = tallies.reduce((n, t) => n + t.decided, 0)
    const undecided = tallies.reduce((n, t) => n + t.undecided, 0)
    const spared = tallies.reduce((n, t) => n + t.spared, 0)
    // The slots are exercised: many pairs are settled without asking.
    expect(spared).toBeGreaterThan(decided / 4)
    // Most answers come from memory: the generator mostly writes policies of the grammar.
    expect(decided).toBeGreaterThan(3 * undecided)
  })
})
