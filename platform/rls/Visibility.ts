// Who may read which rows of one table, decided in memory where the table's policies allow it, so
// that a row change is authorized for thousands of subscribers without a query each.
import type { Claims } from "../jwt/Jwt.ts"
import { claimAt, decide, type MembershipLookup } from "./evaluate.ts"
import type { TablePolicies } from "./load.ts"
import { parse } from "./parse.ts"
import { type MembershipTable, type Node, type Resolved, resolve } from "./resolve.ts"
import { Undecidable } from "./SqlValue.ts"

export type { MembershipLookup } from "./evaluate.ts"

export interface Visibility {
  /**
   * Equal keys ⇒ equal visibility of every row of the table: the role and the values of the
   * claims its policies read. undefined when the role's access is decided by the database.
   */
  readonly audienceKey: (role: string, claims: Claims) => string | undefined
  /** Whether `SELECT` as `role` with `claims` returns `row` (as `to_jsonb` gives it); undefined ⇒ ask the database. */
  readonly visible: (
    role: string,
    claims: Claims,
    row: Readonly<Record<string, unknown>>,
    membership: MembershipLookup,
  ) => boolean | undefined
  /** The tables membership tests read, to be kept in a MembershipIndex by the caller. */
  readonly membershipTables: ReadonlyArray<MembershipTable>
  /** Policies that are evaluated by the database, and why. */
  readonly notInMemory: ReadonlyArray<{ readonly policy: string; readonly reason: string }>
}

/** A policy's predicate; `resolved` is undefined for a policy without USING. */
type Compiled =
  | { readonly ok: true; readonly resolved: Resolved | undefined }
  | { readonly ok: false; readonly reason: string }

type Plan =
  | { readonly kind: "constant"; readonly visible: boolean }
  | { readonly kind: "database" }
  | {
      readonly kind: "policies"
      readonly permissive: ReadonlyArray<Node>
      readonly restrictive: ReadonlyArray<Node>
      readonly claims: ReadonlyArray<ReadonlyArray<string>>
    }

export const compile = (table: TablePolicies): Visibility => {
  const compiled = new Map(
    table.policies.map((policy): [string, Compiled] => {
      if (policy.using === null) return [policy.name, { ok: true, resolved: undefined }]
      const parsed = parse(policy.using)
      return [policy.name, parsed.ok ? resolve(parsed.syntax, table, policy.relations) : parsed]
    }),
  )

  const planFor = (role: string): Plan => {
    const access = table.access.find((a) => a.role === role)
    if (access === undefined) return { kind: "database" }
    if (!access.select && access.someColumns) return { kind: "database" }
    // Without the privilege the SELECT fails: the row is not the subscriber's to see.
    if (!access.select) return { kind: "constant", visible: false }
    if (access.bypass || !table.rowSecurity) return { kind: "constant", visible: true }
    const permissive: Array<Node> = []
    const restrictive: Array<Node> = []
    const claims: Array<ReadonlyArray<string>> = []
    let inMemory = true
    let anyPermissive = false
    for (const policy of table.policies) {
      if (!policy.appliesTo.includes(role)) continue
      const result = compiled.get(policy.name)!
      // A policy without USING adds nothing to reads, as in Postgres's add_security_quals.
      if (result.ok && result.resolved === undefined) continue
      anyPermissive ||= policy.permissive
      if (!result.ok) inMemory = false
      else {
        ;(policy.permissive ? permissive : restrictive).push(result.resolved!.node)
        claims.push(...result.resolved!.claims)
      }
    }
    // No permissive policy: Postgres denies every row, whatever the restrictive ones say.
    if (!anyPermissive) return { kind: "constant", visible: false }
    if (!inMemory) return { kind: "database" }
    const paths = new Map(claims.map((path) => [JSON.stringify(path), path]))
    return { kind: "policies", permissive, restrictive, claims: [...paths.values()] }
  }
  const plans = new Map(table.access.map(({ role }) => [role, planFor(role)]))

  return {
    audienceKey: (role, claims) => {
      const plan = plans.get(role)
      if (plan === undefined || plan.kind === "database") return undefined
      if (plan.kind === "constant") return JSON.stringify([role])
      return JSON.stringify([role, ...plan.claims.map((path) => claimAt(claims, path))])
    },
    visible: (role, claims, row, membership) => {
      const plan = plans.get(role)
      if (plan === undefined || plan.kind === "database") return undefined
      if (plan.kind === "constant") return plan.visible
      try {
        return decide(plan.permissive, plan.restrictive, { claims, row, membership })
      } catch (error) {
        if (error instanceof Undecidable) return undefined
        throw error
      }
    },
    membershipTables: mergeTables(
      [...compiled.values()].flatMap((r) => (r.ok && r.resolved !== undefined ? r.resolved.membership : [])),
    ),
    notInMemory: [...compiled.entries()].flatMap(([policy, r]) =>
      r.ok ? [] : [{ policy, reason: r.reason }],
    ),
  }
}

const mergeTables = (tables: ReadonlyArray<MembershipTable>): Array<MembershipTable> => {
  const merged = new Map<string, MembershipTable>()
  for (const t of tables) {
    const id = JSON.stringify([t.schema, t.table])
    const seen = merged.get(id)
    merged.set(id, { ...t, columns: [...new Set([...(seen?.columns ?? []), ...t.columns])] })
  }
  return [...merged.values()]
}
