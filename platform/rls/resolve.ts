// Turns a parsed policy into a typed predicate over the row, the JWT claims and membership tables,
// or says why it must be evaluated by Postgres.
import type { Select, Syntax } from "./parse.ts"
import { castable, categoryOf, fromText, type Scalar, type SqlType, typeOf, Undecidable } from "./SqlValue.ts"

export type CompareOp = "=" | "<>" | "<" | "<=" | ">" | ">="

/** One `column = value` condition of a membership test. */
export interface Condition {
  readonly column: string
  readonly value: Node
}

export type Node =
  | { readonly kind: "column"; readonly type: SqlType; readonly name: string }
  | { readonly kind: "const"; readonly type: SqlType; readonly value: Scalar | null }
  /** `->>` of the claim at `path`; auth.uid(), auth.role(), auth.email() read '' as NULL. */
  | {
      readonly kind: "claim"
      readonly type: "text"
      readonly path: ReadonlyArray<string>
      readonly emptyIsNull: boolean
    }
  | { readonly kind: "cast"; readonly type: SqlType; readonly from: SqlType; readonly expr: Node }
  | {
      readonly kind: "compare"
      readonly type: "bool"
      readonly op: CompareOp
      readonly left: Node
      readonly right: Node
    }
  /** `left op ANY (ARRAY[items])`, or ALL when `all`. */
  | {
      readonly kind: "quantified"
      readonly type: "bool"
      readonly op: CompareOp
      readonly all: boolean
      readonly left: Node
      readonly items: ReadonlyArray<Node>
    }
  | {
      readonly kind: "is"
      readonly type: "bool"
      readonly test: "null" | "true" | "false"
      readonly negated: boolean
      readonly expr: Node
    }
  | { readonly kind: "and" | "or"; readonly type: "bool"; readonly items: ReadonlyArray<Node> }
  | { readonly kind: "not"; readonly type: "bool"; readonly expr: Node }
  /** Some row of schema.table has every condition's column equal to its value. */
  | {
      readonly kind: "member"
      readonly type: "bool"
      readonly schema: string
      readonly table: string
      readonly conditions: ReadonlyArray<Condition>
    }

export interface Column {
  readonly name: string
  /** As format_type prints it. */
  readonly type: string
}

export interface Relation {
  readonly schema: string
  readonly table: string
  readonly columns: ReadonlyArray<Column>
  /** Primary key columns; empty when there is none. */
  readonly key: ReadonlyArray<string>
}

export interface MembershipTable {
  readonly schema: string
  readonly table: string
  /** The columns membership tests compare. */
  readonly columns: ReadonlyArray<string>
  readonly key: ReadonlyArray<string>
}

export interface Resolved {
  readonly node: Node
  /** Every claim path the predicate reads. */
  readonly claims: ReadonlyArray<ReadonlyArray<string>>
  readonly membership: ReadonlyArray<MembershipTable>
}

class Unsupported extends Error {}

const unsupported = (reason: string): never => {
  throw new Unsupported(reason)
}

const comparisonOps = new Set<string>(["=", "<>", "<", "<=", ">", ">="])

/** A bare number is an integer of the smallest type holding it, or numeric, as Postgres reads it. */
const numberLiteral = (text: string): Node => {
  if (!/^\d+$/.test(text)) return { kind: "const", type: "numeric", value: fromText("numeric", text) }
  const n = BigInt(text)
  if (n < 2n ** 31n) return { kind: "const", type: "int4", value: n }
  if (n < 2n ** 63n) return { kind: "const", type: "int8", value: n }
  return { kind: "const", type: "numeric", value: fromText("numeric", text) }
}

interface Scope {
  /** The subquery's table, when resolving inside one. */
  readonly inner: { readonly alias: string; readonly relation: Relation } | undefined
  /** Only AND and OR lie between here and the root, so NULL and FALSE need not be told apart. */
  readonly positive: boolean
}

class Resolver {
  readonly claims = new Map<string, ReadonlyArray<string>>()
  readonly membership = new Map<string, { relation: Relation; columns: Set<string> }>()

  constructor(
    private readonly table: Relation,
    private readonly relations: ReadonlyArray<Relation>,
  ) {}

  private columnType(relation: Relation, name: string): SqlType {
    const column = relation.columns.find((c) => c.name === name)
    if (column === undefined) return unsupported(`no column ${relation.table}.${name}`)
    return typeOf(column.type) ?? unsupported(`column ${name} has type ${column.type}`)
  }

  private claim(path: ReadonlyArray<string>, emptyIsNull: boolean): Node {
    this.claims.set(JSON.stringify(path), path)
    return { kind: "claim", type: "text", path, emptyIsNull }
  }

