// The filter grammar: `[not.]op[(modifier)].value` on a field, and `and`/`or` trees of them.
import {
  type Cursor,
  type Field,
  field,
  fieldName,
  identifier,
  jsonPath,
  type Parsed,
  quotedValue,
  run,
} from "./grammar.ts"
import { memoized } from "./memoized.ts"

export type QuantOp = "eq" | "gt" | "gte" | "lt" | "lte" | "like" | "ilike" | "match" | "imatch"
export type SimpleOp = "neq" | "cs" | "cd" | "ov" | "sl" | "sr" | "nxr" | "nxl" | "adj"
export type FtsOp = "fts" | "plfts" | "phfts" | "wfts"
export type IsValue = "null" | "not_null" | "true" | "false" | "unknown"

export type Operation =
  | {
      readonly kind: "quant"
      readonly op: QuantOp
      readonly quantifier: "any" | "all" | undefined
      readonly value: string
    }
  | { readonly kind: "simple"; readonly op: SimpleOp; readonly value: string }
  | { readonly kind: "in"; readonly values: ReadonlyArray<string> }
  | { readonly kind: "is"; readonly value: IsValue }
  | { readonly kind: "isdistinct"; readonly value: string }
  | { readonly kind: "fts"; readonly op: FtsOp; readonly config: string | undefined; readonly value: string }

export interface OpExpr {
  readonly negated: boolean
  readonly operation: Operation
}

export interface Filter {
  readonly field: Field
  readonly expr: OpExpr
}

export type LogicTree =
  | { readonly kind: "filter"; readonly filter: Filter }
  | {
      readonly kind: "logic"
      readonly negated: boolean
      readonly op: "and" | "or"
      readonly children: ReadonlyArray<LogicTree>
    }

