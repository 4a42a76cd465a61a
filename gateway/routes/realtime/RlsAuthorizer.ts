// Who may see a row change: exactly who would get the row from SELECT under their own role and
// claims. The policies are evaluated against the row as the change left it (the old row for a
// DELETE), not against the table now, so a later change cannot alter what an earlier one shows.
// A policy the in-memory evaluator understands is decided here; the rest, for every audience of
// one change, in one round trip to Postgres.
import { Effect } from "effect"
import pg from "pg"
import type { Claims } from "../../../platform/jwt/Jwt.ts"
import type { PostgresShape } from "../../../platform/postgres/Postgres.ts"
import type { Audience, ChangeAuthorizer } from "../../realtime/ChangeAuthorizer.ts"
import type { RowChange } from "../../realtime/RowChange.ts"
import { key, type TablePolicies } from "./PolicyCatalog.ts"

/** Decides in memory when it can: true or false, or undefined to ask Postgres. */
export interface InMemoryPolicies {
  readonly audienceKey: (table: TablePolicies, claims: Claims) => string | undefined
  readonly visible: (
    table: TablePolicies,
    claims: Claims,
    row: Record<string, unknown>,
  ) => boolean | undefined
}

export const noInMemory: InMemoryPolicies = { audienceKey: () => undefined, visible: () => undefined }

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

/** The USING expressions combined as Postgres combines them for one role. */
export const combinedUsing = (table: TablePolicies, role: string): string | undefined => {
  const applies = table.policies.filter((p) => p.roles.length === 0 || p.roles.includes(role))
  const permissive = applies.filter((p) => p.permissive)
  // No permissive policy: RLS lets nothing through.
  if (permissive.length === 0) return undefined
  const expression = (using: string | null) => `(${using ?? "true"})`
  const anyOf = permissive.map((p) => expression(p.using)).join(" or ")
  const restrictive = applies.filter((p) => !p.permissive).map((p) => expression(p.using))
  return restrictive.length === 0 ? `(${anyOf})` : `(${anyOf}) and ${restrictive.join(" and ")}`
}

export interface RlsAuthorizerOptions {
  readonly postgres: PostgresShape
  readonly tables: () => ReadonlyMap<string, TablePolicies>
  /** Reloads the tables: a change to a table they do not know means they are behind. */
  readonly refresh: Effect.Effect<void>
  readonly inMemory?: InMemoryPolicies
}

export const rlsAuthorizer = (options: RlsAuthorizerOptions): ChangeAuthorizer => {
  const inMemory = options.inMemory ?? noInMemory

  const decideWithoutDatabase = (
    table: TablePolicies | undefined,
    claims: Claims,
    row: Record<string, unknown> | null,
  ): boolean | undefined => {
    if (table === undefined || row === null) return false
    if (!table.selectable.has(claims.role)) return false
    // service_role bypasses RLS, as it does in Postgres (BYPASSRLS).
    if (!table.rls || claims.role === "service_role") return true
    if (combinedUsing(table, claims.role) === undefined) return false
    return inMemory.visible(table, claims, row)
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
          const using = combinedUsing(table, claims.role)!
          return `select set_config('role', ${pg.escapeLiteral(claims.role)}, true), set_config('request.jwt.claims', ${pg.escapeLiteral(JSON.stringify(claims))}, true);
select coalesce(${using}, false) as visible from jsonb_populate_record(null::${relation}, ${rowLiteral}) as ${pg.escapeIdentifier(table.table)};`
        })
        const client = await options.postgres.pool.connect()
        let broken = false
        try {
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

  return {
    // Keys may rest on the policies as they are now: when they change, every subscriber's audience
    // is decided again (Realtime.reauthorize). A table not known yet groups by the whole claims.
    audienceOf: (schema, tableName, claims) => {
      const table = options.tables().get(key(schema, tableName))
      if (table === undefined) return `${claims.role}|${stableClaims(claims)}`
      if (!table.selectable.has(claims.role)) return `${claims.role}|none`
      if (!table.rls || claims.role === "service_role") return `${claims.role}|all`
      if (combinedUsing(table, claims.role) === undefined) return `${claims.role}|none`
      const audience = inMemory.audienceKey(table, claims)
      return audience === undefined ? `${claims.role}|${stableClaims(claims)}` : `${claims.role}|${audience}`
    },
    allowed: (change: RowChange, audiences) =>
      Effect.gen(function* () {
        const qualified = key(change.schema, change.table)
        if (!options.tables().has(qualified)) yield* options.refresh
        const table = options.tables().get(qualified)
        const row = change.type === "DELETE" ? change.old_record : change.record
        const decided = audiences.map(({ claims }) => decideWithoutDatabase(table, claims, row))
        const open = audiences.filter((_, i) => decided[i] === undefined)
        if (open.length === 0) return decided as Array<boolean>
        const answers = yield* askDatabase(table!, row!, open).pipe(
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
