// The `order` parameter's grammar: `col.desc.nullslast,data->a,rel(col).asc`.
import { type Cursor, type Field, field, fieldName, type Parsed, run } from "./grammar.ts"
import { memoized } from "./memoized.ts"

export interface OrderTerm {
  readonly field: Field
  /** Set when ordering by a column of a to-one embedded resource: `rel(col)`. */
  readonly relation: string | undefined
  readonly direction: "asc" | "desc" | undefined
  readonly nulls: "nullsfirst" | "nullslast" | undefined
}

const termEnd = (c: Cursor) => {
  c.spaces()
  if (!c.atEnd && !c.at(",")) c.fail('delimiter (.), "," or end of input')
}

const modifiers = (c: Cursor) => {
  const direction = c.eat(".asc") ? "asc" : c.eat(".desc") ? "desc" : undefined
  const nulls = c.eat(".nullsfirst") ? "nullsfirst" : c.eat(".nullslast") ? "nullslast" : undefined
  termEnd(c)
  return { direction, nulls } as const
}

const relationTerm = (c: Cursor): OrderTerm => {
  c.spaces()
  const relation = fieldName(c)
  c.expect("(")
  const f = field(c)
  c.expect(")")
  return { field: f, relation, ...modifiers(c) }
}

const term = (c: Cursor): OrderTerm =>
  c.attempt(() => relationTerm(c)) ?? { field: field(c), relation: undefined, ...modifiers(c) }

export const parseOrder: (text: string) => Parsed<ReadonlyArray<OrderTerm>> = memoized((text) =>
  run("order", text, (c) => {
    const terms = [term(c)]
    while (c.eat(",")) terms.push(term(c))
    return terms
  }),
)
