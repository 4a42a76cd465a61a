// The pieces PostgREST's query-string grammars share: a cursor, field names, JSON paths, quoted values.
import { type PostgrestError, parseError } from "./PostgrestError.ts"

export interface JsonStep {
  readonly arrow: "->" | "->>"
  readonly key: string
  /** An array index (`->0`, `->-1`) rather than an object key. */
  readonly index: boolean
}

/** A column, maybe followed by a JSON path: `data->a->>b`. */
export interface Field {
  readonly name: string
  readonly path: ReadonlyArray<JsonStep>
}

export class ParseFailure {
  constructor(
    readonly pos: number,
    readonly expecting: string,
  ) {}
}

export type Parsed<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly error: PostgrestError }

export class Cursor {
  pos = 0
  /** The failure that got furthest, which is the one worth reporting, as Parsec reports it. */
  furthest: ParseFailure | undefined
  constructor(readonly text: string) {}
  get atEnd() {
    return this.pos >= this.text.length
  }
  peek(n = 1) {
    return this.text.slice(this.pos, this.pos + n)
  }
  at(s: string) {
    return this.text.startsWith(s, this.pos)
  }
  eat(s: string): boolean {
    if (!this.at(s)) return false
    this.pos += s.length
    return true
  }
  expect(s: string, what = `"${s}"`) {
    if (!this.eat(s)) this.fail(what)
  }
  fail(expecting: string): never {
    const failure = new ParseFailure(this.pos, expecting)
    if (this.furthest === undefined || failure.pos >= this.furthest.pos) this.furthest = failure
    throw failure
  }
  spaces() {
    while (this.peek() === " " || this.peek() === "\t") this.pos += 1
  }
  /** Runs `p`; on failure puts the cursor back and returns undefined. */
  attempt<A>(p: () => A): A | undefined {
    const start = this.pos
    try {
      return p()
    } catch (e) {
      if (!(e instanceof ParseFailure)) throw e
      this.pos = start
      return undefined
    }
  }
}

/** Runs a whole-parameter parser, turning a failure into PostgREST's PGRST100 wording. */
export const run = <A>(what: string, text: string, p: (c: Cursor) => A, prefix = ""): Parsed<A> => {
  const cursor = new Cursor(prefix + text)
  try {
    return { ok: true, value: p(cursor) }
  } catch (e) {
    if (!(e instanceof ParseFailure)) throw e
    const failure = cursor.furthest !== undefined && cursor.furthest.pos > e.pos ? cursor.furthest : e
    const found =
      failure.pos >= cursor.text.length ? "end of input" : JSON.stringify(cursor.text[failure.pos])
    return {
      ok: false,
      error: parseError(
        `"failed to parse ${what} (${text})" (line 1, column ${Math.max(failure.pos - prefix.length, 0) + 1})`,
        `unexpected ${found} expecting ${failure.expecting}`,
      ),
    }
  }
}

const identifierChar = /[\p{L}\p{N}_ $]/u

const many1 = (c: Cursor, accept: (ch: string) => boolean, what: string): string => {
  const start = c.pos
  while (!c.atEnd && accept(c.peek())) c.pos += 1
  if (c.pos === start) c.fail(what)
  return c.text.slice(start, c.pos)
}

/** `"…"` with backslash escapes, as postgrest-js quotes values holding `,` `(` `)` or `"`. */
export const quotedValue = (c: Cursor): string => {
  c.expect('"')
  let out = ""
  for (;;) {
    if (c.atEnd) c.fail('"\\"" (closing quote)')
    const ch = c.peek()
    if (ch === '"') break
    if (ch === "\\") {
      c.pos += 1
      if (c.atEnd) c.fail("any character")
    }
    out += c.peek()
    c.pos += 1
  }
  c.pos += 1
  return out
}

/** A dash joins name parts unless it starts an arrow. */
const sepByDash = (c: Cursor, part: () => string): string => {
  const parts = [part()]
  while (c.at("-") && !c.at("->")) {
    c.pos += 1
    parts.push(part())
  }
  return parts.join("-")
}

export const identifier = (c: Cursor): string =>
  many1(c, (ch) => identifierChar.test(ch), 'letter, digit, "_", "$" or " "').trim()

export const fieldName = (c: Cursor): string => {
  if (c.at('"')) return quotedValue(c)
  return sepByDash(c, () => identifier(c))
}

const jsonKey = (c: Cursor): string => {
  if (c.at('"')) return quotedValue(c)
  return sepByDash(c, () =>
    many1(c, (ch) => !"(-:.,>)".includes(ch), "any character different from: .,>()").trim(),
  )
}

const endsIndex = (c: Cursor) => c.atEnd || c.at("->") || c.at("::") || c.at(".") || c.at(",") || c.at(")")

export const jsonPath = (c: Cursor): ReadonlyArray<JsonStep> => {
  const steps: Array<JsonStep> = []
  for (;;) {
    const arrow = c.eat("->>") ? "->>" : c.eat("->") ? "->" : undefined
    if (arrow === undefined) return steps
    const index = c.attempt(() => {
      const sign = c.eat("-") ? "-" : ""
      const digits = many1(c, (ch) => ch >= "0" && ch <= "9", "digit")
      if (!endsIndex(c)) c.fail('"->", "::", ".", "," or end of input')
      return sign + digits
    })
    steps.push(
      index !== undefined ? { arrow, key: index, index: true } : { arrow, key: jsonKey(c), index: false },
    )
  }
}

export const field = (c: Cursor): Field => {
  c.spaces()
  const name = fieldName(c)
  const path = jsonPath(c)
  c.spaces()
  return { name, path }
}

/** The key PostgREST gives a selected field: the last JSON key, else the column name. */
export const fieldKey = (f: Field): string => (f.path.length === 0 ? f.name : f.path[f.path.length - 1]!.key)
