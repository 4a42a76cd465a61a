// Sorts a request's query parameters into PostgREST's roles: select, order, ranges, filters, logic…
import type { Filter, LogicTree } from "./filters.ts"
import { parseColumns, parseFilterKey, parseLogic, parseOpExpr } from "./filters.ts"
import type { Parsed } from "./grammar.ts"
import type { OrderTerm } from "./order.ts"
import { parseOrder } from "./order.ts"
import { invalidRange } from "./PostgrestError.ts"
import type { SelectItem } from "./select.ts"
import { parseSelect } from "./select.ts"

export interface PathRange {
  readonly offset: number | undefined
  readonly limit: number | undefined
}

export interface QueryParams {
  readonly select: ReadonlyArray<SelectItem>
  readonly columns: ReadonlyArray<string> | undefined
  readonly onConflict: ReadonlyArray<string> | undefined
  readonly order: ReadonlyArray<{
    readonly path: ReadonlyArray<string>
    readonly terms: ReadonlyArray<OrderTerm>
  }>
  /** `limit` / `offset`, keyed by the embed path joined with "." ("" for the top level). */
  readonly ranges: ReadonlyMap<string, PathRange>
  readonly logic: ReadonlyArray<{ readonly path: ReadonlyArray<string>; readonly tree: LogicTree }>
  readonly filters: ReadonlyArray<{ readonly path: ReadonlyArray<string>; readonly filter: Filter }>
  /** On a GET/HEAD rpc, the parameters that are not filters: the function's arguments, in order. */
  readonly args: ReadonlyArray<readonly [string, string]>
}

const lastWord = (key: string) => key.slice(key.lastIndexOf(".") + 1)
const pathOf = (key: string) => (key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "")

const unwrap = <A>(p: Parsed<A>): A => {
  if (!p.ok) throw p.error
  return p.value
}

/** Whole non-negative integers only; anything else is ignored as PostgREST's `readMaybe` ignores it. */
const integer = (text: string): number | undefined =>
  /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : undefined

/** Throws the PostgrestError of the first malformed parameter. */
export const parseQuery = (
  query: ReadonlyArray<readonly [string, string]>,
  rpcRead: boolean,
): QueryParams => {
  const lookup = (name: string) => query.find(([k]) => k === name)?.[1]
  const selectText = lookup("select")
  const columnsText = lookup("columns")
  const onConflictText = lookup("on_conflict")
  const order: Array<{ path: ReadonlyArray<string>; terms: ReadonlyArray<OrderTerm> }> = []
  const logic: Array<{ path: ReadonlyArray<string>; tree: LogicTree }> = []
  const filters: Array<{ path: ReadonlyArray<string>; filter: Filter }> = []
  const args: Array<readonly [string, string]> = []
  const ranges = new Map<string, { offset: number | undefined; limit: number | undefined }>()
  const range = (path: string) => {
    const found = ranges.get(path) ?? { offset: undefined, limit: undefined }
    ranges.set(path, found)
    return found
  }
  for (const [key, value] of query) {
    if (key === "select" || key === "columns" || key === "on_conflict") continue
    switch (lastWord(key)) {
      case "order": {
        const path = unwrap(parseFilterKey(key)).path
        order.push({ path, terms: unwrap(parseOrder(value)) })
        continue
      }
      case "limit": {
        const n = integer(value)
        if (n !== undefined && n < 0) throw invalidRange("Limit should be greater than or equal to zero.")
        if (n !== undefined) range(pathOf(key)).limit = n
        continue
      }
      case "offset": {
        const n = integer(value)
        if (n !== undefined) range(pathOf(key)).offset = Math.max(n, 0)
        continue
      }
      case "and":
      case "or":
        logic.push(unwrap(parseLogic(key, value)))
        continue
    }
    const target = unwrap(parseFilterKey(key))
    const expr = parseOpExpr(value)
    if (!expr.ok && rpcRead && target.path.length === 0 && target.field.path.length === 0) {
      args.push([key, value])
      continue
    }
    filters.push({ path: target.path, filter: { field: target.field, expr: unwrap(expr) } })
  }
  return {
    select: selectText === undefined ? [{ kind: "star" }] : unwrap(parseSelect(selectText)),
    columns: columnsText === undefined ? undefined : unwrap(parseColumns("columns", columnsText)),
    onConflict:
      onConflictText === undefined ? undefined : unwrap(parseColumns("on_conflict", onConflictText)),
    order,
    ranges,
    logic,
    filters,
    args,
  }
}
