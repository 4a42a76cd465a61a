// A postgres_changes `filter` (`col=op.value`, comma-joined as AND) parsed once per binding into a
// predicate on a row, with SQL's answer for NULL (no comparison with NULL matches).
export type Operator =
  | "eq"
  | "neq"
  | "lt"
  | "lte"
  | "gt"
  | "gte"
  | "in"
  | "is"
  | "like"
  | "ilike"
  | "isdistinct"

export interface Condition {
  readonly column: string
  readonly operator: Operator
  readonly negated: boolean
  /** One value, or the list of `in`; `is` takes null, true, false or unknown. */
  readonly values: ReadonlyArray<string>
}

export type Row = Readonly<Record<string, unknown>>
export type ColumnTypes = ReadonlyMap<string, string>

export class InvalidFilter extends Error {}

const operators = new Set<string>([
  "eq",
  "neq",
  "lt",
  "lte",
  "gt",
  "gte",
  "in",
  "is",
  "like",
  "ilike",
  "isdistinct",
])

/** Splits on `separator` outside double quotes and parentheses. */
const splitTopLevel = (text: string, separator: string): Array<string> => {
  const parts: Array<string> = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === "\\") i++
      else if (c === '"') quoted = false
    } else if (c === '"') quoted = true
    else if (c === "(") depth++
    else if (c === ")") depth--
    else if (c === separator && depth === 0) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  if (quoted || depth !== 0) throw new InvalidFilter(`unbalanced quotes or parentheses in "${text}"`)
  parts.push(text.slice(start))
  return parts
}

/** A value as realtime-js writes it: bare, or PostgREST-quoted with `\` escapes. */
const unquote = (value: string): string =>
  value.length >= 2 && value.startsWith('"') && value.endsWith('"')
    ? value.slice(1, -1).replace(/\\(.)/g, "$1")
    : value

const parseCondition = (text: string): Condition => {
  const equals = text.indexOf("=")
  if (equals <= 0) throw new InvalidFilter(`"${text}" is not column=operator.value`)
  const column = text.slice(0, equals).trim()
  let rest = text.slice(equals + 1)
  let negated = false
  if (rest.startsWith("not.")) {
    negated = true
    rest = rest.slice(4)
  }
  const dot = rest.indexOf(".")
  const operator = dot < 0 ? rest : rest.slice(0, dot)
  if (!operators.has(operator)) throw new InvalidFilter(`unsupported operator "${operator}"`)
  const raw = dot < 0 ? "" : rest.slice(dot + 1)
  if (operator === "in") {
    if (!raw.startsWith("(") || !raw.endsWith(")")) throw new InvalidFilter(`in needs a list: "${raw}"`)
    const inner = raw.slice(1, -1)
    const values = inner === "" ? [] : splitTopLevel(inner, ",").map(unquote)
    return { column, operator, negated, values }
  }
  const value = unquote(raw)
  if (operator === "is" && !["null", "true", "false", "unknown"].includes(value.toLowerCase()))
    throw new InvalidFilter(`is takes null, true, false or unknown, not "${value}"`)
  return { column, operator: operator as Operator, negated, values: [value] }
}

export const parseFilter = (filter: string): ReadonlyArray<Condition> =>
  filter.trim() === "" ? [] : splitTopLevel(filter, ",").map(parseCondition)

const numericTypes = new Set(["int2", "int4", "int8", "float4", "float8", "numeric", "oid", "money"])

/** Orders a cell against a filter value: numbers as numbers, booleans as t/f, the rest as text. */
const compare = (cell: unknown, value: string, type: string | undefined): number => {
  if (
    typeof cell === "number" ||
    typeof cell === "bigint" ||
    (type !== undefined && numericTypes.has(type))
  ) {
    const a = Number(cell)
    const b = Number(value)
    if (!Number.isNaN(a) && !Number.isNaN(b)) return a < b ? -1 : a > b ? 1 : 0
  }
  if (typeof cell === "boolean" || type === "bool") {
    const a = cell === true || cell === "t" || cell === "true"
    const b = ["t", "true", "1", "yes", "on"].includes(value.toLowerCase())
    return a === b ? 0 : a ? 1 : -1
  }
  const a = typeof cell === "string" ? cell : typeof cell === "object" ? JSON.stringify(cell) : String(cell)
  return a < value ? -1 : a > value ? 1 : 0
}

const likePattern = (pattern: string, flags: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
      .replace(/%/g, ".*")
      .replace(/_/g, ".")}$`,
    `s${flags}`,
  )

/**
 * True, false, or undefined for SQL's unknown (a comparison with NULL). `not.` turns true into
 * false and back but leaves unknown unknown, so neither `eq` nor `not.eq` matches a NULL cell.
 */
const evaluate = (condition: Condition, row: Row, types: ColumnTypes): boolean | undefined => {
  const cell = row[condition.column]
  const type = types.get(condition.column)
  const value = condition.values[0] ?? ""
  const isNull = cell === null || cell === undefined
  switch (condition.operator) {
    case "is": {
      const v = value.toLowerCase()
      if (v === "null" || v === "unknown") return isNull
      return isNull ? false : compare(cell, v, "bool") === 0
    }
    case "isdistinct":
      return isNull ? value.toLowerCase() !== "null" : compare(cell, value, type) !== 0
    default:
      if (isNull) return undefined
  }
  switch (condition.operator) {
    case "eq":
      return compare(cell, value, type) === 0
    case "neq":
      return compare(cell, value, type) !== 0
    case "lt":
      return compare(cell, value, type) < 0
    case "lte":
      return compare(cell, value, type) <= 0
    case "gt":
      return compare(cell, value, type) > 0
    case "gte":
      return compare(cell, value, type) >= 0
    case "in":
      return condition.values.some((v) => compare(cell, v, type) === 0)
    case "like":
      return likePattern(value, "").test(String(cell))
    case "ilike":
      return likePattern(value, "i").test(String(cell))
  }
}

/**
 * Whether a row passes every condition. With `partial`, a condition on a column the row lacks
 * passes: a DELETE usually carries only the primary key, and its absence cannot exclude it.
 */
export const matches = (
  conditions: ReadonlyArray<Condition>,
  row: Row,
  types: ColumnTypes,
  partial = false,
): boolean =>
  conditions.every((condition) => {
    if (partial && !(condition.column in row)) return true
    const result = evaluate(condition, row, types)
    if (result === undefined) return false
    return condition.negated ? !result : result
  })
