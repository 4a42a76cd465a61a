// Port: which subscribers may see a row change. The hub groups subscribers by audience, so the
// authorizer decides once per audience, not once per subscriber.
import { Effect } from "effect"
import type { Claims } from "../../platform/jwt/Jwt.ts"
import type { RowChange } from "./RowChange.ts"

export interface Audience {
  readonly key: string
  readonly claims: Claims
}

/**
 * Which audiences are worth asking about a change, so a change costs in proportion to the audiences
 * that may see it rather than to all of them. An audience is filed under `slotsOf`; a change may
 * be visible only to audiences filed under one of the slots `slotsFor` gives. undefined (either
 * side): ask that audience, or every audience, as without an index.
 */
export interface AudienceIndex {
  readonly slotsOf: (schema: string, table: string, claims: Claims) => ReadonlyArray<string> | undefined
  readonly slotsFor: (change: RowChange) => ReadonlyArray<string> | undefined
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
  /**
   * The index for the policies as they are now; a new object whenever they change, so the hub
   * knows to file its audiences again. Without it every audience is asked about every change.
   */
  readonly index?: () => AudienceIndex
}

/**
 * For tests and single-user setups: service_role sees every row; anyone else the rows whose
 * `column` equals their `sub`. A DELETE whose old row lacks the column goes to everyone, as
 * Supabase delivers DELETEs (only the primary key) without evaluating RLS.
 */
export const ownRows = (column = "user_id"): ChangeAuthorizer => {
  // Rows an audience may see carry its `sub`; a row without the column, or a DELETE without its
  // old row, may be anyone's.
  const index: AudienceIndex = {
    slotsOf: (_schema, _table, claims) =>
      claims.role === "service_role" ? undefined : claims.sub === undefined ? [] : [`sub:${claims.sub}`],
    slotsFor: (change) => {
      const row = change.type === "DELETE" ? change.old_record : change.record
      if (row === null || !(column in row)) return change.type === "DELETE" ? undefined : []
      return [`sub:${String(row[column])}`]
    },
  }
  return {
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
    index: () => index,
  }
}
