// Port: which subscribers may see a row change. The hub groups subscribers by audience, so the
// authorizer decides once per audience, not once per subscriber.
import { Effect } from "effect"
import type { Claims } from "../../platform/jwt/Jwt.ts"
import type { RowChange } from "./RowChange.ts"

export interface Audience {
  readonly key: string
  readonly claims: Claims
}

export interface ChangeAuthorizer {
  /** Two subscribers with the same audience key see exactly the same rows of this table (e.g. role + the claim values its policies read). */
  readonly audienceOf: (schema: string, table: string, claims: Claims) => string
  /**
   * One call per change: for each audience (deduplicated), may it see this change? A DELETE has
   * no new row (`record` is null): decide from `old_record`, which may hold only the primary key.
   */
  readonly allowed: (
    change: RowChange,
    audiences: ReadonlyArray<Audience>,
  ) => Effect.Effect<ReadonlyArray<boolean>>
}

/**
 * For tests and single-user setups: service_role sees every row; anyone else the rows whose
 * `column` equals their `sub`. A DELETE whose old row lacks the column goes to everyone, as
 * Supabase delivers DELETEs (only the primary key) without evaluating RLS.
 */
export const ownRows = (column = "user_id"): ChangeAuthorizer => ({
  audienceOf: (_schema, _table, claims) =>
    claims.role === "service_role" ? "service_role" : `${claims.role}:${claims.sub ?? ""}`,
  allowed: (change, audiences) =>
    Effect.sync(() => {
      const row = change.type === "DELETE" ? change.old_record : change.record
      return audiences.map(({ claims }) => {
        if (claims.role === "service_role") return true
        if (row === null || !(column in row)) return change.type === "DELETE"
        return claims.sub !== undefined && row[column] === claims.sub
      })
    }),
})
