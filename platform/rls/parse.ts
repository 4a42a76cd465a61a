// Reads a policy expression as `pg_get_expr` prints it into a syntax tree; names are resolved later.

export interface Select {
  readonly target: Syntax
  readonly from:
    | { readonly schema: string | undefined; readonly table: string; readonly alias: string }
    | undefined
  readonly where: Syntax | undefined
}

export type Syntax =
  | { readonly kind: "column"; readonly qualifier: string | undefined; readonly name: string }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "number"; readonly value: string }
  | { readonly kind: "boolean"; readonly value: boolean }
  | { readonly kind: "null" }
  /** `type` as format_type prints it: `integer`, `character varying(20)`, `text[]`, `public.mood`. */
  | { readonly kind: "cast"; readonly expr: Syntax; readonly type: string }
  | { readonly kind: "call"; readonly name: string; readonly args: ReadonlyArray<Syntax> }
  | { readonly kind: "binary"; readonly op: string; readonly left: Syntax; readonly right: Syntax }
  | {
      readonly kind: "quantified"
      readonly op: string
      readonly all: boolean
      readonly left: Syntax
      readonly items: ReadonlyArray<Syntax>
    }
  | {
      readonly kind: "is"
      readonly test: "null" | "true" | "false" | "unknown"
      readonly negated: boolean
      readonly expr: Syntax
    }
  | { readonly kind: "and" | "or"; readonly items: ReadonlyArray<Syntax> }
  | { readonly kind: "not"; readonly expr: Syntax }
  | { readonly kind: "in"; readonly left: Syntax; readonly query: Select; readonly negated: boolean }
  | { readonly kind: "exists"; readonly query: Select }
  | { readonly kind: "subquery"; readonly query: Select }

type Token =
  | { readonly t: "word"; readonly v: string; readonly quoted: boolean }
  | { readonly t: "string" | "number" | "op"; readonly v: string }
  | { readonly t: "end" }

class ParseError extends Error {}

const fail = (message: string): never => {
  throw new ParseError(message)
}

const operatorChars = /[+\-*/<>=~!@#%^&|`?]/

const tokenize = (text: string): Array<Token> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (/\s/.test(c)) {
      i++
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i))![0]
      tokens.push({ t: "word", v: m.toLowerCase(), quoted: false })
      i += m.length
    } else if (c === '"') {
      const m = /^"((?:[^"]|"")*)"/.exec(text.slice(i)) ?? fail("unterminated identifier")
      tokens.push({ t: "word", v: m[1]!.replaceAll('""', '"'), quoted: true })
      i += m[0].length
    } else if (c === "'") {
      const m = /^'((?:[^']|'')*)'/.exec(text.slice(i)) ?? fail("unterminated string")
      tokens.push({ t: "string", v: m[1]!.replaceAll("''", "'") })
      i += m[0].length
    } else if (/\d/.test(c)) {
      const m = /^\d+(\.\d*)?([eE][+-]?\d+)?/.exec(text.slice(i))![0]
      if (/[A-Za-z_]/.test(text[i + m.length] ?? "")) fail(`number ${m} runs into a name`)
      tokens.push({ t: "number", v: m })
      i += m.length
    } else if (c === ":" && text[i + 1] === ":") {
      tokens.push({ t: "op", v: "::" })
      i += 2
    } else if ("(),.[]".includes(c)) {
      tokens.push({ t: "op", v: c })
      i++
    } else if (operatorChars.test(c)) {
      let j = i
      while (j < text.length && operatorChars.test(text[j]!)) j++
      tokens.push({ t: "op", v: text.slice(i, j) })
      i = j
    } else {
      fail(`unexpected ${JSON.stringify(c)}`)
    }
  }
  tokens.push({ t: "end" })
  return tokens
}

/** Words that end an expression or start a clause; they are names only when quoted. */
const reserved = new Set([
  "and",
  "or",
  "not",
  "is",
  "null",
  "true",
  "false",
  "in",
  "any",
  "all",
  "array",
  "select",
  "from",
  "where",
  "as",
  "exists",
])

