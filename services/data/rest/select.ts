// The `select` parameter's grammar: columns, aliases, casts, JSON paths, embeds and spreads.
import { type Cursor, type Field, field, fieldName, identifier, type Parsed, run } from "./grammar.ts"
import { memoized } from "./memoized.ts"

export type SelectItem =
  | { readonly kind: "star" }
  | {
      readonly kind: "field"
      readonly field: Field
      readonly alias: string | undefined
      readonly cast: string | undefined
      /** `count()`, `col.sum()`…: parsed so they can be refused as PostgREST does by default. */
      readonly aggregate: string | undefined
    }
  | {
      readonly kind: "embed"
      readonly name: string
      readonly alias: string | undefined
      readonly hint: string | undefined
      readonly join: "inner" | "left" | undefined
      readonly spread: boolean
      readonly children: ReadonlyArray<SelectItem>
    }

const atItemEnd = (c: Cursor) => c.atEnd || c.at(",") || c.at(")")

const itemEnd = (c: Cursor) => {
  if (!atItemEnd(c)) c.fail('"::", ".", ")", "," or end of input')
}

const alias = (c: Cursor): string | undefined =>
  c.attempt(() => {
    const name = fieldName(c)
    if (!c.at(":") || c.at("::")) c.fail('":"')
    c.pos += 1
    return name
  })

const word = (c: Cursor, w: string) =>
  c.attempt(() => {
    c.expect(w)
    if (/[\p{L}\p{N}_$]/u.test(c.peek())) c.fail(`"${w}"`)
    return w
  })

const embedParams = (c: Cursor) => {
  let hint: string | undefined
  let join: "inner" | "left" | undefined
  for (let i = 0; i < 2 && c.at("!"); i++) {
    c.pos += 1
    const j = word(c, "inner") ?? word(c, "left")
    if (j === "inner" || j === "left") join = j
    else hint = fieldName(c)
  }
  return { hint, join }
}

const embed = (c: Cursor, spread: boolean) => {
  c.spaces()
  if (spread) c.expect("...")
  const as = spread ? undefined : alias(c)
  const name = fieldName(c)
  if (name === "count" && !spread) c.fail('"("')
  const { hint, join } = embedParams(c)
  if (!c.at("(")) c.fail('"("')
  c.pos += 1
  const children = forest(c)
  c.expect(")")
  c.spaces()
  return { kind: "embed" as const, name, alias: as, hint, join, spread, children }
}

const cast = (c: Cursor) => (c.eat("::") ? identifier(c) : undefined)

const fieldItem = (c: Cursor): SelectItem => {
  c.spaces()
  if (c.eat("*")) {
    c.spaces()
    itemEnd(c)
    return { kind: "star" }
  }
  const as = alias(c)
  if (c.eat("count()")) {
    cast(c)
    c.spaces()
    itemEnd(c)
    return { kind: "field", field: { name: "*", path: [] }, alias: as, cast: undefined, aggregate: "count" }
  }
  const f = field(c)
  const type = cast(c)
  const aggregate = c.attempt(() => {
    c.expect(".")
    const name = ["sum", "avg", "count", "max", "min"].find((a) => c.eat(a))
    if (name === undefined) c.fail('"sum", "avg", "count", "max" or "min"')
    c.expect("()")
    return name
  })
  if (aggregate !== undefined) cast(c)
  c.spaces()
  itemEnd(c)
  return { kind: "field", field: f, alias: as, cast: type, aggregate }
}

const item = (c: Cursor): SelectItem =>
  c.attempt(() => embed(c, true)) ?? c.attempt(() => embed(c, false)) ?? fieldItem(c)

const forest = (c: Cursor): Array<SelectItem> => {
  c.spaces()
  if (atItemEnd(c) && !c.at(",")) return []
  const items = [item(c)]
  while (c.eat(",")) items.push(item(c))
  return items
}

export const parseSelect: (text: string) => Parsed<ReadonlyArray<SelectItem>> = memoized((text) =>
  run("select parameter", text, (c) => {
    const items = forest(c)
    if (!c.atEnd) c.fail('"," or end of input')
    return items
  }),
)