  /** The claim path of a jsonb expression: auth.jwt(), the claims setting, and `->` into them. */
  private json(syntax: Syntax, scope: Scope): ReadonlyArray<string> {
    if (syntax.kind === "call" && syntax.name === "auth.jwt" && syntax.args.length === 0) return []
    if (syntax.kind === "subquery" && syntax.query.from === undefined && syntax.query.where === undefined) {
      return this.json(syntax.query.target, scope)
    }
    if (syntax.kind === "cast" && (syntax.type === "json" || syntax.type === "jsonb")) {
      const setting = syntax.expr
      const [name, missingOk] = setting.kind === "call" ? setting.args : []
      if (
        setting.kind === "call" &&
        setting.name === "current_setting" &&
        setting.args.length === 2 &&
        this.literalText(name) === "request.jwt.claims" &&
        missingOk?.kind === "boolean" &&
        missingOk.value
      ) {
        return []
      }
    }
    if (syntax.kind === "binary" && syntax.op === "->") {
      return [...this.json(syntax.left, scope), this.key(syntax.right)]
    }
    return unsupported("a JSON value other than the JWT claims")
  }

  private literalText(syntax: Syntax | undefined): string | undefined {
    if (syntax?.kind === "string") return syntax.value
    if (syntax?.kind === "cast" && syntax.type === "text" && syntax.expr.kind === "string")
      return syntax.expr.value
    return undefined
  }

  private key(syntax: Syntax): string {
    return this.literalText(syntax) ?? unsupported("a JSON key that is not a text literal")
  }

  private literal(syntax: Syntax, type: SqlType): Node {
    if (syntax.kind === "null") return { kind: "const", type, value: null }
    if (syntax.kind !== "string") return unsupported("a cast literal")
    try {
      return { kind: "const", type, value: fromText(type, syntax.value) }
    } catch (error) {
      if (error instanceof Undecidable) return unsupported(`literal ${error.message}`)
      throw error
    }
  }

  private column(qualifier: string | undefined, name: string, scope: Scope): Node {
    const inner = scope.inner
    if (inner !== undefined) {
      const innerHas = inner.relation.columns.some((c) => c.name === name)
      if (qualifier === inner.alias || (qualifier === undefined && innerHas)) {
        return unsupported(`${inner.alias}.${name} outside a membership condition`)
      }
    }
    if (qualifier !== undefined && qualifier !== this.table.table)
      return unsupported(`unknown table ${qualifier}`)
    return { kind: "column", type: this.columnType(this.table, name), name }
  }

  scalar(syntax: Syntax, scope: Scope): Node {
    switch (syntax.kind) {
      case "column":
        return this.column(syntax.qualifier, syntax.name, scope)
      case "number":
        return numberLiteral(syntax.value)
      case "boolean":
        return { kind: "const", type: "bool", value: syntax.value }
      case "cast": {
        if (syntax.type.includes("(")) return unsupported(`a cast to ${syntax.type}`)
        const type = typeOf(syntax.type) ?? unsupported(`a cast to ${syntax.type}`)
        if (syntax.expr.kind === "string" || syntax.expr.kind === "null")
          return this.literal(syntax.expr, type)
        const expr = this.scalar(syntax.expr, { ...scope, positive: false })
        if (!castable(expr.type, type)) return unsupported(`a cast from ${expr.type} to ${type}`)
        return expr.type === type ? expr : { kind: "cast", type, from: expr.type, expr }
      }
      case "call":
        if (syntax.args.length === 0 && syntax.name === "auth.uid") {
          return { kind: "cast", type: "uuid", from: "text", expr: this.claim(["sub"], true) }
        }
        if (syntax.args.length === 0 && syntax.name === "auth.role") return this.claim(["role"], true)
        if (syntax.args.length === 0 && syntax.name === "auth.email") return this.claim(["email"], true)
        return unsupported(`function ${syntax.name}`)
      case "subquery":
        if (syntax.query.from !== undefined || syntax.query.where !== undefined) {
          return unsupported("a subquery other than ( SELECT <claim> )")
        }
        return this.scalar(syntax.query.target, { ...scope, positive: false })
      case "binary":
        if (syntax.op === "->>")
          return this.claim([...this.json(syntax.left, scope), this.key(syntax.right)], false)
        if (comparisonOps.has(syntax.op))
          return this.compare(syntax.op as CompareOp, syntax.left, syntax.right, scope)
        return unsupported(`operator ${syntax.op}`)
      case "quantified": {
        const left = this.scalar(syntax.left, { ...scope, positive: false })
        const items = syntax.items.map((item) => this.scalar(item, { ...scope, positive: false }))
        for (const item of items) this.comparable(syntax.op as CompareOp, left, item)
        return { kind: "quantified", type: "bool", op: syntax.op as CompareOp, all: syntax.all, left, items }
      }
      case "is": {
        const expr = this.scalar(syntax.expr, { ...scope, positive: false })
        const test = syntax.test === "unknown" ? "null" : syntax.test
        if (test !== "null" && expr.type !== "bool") return unsupported(`IS ${test} of ${expr.type}`)
        return { kind: "is", type: "bool", test, negated: syntax.negated, expr }
      }
      case "and":
      case "or":
        return {
          kind: syntax.kind,
          type: "bool",
          items: syntax.items.map((item) => this.predicate(item, scope)),
        }
      case "not":
        return { kind: "not", type: "bool", expr: this.predicate(syntax.expr, { ...scope, positive: false }) }
      case "in":
        if (syntax.negated) return unsupported("NOT IN ( SELECT ... )")
        return this.member(syntax.query, syntax.left, scope)
      case "exists":
        return this.member(syntax.query, undefined, scope)
      case "string":
      case "null":
        return unsupported("a literal without a type")
    }
  }