const quantOps: ReadonlyArray<QuantOp> = ["eq", "gte", "gt", "lte", "lt", "like", "ilike", "match", "imatch"]
const simpleOps: ReadonlyArray<SimpleOp> = ["neq", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"]
const ftsOps: ReadonlyArray<FtsOp> = ["fts", "plfts", "phfts", "wfts"]
const isValues: ReadonlyArray<IsValue> = ["null", "not_null", "true", "false", "unknown"]

const listElement = (c: Cursor): string =>
  c.attempt(() => {
    const v = quotedValue(c)
    if (!c.atEnd && !c.at(",") && !c.at(")")) c.fail('"," or ")"')
    return v
  }) ?? untilAny(c, ",)")

const untilAny = (c: Cursor, stops: string): string => {
  const start = c.pos
  while (!c.atEnd && !stops.includes(c.peek())) c.pos += 1
  return c.text.slice(start, c.pos)
}

const list = (c: Cursor): ReadonlyArray<string> => {
  c.spaces()
  c.expect("(")
  c.spaces()
  const values = [listElement(c)]
  while (c.eat(",")) values.push(listElement(c))
  c.spaces()
  c.expect(")")
  c.spaces()
  return values
}

/** Inside `and`/`or` a value ends at `,` or `)` unless quoted or a `{…}` array literal. */
const logicValue = (c: Cursor): string =>
  c.attempt(() => {
    const v = quotedValue(c)
    if (!c.atEnd && !c.at(",") && !c.at(")")) c.fail('"," or ")"')
    return v
  }) ??
  c.attempt(() => {
    const start = c.pos
    c.expect("{")
    untilAny(c, "{}")
    c.expect("}")
    return c.text.slice(start, c.pos)
  }) ??
  untilAny(c, ",)")

const restOf = (c: Cursor): string => {
  const v = c.text.slice(c.pos)
  c.pos = c.text.length
  return v
}

const opExpr = (c: Cursor, value: (c: Cursor) => string): OpExpr => {
  const negated = c.eat("not.")
  const operation =
    c.attempt((): Operation => {
      c.expect("in.")
      return { kind: "in", values: list(c) }
    }) ??
    c.attempt((): Operation => {
      c.expect("is.")
      const found = isValues.find((v) => c.peek(v.length).toLowerCase() === v)
      if (found === undefined) c.fail("isVal: (null, not_null, true, false, unknown)")
      c.pos += found.length
      return { kind: "is", value: found }
    }) ??
    c.attempt((): Operation => {
      c.expect("isdistinct.")
      return { kind: "isdistinct", value: value(c) }
    }) ??
    c.attempt((): Operation => {
      const op = ftsOps.find((o) => c.eat(o))
      if (op === undefined) c.fail("operator")
      const config = c.attempt(() => {
        c.expect("(")
        const name = identifier(c)
        c.expect(")")
        return name
      })
      c.expect(".")
      return { kind: "fts", op, config, value: value(c) }
    }) ??
    c.attempt((): Operation => {
      const op = simpleOps.find((o) => c.eat(o))
      if (op === undefined) c.fail("operator")
      c.expect(".")
      return { kind: "simple", op, value: value(c) }
    }) ??
    c.attempt((): Operation => {
      const op = quantOps.find((o) => c.eat(o))
      if (op === undefined) c.fail("operator")
      const quantifier = c.eat("(any)") ? "any" : c.eat("(all)") ? "all" : undefined
      c.expect(".")
      return { kind: "quant", op, quantifier, value: value(c) }
    })
  if (operation === undefined) c.fail("operator (eq, gt, ...)")
  return { negated, operation }
}

/**
 * The commonest filters (`id=eq.5`, `not.name=like.a*`) without the general grammar, which tries
 * each operator family in turn and throws to backtrack from each: for these the answer is the same,
 * as none of the families tried before theirs accepts them.
 */
const common = /^(not\.)?(eq|neq|gt|gte|lt|lte|like|ilike)\.(.*)$/s

/** The value of a `col=…` parameter. */
export const parseOpExpr = (text: string): Parsed<OpExpr> => {
  const quick = common.exec(text)
  if (quick !== null) {
    const [, not, op, value] = quick as unknown as [string, string | undefined, string, string]
    const operation: Operation =
      op === "neq"
        ? { kind: "simple", op: "neq", value }
        : { kind: "quant", op: op as QuantOp, quantifier: undefined, value }
    return { ok: true, value: { negated: not !== undefined, operation } }
  }
  return parseOpExprByGrammar(text)
}

/** The general grammar for every filter value; the shortcut above must agree with it (tested). */
export const parseOpExprByGrammar = (text: string): Parsed<OpExpr> =>
  run("filter", text, (c) => opExpr(c, restOf))

/** A filter key: an embed path, then the field (`rel.data->>a`). */
export const parseFilterKey: (
  text: string,
) => Parsed<{ readonly path: ReadonlyArray<string>; readonly field: Field }> = memoized((text) =>
  run("tree path", text, (c) => {
    const names = [fieldName(c)]
    while (c.eat(".")) names.push(fieldName(c))
    const path = jsonPath(c)
    if (!c.atEnd) c.fail('".", "->", "->>" or end of input')
    return { path: names.slice(0, -1), field: { name: names[names.length - 1]!, path } }
  }),
)

const logicTree = (c: Cursor): LogicTree => {
  const filter = c.attempt((): LogicTree => {
    const f = field(c)
    c.expect(".")
    return { kind: "filter", filter: { field: f, expr: opExpr(c, logicValue) } }
  })
  if (filter !== undefined) return filter
  const negated = c.eat("not.")
  const op = c.eat("and") ? "and" : c.eat("or") ? "or" : c.fail("logic operator (and, or)")
  c.spaces()
  c.expect("(")
  c.spaces()
  const children = [logicTree(c)]
  c.spaces()
  while (c.eat(",")) {
    c.spaces()
    children.push(logicTree(c))
    c.spaces()
  }
  c.expect(")")
  c.spaces()
  return { kind: "logic", negated, op, children }
}

/** An `or=(…)` / `not.and=(…)` parameter: its key's embed path and the tree. */
export const parseLogic = (
  key: string,
  value: string,
): Parsed<{ path: ReadonlyArray<string>; tree: LogicTree }> => {
  const parts = key.split(".")
  const op = parts[parts.length - 1]!
  const negated = parts.slice(0, -1).includes("not")
  const path = parts.slice(0, -1).filter((p) => p !== "not")
  // PostgREST reads the key's operator in front of the value, so `or=(a,b)` is the tree `or(a,b)`.
  const tree = run("logic tree", value, logicTree, `${negated ? "not." : ""}${op}`)
  return tree.ok ? { ok: true, value: { path, tree: tree.value } } : tree
}

/** The `columns` / `on_conflict` parameters: field names separated by commas. */
export const parseColumns = (what: string, text: string): Parsed<ReadonlyArray<string>> =>
  run(`${what} parameter`, text, (c) => {
    c.spaces()
    const names = [fieldName(c)]
    c.spaces()
    while (c.eat(",")) {
      c.spaces()
      names.push(fieldName(c))
      c.spaces()
    }
    if (!c.atEnd) c.fail('"," or end of input')
    return names
  })
