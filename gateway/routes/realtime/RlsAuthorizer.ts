// Who may see a row change: exactly who would get the row from SELECT under their own role and
// claims, judged against the row as the change left it (the old row for a DELETE), not the table
// now, so a later change cannot alter what an earlier one shows. Policies of the grammar in
// platform/rls/README.md are decided in memory, once per audience (subscribers whose claims
// those policies read alike); the rest, for every audience of one change, in one round trip.
import { Effect } from "effect"
import pg from "pg"
import type { Claims } from "../../../platform/jwt/Jwt.ts"
import type { PostgresShape } from "../../../platform/postgres/Postgres.ts"
import type { TablePolicies } from "../../../platform/rls/load.ts"
import type { Audience, AudienceIndex, ChangeAuthorizer } from "../../realtime/ChangeAuthorizer.ts"
import type { RowChange } from "../../realtime/RowChange.ts"
import { key, type Policies } from "./Policies.ts"

// Claims that change with every token of the same user and that no sane policy reads: leaving
// them out lets one user's reconnects, and refreshed tokens, share an audience.
const volatile = new Set(["exp", "iat", "nbf", "jti"])
const stableClaims = (claims: Claims) =>
  JSON.stringify(
    Object.keys(claims)
      .sort()
      .filter((k) => !volatile.has(k))
      .map((k) => [k, claims[k]]),
  )

/** The USING expressions combined as Postgres combines them for one role; undefined: no row passes. */
export const combinedUsing = (table: TablePolicies, role: string): string | undefined => {
  const applies = table.policies.filter((p) => p.appliesTo.includes(role))
  const permissive = applies.filter((p) => p.permissive)
  if (permissive.length === 0) return undefined
  const expression = (using: string | null) => `(${using ?? "true"})`
  const anyOf = permissive.map((p) => expression(p.using)).join(" or ")
  const restrictive = applies.filter((p) => !p.permissive).map((p) => expression(p.using))
  return restrictive.length === 0 ? `(${anyOf})` : `(${anyOf}) and ${restrictive.join(" and ")}`
}

export interface RlsAuthorizerOptions {
  readonly postgres: PostgresShape
  readonly policies: () => Policies
  /** Reloads the policies: a change to a table they do not know means they are behind. */
  readonly refresh: Effect.Effect<void>
}

export const rlsAuthorizer = (options: RlsAuthorizerOptions): ChangeAuthorizer => {
  /** true/false when the in-memory policies or the catalogs decide; undefined: ask Postgres. */
  const decideHere = (
    policies: Policies,
    qualified: string,
    claims: Claims,
    row: Record<string, unknown> | null,
  ): boolean | undefined => {
    const table = policies.tables.get(qualified)
    if (table === undefined || row === null) return false
    if (policies.inMemory.get(qualified)?.has(claims.role) === true) {
      const decided = policies.visibility
        .get(qualified)!
        .visible(claims.role, claims, row, policies.membership)
      if (decided !== undefined) return decided
    }
    const access = table.access.find((a) => a.role === claims.role)
    if (access === undefined || !access.select) return false
    if (!table.rowSecurity || access.bypass) return true
    // Without a permissive policy for the role Postgres lets no row through.
    return table.policies.some((p) => p.permissive && p.appliesTo.includes(claims.role)) ? undefined : false
  }

  /** One statement pair per audience, in one read-only transaction that is rolled back. */
  const askDatabase = (
    table: TablePolicies,
    row: Record<string, unknown>,
    audiences: ReadonlyArray<Audience>,
  ) =>
    Effect.tryPromise({
      try: async () => {
        const relation = `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.table)}`
        const rowLiteral = pg.escapeLiteral(JSON.stringify(row))
        const statements = audiences.map(({ claims }) => {
          const using = combinedUsing(table, claims.role) ?? "false"
          return `select set_config('role', ${pg.escapeLiteral(claims.role)}, true), set_config('request.jwt.claims', ${pg.escapeLiteral(JSON.stringify(claims))}, true);
select coalesce(${using}, false) as visible from jsonb_populate_record(null::${relation}, ${rowLiteral}) as ${pg.escapeIdentifier(table.table)};`
        })
        const client = await options.postgres.pool.connect()
        let broken = false
        try {
          // The policies were printed with every name qualified: no search path is relied on.
          const results = (await client.query(
            `begin read only;\n${statements.join("\n")}\nrollback;`,
          )) as unknown as Array<pg.QueryResult<{ visible: boolean }>>
          return audiences.map((_, i) => results[2 + 2 * i]?.rows[0]?.visible === true)
        } catch (error) {
          await client.query("rollback").catch(() => {
            broken = true
          })
          throw error
        } finally {
          client.release(broken)
        }
      },
      catch: (error) => error as Error,
    })

  /**
   * Slots as the tables' Visibility gives them, for roles decided in memory; the rest (and tables
   * not known yet) are asked about every change. One index per load of the policies.
   */
  const indexes = new WeakMap<Policies, AudienceIndex>()
  const indexOf = (policies: Policies): AudienceIndex => ({
    slotsOf: (schema, tableName, claims) => {
      const qualified = key(schema, tableName)
      if (policies.inMemory.get(qualified)?.has(claims.role) !== true) return undefined
      return policies.visibility.get(qualified)?.slotsOf(claims.role, claims)
    },
    slotsFor: (change) => {
      const row = change.type === "DELETE" ? change.old_record : change.record
      const visibility = policies.visibility.get(key(change.schema, change.table))
      // No row: no one may see the change (decideHere).
      if (row === null) return visibility === undefined ? undefined : []
      return visibility?.slotsFor(row)
    },
  })

  return {
    index: () => {
      const policies = options.policies()
      let index = indexes.get(policies)
      if (index === undefined) {
        index = indexOf(policies)
        indexes.set(policies, index)
      }
      return index
    },
    // Keys may rest on the policies as they are now: when they change, every subscriber's audience
    // is decided again (Realtime.reauthorize). A table not known yet groups by the whole claims.
    audienceOf: (schema, tableName, claims) => {
      const policies = options.policies()
      const qualified = key(schema, tableName)
      const inMemory =
        policies.inMemory.get(qualified)?.has(claims.role) === true
          ? policies.visibility.get(qualified)!.audienceKey(claims.role, claims)
          : undefined
      return inMemory ?? `${claims.role}|${stableClaims(claims)}`
    },
    // Made once per authorizer: a generator made per change cost the gateway a promoted heap.
    allowed: Effect.fnUntraced(function* (change: RowChange, audiences: ReadonlyArray<Audience>) {
      const qualified = key(change.schema, change.table)
      if (!options.policies().tables.has(qualified)) yield* options.refresh
      const policies = options.policies()
      const row = change.type === "DELETE" ? change.old_record : change.record
      const decided = audiences.map(({ claims }) => decideHere(policies, qualified, claims, row))
      const open = audiences.filter((_, i) => decided[i] === undefined)
      if (open.length === 0) return decided as Array<boolean>
      const answers = yield* askDatabase(policies.tables.get(qualified)!, row!, open).pipe(
        // Unknown is not allowed: a change is withheld rather than shown to someone it may not be for.
        Effect.catch((error) =>
          Effect.logWarning(`realtime authorization query failed: ${error.message}`).pipe(
            Effect.as(open.map(() => false)),
          ),
        ),
      )
      let next = 0
      return decided.map((d) => d ?? answers[next++]!)
    }),
  }
}