  predicate(syntax: Syntax, scope: Scope): Node {
    const node = this.scalar(syntax, scope)
    return node.type === "bool" ? node : unsupported(`a ${node.type} used as a condition`)
  }

  private comparable(op: CompareOp, left: Node, right: Node): void {
    const category = categoryOf(left.type)
    if (category !== categoryOf(right.type)) unsupported(`${left.type} ${op} ${right.type}`)
    // Text order depends on the collation; equality is bytewise in the deterministic ones allowed.
    if (category === "text" && op !== "=" && op !== "<>") unsupported(`text compared with ${op}`)
  }

  private compare(op: CompareOp, l: Syntax, r: Syntax, scope: Scope): Node {
    const left = this.scalar(l, { ...scope, positive: false })
    const right = this.scalar(r, { ...scope, positive: false })
    this.comparable(op, left, right)
    return { kind: "compare", type: "bool", op, left, right }
  }

  private relation(from: NonNullable<Select["from"]>): Relation {
    const candidates = [this.table, ...this.relations].filter(
      (r, i, all) =>
        r.table === from.table &&
        (from.schema === undefined || r.schema === from.schema) &&
        all.findIndex((o) => o.schema === r.schema && o.table === r.table) === i,
    )
    if (candidates.length !== 1) return unsupported(`cannot tell which table ${from.table} is`)
    return candidates[0]!
  }

  /** `left IN (SELECT t.c FROM t WHERE ...)` or, without `left`, `EXISTS (SELECT ... FROM t WHERE ...)`. */
  private member(query: Select, left: Syntax | undefined, scope: Scope): Node {
    if (!scope.positive) return unsupported("a membership test under NOT, IS or a comparison")
    if (scope.inner !== undefined) return unsupported("a nested subquery")
    if (query.from === undefined) return unsupported("a subquery without FROM")
    const relation = this.relation(query.from)
    const inner = { alias: query.from.alias, relation }
    const innerScope: Scope = { inner, positive: false }
    const conditions: Array<Condition> = []
    const innerColumn = (syntax: Syntax): string | undefined => {
      if (syntax.kind !== "column") return undefined
      if (syntax.qualifier === inner.alias) return syntax.name
      if (syntax.qualifier === undefined && relation.columns.some((c) => c.name === syntax.name))
        return syntax.name
      return undefined
    }
    const condition = (column: string, value: Syntax, scope: Scope) => {
      const type = this.columnType(relation, column)
      const node = this.scalar(value, scope)
      // Members are matched by the text of their values, which is exact for all but numeric.
      if (type === "numeric" || node.type === "numeric")
        unsupported(`membership matched on numeric ${column}`)
      this.comparable("=", { kind: "column", type, name: column }, node)
      conditions.push({ column, value: node })
    }
    if (left !== undefined) {
      const target = innerColumn(query.target) ?? unsupported("IN ( SELECT <not a column of the table> )")
      condition(target, left, { ...scope, positive: false })
    }
    const conjuncts =
      query.where === undefined ? [] : query.where.kind === "and" ? query.where.items : [query.where]
    for (const c of conjuncts) {
      if (c.kind !== "binary" || c.op !== "=")
        return unsupported("a membership condition other than col = value")
      const column = innerColumn(c.left)
      if (column !== undefined) condition(column, c.right, innerScope)
      else {
        const other = innerColumn(c.right) ?? unsupported("a membership condition on no column of its table")
        condition(other, c.left, innerScope)
      }
    }
    const id = `${relation.schema}.${relation.table}`
    const entry = this.membership.get(id) ?? { relation, columns: new Set<string>() }
    for (const c of conditions) entry.columns.add(c.column)
    this.membership.set(id, entry)
    return { kind: "member", type: "bool", schema: relation.schema, table: relation.table, conditions }
  }
}

/** The predicate of a parsed USING expression on `table`; `relations` are the tables it may read. */
export const resolve = (
  syntax: Syntax,
  table: Relation,
  relations: ReadonlyArray<Relation>,
): { readonly ok: true; readonly resolved: Resolved } | { readonly ok: false; readonly reason: string } => {
  const resolver = new Resolver(table, relations)
  try {
    const node = resolver.predicate(syntax, { inner: undefined, positive: true })
    return {
      ok: true,
      resolved: {
        node,
        claims: [...resolver.claims.values()],
        membership: [...resolver.membership.values()].map(({ relation, columns }) => ({
          schema: relation.schema,
          table: relation.table,
          columns: [...columns],
          key: relation.key,
        })),
      },
    }
  } catch (error) {
    if (error instanceof Unsupported) return { ok: false, reason: error.message }
    throw error
  }
}
