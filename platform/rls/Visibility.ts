// Who may read which rows of one table, decided in memory where the table's policies allow it, so
// that a row change is authorized for thousands of subscribers without a query each.
import type { Claims } from "../jwt/Jwt.ts"
import { claimAt, decide, evaluate, type Input, type MembershipLookup } from "./evaluate.ts"
import type { TablePolicies } from "./load.ts"
import { parse } from "./parse.ts"
import { type MembershipTable, type Node, type Resolved, resolve } from "./resolve.ts"
import { categoryOf, type Value as SqlValue, Undecidable, Unknown } from "./SqlValue.ts"

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
  /**
   * The slots an audience is filed under: a row can be visible to it only if the row reaches one
   * of them (`slotsFor`). undefined: the audience must be asked about every row; empty: no row of
   * the table is visible to it.
   */
  readonly slotsOf: (role: string, claims: Claims) => ReadonlyArray<string> | undefined
  /**
   * The slots `row` reaches, for every role at once; undefined when it cannot be told (a column
   * the row lacks), and then every audience must be asked.
   */
  readonly slotsFor: (row: Readonly<Record<string, unknown>>) => ReadonlyArray<string> | undefined
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
  /**
   * Per role whose every permissive policy has a route: visible ⇒ some policy is TRUE ⇒ its route's
   * two sides are equal, so an audience needs asking only about rows equal to it on some route.
   */
  const routes = new Map<string, ReadonlyArray<Route>>()
  for (const [role, plan] of plans) {
    if (plan.kind !== "policies") continue
    const found = plan.permissive.map(routeOf)
    if (found.every((r) => r !== undefined)) routes.set(role, found as ReadonlyArray<Route>)
  }

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
    slotsOf: (role, claims) => {
      const plan = plans.get(role)
      if (plan?.kind === "constant" && !plan.visible) return []
      const mine = routes.get(role)
      return mine === undefined
        ? undefined
        : slotsOfRole(role, mine, "claims", { claims, row: {}, membership: noMembership })
    },
    slotsFor: (row) => {
      const slots: Array<string> = []
      for (const [role, mine] of routes) {
        const reached = slotsOfRole(role, mine, "row", { claims: {}, row, membership: noMembership })
        if (reached === undefined) return undefined
        slots.push(...reached)
      }
      return slots
    },
    membershipTables: mergeTables(
      [...compiled.values()].flatMap((r) => (r.ok && r.resolved !== undefined ? r.resolved.membership : [])),
    ),
    notInMemory: [...compiled.entries()].flatMap(([policy, r]) =>
      r.ok ? [] : [{ policy, reason: r.reason }],
    ),
  }
}

/**
 * One equality of a permissive policy that must hold for the policy to be TRUE: a value of the row
 * alone (`row`) against one of the claims and constants alone (`claims`).
 */
interface Route {
  readonly row: Node
  readonly claims: Node
}

const reads = (node: Node, kind: "column" | "claim" | "member"): boolean => {
  if (node.kind === kind) return true
  switch (node.kind) {
    case "cast":
    case "not":
    case "is":
      return reads(node.expr, kind)
    case "compare":
      return reads(node.left, kind) || reads(node.right, kind)
    case "quantified":
      return reads(node.left, kind) || node.items.some((item) => reads(item, kind))
    case "and":
    case "or":
      return node.items.some((item) => reads(item, kind))
    case "member":
      return node.conditions.some((c) => reads(c.value, kind))
    default:
      return false
  }
}

/** The top-level conjuncts of a predicate: what must each be TRUE for it to be TRUE. */
const conjuncts = (node: Node): ReadonlyArray<Node> =>
  node.kind === "and" ? node.items.flatMap(conjuncts) : [node]

const rowOnly = (n: Node) => reads(n, "column") && !reads(n, "claim") && !reads(n, "member")
const claimsOnly = (n: Node) => !reads(n, "column") && !reads(n, "member")

/** The first `row value = claim value` conjunct of a policy, if it has one. */
const routeOf = (policy: Node): Route | undefined => {
  for (const c of conjuncts(policy)) {
    if (c.kind !== "compare" || c.op !== "=") continue
    if (rowOnly(c.left) && claimsOnly(c.right)) return { row: c.left, claims: c.right }
    if (rowOnly(c.right) && claimsOnly(c.left)) return { row: c.right, claims: c.left }
  }
  return undefined
}

const noMembership: MembershipLookup = { has: () => undefined }

/**
 * A side of a route evaluated; `undefined` when it cannot be (Unknown, or a cast Postgres might
 * reject). Equal texts ⇔ the `=` between the two sides is TRUE: values are canonical within their
 * category (compare), numbers printed as decimals.
 */
const slotValue = (node: Node, input: Input): string | null | undefined => {
  let value: SqlValue
  try {
    value = evaluate(node, input)
  } catch (error) {
    if (error instanceof Undecidable) return undefined
    throw error
  }
  if (value === Unknown) return undefined
  if (value === null) return null
  return `${categoryOf(node.type)}:${String(value)}`
}

/**
 * The slots one side of a role's routes gives (each route's policy index and value); undefined
 * when a side cannot be evaluated. A NULL side is no slot: NULL = anything is not TRUE, so that
 * policy shows nothing through it.
 */
const slotsOfRole = (
  role: string,
  routes: ReadonlyArray<Route>,
  side: keyof Route,
  input: Input,
): Array<string> | undefined => {
  const slots: Array<string> = []
  for (const [i, route] of routes.entries()) {
    const value = slotValue(route[side], input)
    if (value === undefined) return undefined
    if (value !== null) slots.push(`${role}\u0000${i}\u0000${value}`)
  }
  return slots
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
