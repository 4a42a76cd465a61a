// Evaluates a resolved policy predicate with SQL's three-valued logic, plus Unknown for what only
// Postgres knows; Unknown is exact where SQL would not look at it (FALSE AND x, TRUE OR x).
import type { Node } from "./resolve.ts"
import { cast, categoryOf, claimText, compare, fromRow, type Value as SqlValue, Unknown } from "./SqlValue.ts"

export interface MembershipLookup {
  /**
   * Whether some row of schema.table has every one of these column values (strings, numbers and
   * booleans as `to_jsonb` gives them); undefined while the table is not loaded.
   */
  readonly has: (
    schema: string,
    table: string,
    conditions: Readonly<Record<string, unknown>>,
  ) => boolean | undefined
}

export interface Input {
  readonly claims: Readonly<Record<string, unknown>>
  /** The row as `to_jsonb(row)` gives it; a column it lacks is Unknown. */
  readonly row: Readonly<Record<string, unknown>>
  readonly membership: MembershipLookup
}

/** The JSON value `auth.jwt() -> path[0] -> ...` reads; null when any step finds no object or key. */
export const claimAt = (claims: unknown, path: ReadonlyArray<string>): unknown => {
  let value = claims
  for (const key of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, key))
      return null
    value = (value as Record<string, unknown>)[key]
  }
  return value ?? null
}

type Truth = boolean | null | typeof Unknown

const and = (values: ReadonlyArray<Truth>): Truth =>
  values.includes(false) ? false : values.includes(Unknown) ? Unknown : values.includes(null) ? null : true

const or = (values: ReadonlyArray<Truth>): Truth =>
  values.includes(true) ? true : values.includes(Unknown) ? Unknown : values.includes(null) ? null : false

const not = (value: Truth): Truth => (typeof value === "boolean" ? !value : value)

const holds = (op: string, order: number): boolean => {
  switch (op) {
    case "=":
      return order === 0
    case "<>":
      return order !== 0
    case "<":
      return order < 0
    case "<=":
      return order <= 0
    case ">":
      return order > 0
    default:
      return order >= 0
  }
}

const comparison = (op: string, node: Node, left: SqlValue, right: SqlValue): Truth => {
  if (left === null || right === null) return null
  if (left === Unknown || right === Unknown) return Unknown
  return holds(op, compare(categoryOf(node.type), left, right))
}

/** A member condition's value as `to_jsonb` would give it, for the index to match. */
const asJson = (value: SqlValue) =>
  typeof value === "bigint" ? (Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()) : value

/**
 * The value of `node`. Every operand is evaluated, even after a deciding one, so that an input
 * Postgres might reject (which throws Undecidable) is never hidden by evaluation order.
 */
export const evaluate = (node: Node, input: Input): SqlValue => {
  switch (node.kind) {
    case "column":
      return Object.hasOwn(input.row, node.name) ? fromRow(node.type, input.row[node.name]) : Unknown
    case "const":
      return node.value
    case "claim": {
      const text = claimText(claimAt(input.claims, node.path))
      return node.emptyIsNull && text === "" ? null : text
    }
    case "cast":
      return cast(evaluate(node.expr, input), node.from, node.type)
    case "compare":
      return comparison(node.op, node.left, evaluate(node.left, input), evaluate(node.right, input))
    case "quantified": {
      const left = evaluate(node.left, input)
      const results = node.items.map((item) => comparison(node.op, node.left, left, evaluate(item, input)))
      return node.all ? and(results) : or(results)
    }
    case "is": {
      const value = evaluate(node.expr, input)
      if (value === Unknown) return Unknown
      const result = node.test === "null" ? value === null : value === (node.test === "true")
      return result !== node.negated
    }
    case "and":
      return and(node.items.map((item) => evaluate(item, input) as Truth))
    case "or":
      return or(node.items.map((item) => evaluate(item, input) as Truth))
    case "not":
      return not(evaluate(node.expr, input) as Truth)
    case "member": {
      const values = node.conditions.map((c) => evaluate(c.value, input))
      // Only reached through AND and OR from the root (resolve checks), where NULL acts as FALSE.
      if (values.includes(null)) return false
      if (values.includes(Unknown)) return Unknown
      const conditions: Record<string, unknown> = {}
      for (const [i, c] of node.conditions.entries()) {
        const value = asJson(values[i]!)
        if (Object.hasOwn(conditions, c.column) && conditions[c.column] !== value) return false
        conditions[c.column] = value
      }
      return input.membership.has(node.schema, node.table, conditions) ?? Unknown
    }
  }
}

/** A policy combination's outcome: visible only when TRUE; undefined when Postgres must decide. */
export const decide = (permissive: ReadonlyArray<Node>, restrictive: ReadonlyArray<Node>, input: Input) => {
  const result = and([
    or(permissive.map((node) => evaluate(node, input) as Truth)),
    ...restrictive.map((node) => evaluate(node, input) as Truth),
  ])
  return result === Unknown ? undefined : result === true
}
