// What the realtime authorizer knows of the captured tables: their read policies, grants and
// bypasses (platform/rls), each compiled for in-memory decisions, and the membership tables those
// decisions read, held in memory and kept current from the change stream.
import { Effect } from "effect"
import pg from "pg"
import type { PgError, PostgresShape, Tx } from "../../../platform/postgres/Postgres.ts"
import { load, type TablePolicies } from "../../../platform/rls/load.ts"
import * as MembershipIndex from "../../../platform/rls/MembershipIndex.ts"
import type { MembershipTable } from "../../../platform/rls/resolve.ts"
import { compile, type Visibility } from "../../../platform/rls/Visibility.ts"

export interface Policies {
  readonly tables: ReadonlyMap<string, TablePolicies>
  readonly visibility: ReadonlyMap<string, Visibility>
  /** Per table, the roles decided in memory: those that may read all its membership tables. */
  readonly inMemory: ReadonlyMap<string, ReadonlySet<string>>
  readonly membership: MembershipIndex.MembershipIndex
  /**
   * Transactions below this id had committed when the membership tables were read: their changes
   * are in the snapshot already and are not applied again.
   */
  readonly snapshotXmin: bigint
}

export const key = (schema: string, table: string) => `${schema}.${table}`

/**
 * In memory, a membership subquery sees the whole table; in Postgres it runs as the subscriber,
 * under the membership table's own grants and RLS. So a role is decided in memory only where it may
 * read every row of every membership table its policies use.
 */
const membershipReadable = (
  tables: ReadonlyMap<string, TablePolicies>,
  membershipTables: ReadonlyArray<MembershipTable>,
  role: string,
): boolean =>
  membershipTables.every((t) => {
    const table = tables.get(key(t.schema, t.table))
    const access = table?.access.find((a) => a.role === role)
    if (table === undefined || access?.select !== true) return false
    return !table.rowSecurity || access.bypass
  })

const loadIn = Effect.fnUntraced(function* (tx: Tx, schemas: ReadonlyArray<string>) {
  // One snapshot for the policies and the membership rows.
  yield* tx.query("set transaction isolation level repeatable read")
  const xmin = yield* tx.query<{ xmin: string }>(
    "select pg_snapshot_xmin(pg_current_snapshot())::text as xmin",
  )
  const loaded = yield* load(tx, schemas)
  const visibility = new Map(loaded.map((t) => [key(t.schema, t.table), compile(t)] as const))
  const membershipTables = [...visibility.values()].flatMap((v) => v.membershipTables)
  const membership = MembershipIndex.make(membershipTables)
  for (const table of membershipTables) {
    const { rows } = yield* tx.query<{ row: Record<string, unknown> }>(
      `select to_jsonb(t) as row from ${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.table)} t`,
    )
    membership.load(
      table.schema,
      table.table,
      rows.map((r) => r.row),
    )
  }
  const tables = new Map(loaded.map((t) => [key(t.schema, t.table), t] as const))
  const inMemory = new Map(
    [...visibility].map(([qualified, v]) => {
      const roles = tables.get(qualified)!.access.map((a) => a.role)
      return [
        qualified,
        new Set(roles.filter((role) => membershipReadable(tables, v.membershipTables, role))),
      ]
    }),
  )
  return {
    tables,
    visibility,
    inMemory,
    membership,
    snapshotXmin: BigInt(xmin.rows[0]!.xmin),
  } satisfies Policies
})

export const loadPolicies = (
  postgres: PostgresShape,
  schemas: ReadonlyArray<string>,
): Effect.Effect<Policies, PgError> => postgres.transaction((tx) => loadIn(tx, schemas), { readOnly: true })