/** The words after the first of a multi-word type name (`timestamp with time zone`). */
const typeWords = new Set(["varying", "precision", "with", "without", "time", "zone"])

const comparisons = new Set(["=", "<>", "<", "<=", ">", ">="])

class Parser {
  private i = 0
  constructor(private readonly tokens: ReadonlyArray<Token>) {}

  private get peek(): Token {
    return this.tokens[this.i]!
  }

  private next(): Token {
    return this.tokens[this.i++]!
  }

  private isKeyword(word: string, offset = 0): boolean {
    const token = this.tokens[this.i + offset]
    return token?.t === "word" && !token.quoted && token.v === word
  }

  private isOp(op: string): boolean {
    return this.peek.t === "op" && (this.peek as { v: string }).v === op
  }

  private unquoted(): string | undefined {
    const token = this.peek
    return token.t === "word" && !token.quoted ? token.v : undefined
  }

  private acceptKeyword(word: string): boolean {
    if (!this.isKeyword(word)) return false
    this.i++
    return true
  }

  private acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false
    this.i++
    return true
  }

  private expectOp(op: string): void {
    if (!this.acceptOp(op)) fail(`expected ${op}`)
  }

  private expectKeyword(word: string): void {
    if (!this.acceptKeyword(word)) fail(`expected ${word.toUpperCase()}`)
  }

  private name(): string {
    const token = this.next()
    if (token.t !== "word" || (!token.quoted && reserved.has(token.v))) return fail("expected a name")
    return token.v
  }

  whole(): Syntax {
    const expr = this.or()
    if (this.peek.t !== "end") fail("unexpected text after the expression")
    return expr
  }

  private or(): Syntax {
    const items = [this.and()]
    while (this.acceptKeyword("or")) items.push(this.and())
    return items.length === 1 ? items[0]! : { kind: "or", items }
  }

  private and(): Syntax {
    const items = [this.not()]
    while (this.acceptKeyword("and")) items.push(this.not())
    return items.length === 1 ? items[0]! : { kind: "and", items }
  }

  private not(): Syntax {
    return this.acceptKeyword("not") ? { kind: "not", expr: this.not() } : this.is()
  }

  private is(): Syntax {
    let expr = this.comparison()
    while (this.acceptKeyword("is")) {
      const negated = this.acceptKeyword("not")
      const test = (["null", "true", "false", "unknown"] as const).find((w) => this.acceptKeyword(w))
      if (test === undefined) fail("expected NULL, TRUE, FALSE or UNKNOWN after IS")
      expr = { kind: "is", test: test!, negated, expr }
    }
    return expr
  }

  private comparison(): Syntax {
    const left = this.operator()
    if (this.isKeyword("in") || (this.isKeyword("not") && this.isKeyword("in", 1))) {
      const negated = this.acceptKeyword("not")
      this.expectKeyword("in")
      this.expectOp("(")
      if (this.isKeyword("select")) {
        const query = this.select()
        this.expectOp(")")
        return { kind: "in", left, query, negated }
      }
      const items = this.list(")")
      return { kind: "quantified", op: negated ? "<>" : "=", all: negated, left, items }
    }
    const token = this.peek
    if (token.t !== "op" || !comparisons.has(token.v)) return left
    this.i++
    if (this.isKeyword("any") || this.isKeyword("all")) {
      const all = this.isKeyword("all")
      this.i++
      this.expectOp("(")
      this.expectKeyword("array")
      this.expectOp("[")
      const items = this.list("]")
      this.expectOp(")")
      return { kind: "quantified", op: token.v, all, left, items }
    }
    return { kind: "binary", op: token.v, left, right: this.operator() }
  }

  /** Items up to `close`, which is consumed. */
  private list(close: string): Array<Syntax> {
    const items = [this.or()]
    while (this.acceptOp(",")) items.push(this.or())
    this.expectOp(close)
    return items
  }

  /** `->` and `->>`, left-associative, binding tighter than comparisons as Postgres's other operators do. */
  private operator(): Syntax {
    let left = this.cast()
    while (this.isOp("->") || this.isOp("->>")) {
      const op = (this.next() as { v: string }).v
      left = { kind: "binary", op, left, right: this.cast() }
    }
    if (this.peek.t === "op" && !comparisons.has(this.peek.v) && ![")", ",", "]"].includes(this.peek.v)) {
      fail(`operator ${this.peek.v} is not evaluated in memory`)
    }
    return left
  }

  private cast(): Syntax {
    let expr = this.primary()
    while (this.acceptOp("::")) expr = { kind: "cast", expr, type: this.typeName() }
    return expr
  }

  private typeName(): string {
    let name = this.name()
    while (this.acceptOp(".")) name += `.${this.name()}`
    for (let word = this.unquoted(); word !== undefined && typeWords.has(word); word = this.unquoted()) {
      this.i++
      name += ` ${word}`
    }
    if (this.acceptOp("(")) {
      const modifiers = [this.next()]
      while (this.acceptOp(",")) modifiers.push(this.next())
      this.expectOp(")")
      if (modifiers.some((m) => m.t !== "number")) fail("expected a number in a type modifier")
      name += `(${modifiers.map((m) => (m as { v: string }).v).join(",")})`
    }
    while (this.acceptOp("[")) {
      this.expectOp("]")
      name += "[]"
    }
    return name
  }

  private primary(): Syntax {
    const token = this.peek
    if (token.t === "string" || token.t === "number") {
      this.i++
      return { kind: token.t, value: token.v }
    }
    if (this.acceptOp("(")) {
      if (this.isKeyword("select")) {
        const query = this.select()
        this.expectOp(")")
        return { kind: "subquery", query }
      }
      const expr = this.or()
      this.expectOp(")")
      return expr
    }
    if (this.acceptKeyword("true")) return { kind: "boolean", value: true }
    if (this.acceptKeyword("false")) return { kind: "boolean", value: false }
    if (this.acceptKeyword("null")) return { kind: "null" }
    if (this.acceptKeyword("exists")) {
      this.expectOp("(")
      const query = this.select()
      this.expectOp(")")
      return { kind: "exists", query }
    }
    const parts = [this.name()]
    while (this.acceptOp(".")) parts.push(this.name())
    if (this.acceptOp("(")) {
      const args = this.acceptOp(")") ? [] : this.list(")")
      if (parts.length > 2) fail("a function name has at most a schema")
      return { kind: "call", name: parts.join("."), args }
    }
    if (parts.length === 1) return { kind: "column", qualifier: undefined, name: parts[0]! }
    if (parts.length === 2) return { kind: "column", qualifier: parts[0], name: parts[1]! }
    return fail("a column is named by at most its table")
  }

  /** `SELECT target [AS a] [FROM [schema.]table [[AS] alias]] [WHERE cond]`, nothing more. */
  private select(): Select {
    this.expectKeyword("select")
    const target = this.or()
    if (this.acceptKeyword("as")) this.name()
    let from: Select["from"]
    if (this.acceptKeyword("from")) {
      let schema: string | undefined
      let table = this.name()
      if (this.acceptOp(".")) {
        schema = table
        table = this.name()
      }
      this.acceptKeyword("as")
      const next = this.peek
      const aliased = next.t === "word" && (next.quoted || !reserved.has(next.v))
      from = { schema, table, alias: aliased ? this.name() : table }
    }
    const where = this.acceptKeyword("where") ? this.or() : undefined
    return { target, from, where }
  }
}

/** The syntax tree of `text`, or why it is not of the form evaluated in memory. */
export const parse = (
  text: string,
): { readonly ok: true; readonly syntax: Syntax } | { readonly ok: false; readonly reason: string } => {
  try {
    return { ok: true, syntax: new Parser(tokenize(text)).whole() }
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, reason: error.message }
    throw error
  }
}
