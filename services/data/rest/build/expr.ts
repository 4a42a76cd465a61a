// SQL for fields, casts and filters: identifiers from the schema cache, every value a `$n`.

import { isToOne } from "../../schema/relationships.ts"
import type { Column } from "../../schema/SchemaCache.ts"
import { isJsonType } from "../../schema/SchemaCache.ts"
import type { Filter, LogicTree, Operation } from "../filters.ts"
import type { JsonStep } from "../grammar.ts"
import { ident, type Params, qualified } from "../identifiers.ts"
import { unacceptableFilter, undefinedColumn } from "../PostgrestError.ts"
import type { PlanNode, Source } from "../plan.ts"

export const columnOf = (node: Pick<PlanNode, "source">, name: string): Column => {
  const column =
    node.source.columns.find((c) => c.name === name) ?? node.source.computed?.find((c) => c.name === name)
  if (column === undefined) throw undefinedColumn(node.source.name, name)
  return column
}

/** The row `alias` reads from `source`, as an argument of a function of its relation's rows. */
export const rowOf = (source: Source, alias: string): string =>
  source.retype === true && source.relation !== undefined
    ? `ROW(${source.columns.map((c) => `${alias}.${ident(c.name)}`).join(", ")})::${qualified(source.relation.schema, source.relation.name)}`
    : alias

/** `alias.col`, then its JSON path; a column that is not json/jsonb goes through to_jsonb first. */
export const fieldSql = (
  source: Source,
  alias: string,
  column: Column,
  path: ReadonlyArray<JsonStep>,
  params: Params,
): string => {
  let sql =
    column.computed === undefined
      ? `${alias}.${ident(column.name)}`
      : `${ident(column.computed.schema)}.${ident(column.computed.name)}(${rowOf(source, alias)})`
  if (path.length > 0 && !isJsonType(column)) sql = `to_jsonb(${sql})`
  for (const step of path) {
    sql = `${sql}${step.arrow}${params.add(step.key)}::${step.index ? "int4" : "text"}`
  }
  return sql
}

// The SQL spellings of type names that are not the type's catalog name.
const typeAliases: Readonly<Record<string, string>> = {
  integer: "int4",
  int: "int4",
  smallint: "int2",
  bigint: "int8",
  boolean: "bool",
  real: "float4",
  float: "float8",
  "double precision": "float8",
  decimal: "numeric",
  "character varying": "varchar",
  character: "bpchar",
  char: "bpchar",
  "timestamp with time zone": "timestamptz",
  "timestamp without time zone": "timestamp",
  "time with time zone": "timetz",
  "time without time zone": "time",
}

/** A cast's type as a quoted name, so a misspelt one is Postgres's "type does not exist", never SQL. */
export const castSql = (expr: string, type: string) => {
  const lower = type.toLowerCase()
  return `(${expr})::${ident(typeAliases[lower] ?? lower)}`
}

const quantSql = {
  eq: "=",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  like: "LIKE",
  ilike: "ILIKE",
  match: "~",
  imatch: "~*",
}
const simpleSql = {
  neq: "<>",
  cs: "@>",
  cd: "<@",
  ov: "&&",
  sl: "<<",
  sr: ">>",
  nxr: "&<",
  nxl: "&>",
  adj: "-|-",
}
const ftsSql = {
  fts: "to_tsquery",
  plfts: "plainto_tsquery",
  phfts: "phraseto_tsquery",
  wfts: "websearch_to_tsquery",
}
const isSql = {
  null: "IS NULL",
  not_null: "IS NOT NULL",
  true: "IS TRUE",
  false: "IS FALSE",
  unknown: "IS UNKNOWN",
}

/** A Postgres array literal, every element quoted, so `in.(…)` is one parameter. */
export const arrayLiteral = (values: ReadonlyArray<string>) =>
  `{${values.map((v) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`

const likePattern = (op: string, value: string) =>
  op === "like" || op === "ilike" ? value.replaceAll("*", "%") : value

const operationSql = (
  lhs: string,
  column: Column,
  hasPath: boolean,
  operation: Operation,
  params: Params,
): string => {
  switch (operation.kind) {
    case "quant": {
      const value = params.add(likePattern(operation.op, operation.value))
      const op = quantSql[operation.op]
      return operation.quantifier === undefined
        ? `${lhs} ${op} ${value}`
        : `${lhs} ${op} ${operation.quantifier === "any" ? "ANY" : "ALL"}(${value})`
    }
    case "simple":
      return `${lhs} ${simpleSql[operation.op]} ${params.add(operation.value)}`
    case "in":
      // `in.()` holds one empty element: it matches nothing, as an empty list should.
      if (operation.values.length === 1 && operation.values[0] === "") return "FALSE"
      return `${lhs} = ANY(${params.add(arrayLiteral(operation.values))})`
    case "is":
      return `${lhs} ${isSql[operation.value]}`
    case "isdistinct":
      return `${lhs} IS DISTINCT FROM ${params.add(operation.value)}`
    case "fts": {
      const config = operation.config === undefined ? "" : `${params.add(operation.config)}::regconfig, `
      const isVector = !hasPath && column.typeSchema === "pg_catalog" && column.typeName === "tsvector"
      const vector = isVector ? lhs : `to_tsvector(${config}${lhs})`
      return `${vector} @@ ${ftsSql[operation.op]}(${config}${params.add(operation.value)})`
    }
  }
}

/** The alias of the lateral join that holds an embedded child's rows. */
export const lateralAlias = (child: PlanNode) => ident(`${child.alias}_l`)

/** `rel=is.null` / `rel=not.is.null`: whether the embed found rows. */
const embedNullSql = (child: PlanNode, filter: Filter): string => {
  const { operation, negated } = filter.expr
  if (operation.kind !== "is" || (operation.value !== "null" && operation.value !== "not_null")) {
    throw unacceptableFilter(child.key)
  }
  const isNull = (operation.value === "null") !== negated
  const value =
    child.relationship !== undefined && isToOne(child.relationship)
      ? `row_to_json(${lateralAlias(child)}.*)`
      : `${lateralAlias(child)}."body"`
  return `${value} ${isNull ? "IS NULL" : "IS NOT NULL"}`
}

export interface WhereContext {
  readonly params: Params
  /** Children whose lateral join a condition reads, so a count keeps those joins. */
  readonly used: Set<PlanNode>
}

export const filterSql = (node: PlanNode, filter: Filter, ctx: WhereContext): string => {
  const child =
    filter.field.path.length === 0 ? node.children.find((c) => c.key === filter.field.name) : undefined
  if (child !== undefined) {
    ctx.used.add(child)
    return embedNullSql(child, filter)
  }
  const column = columnOf(node, filter.field.name)
  const lhs = fieldSql(node.source, ident(node.alias), column, filter.field.path, ctx.params)
  const sql = operationSql(lhs, column, filter.field.path.length > 0, filter.expr.operation, ctx.params)
  return filter.expr.negated ? `NOT (${sql})` : sql
}

export const treeSql = (node: PlanNode, tree: LogicTree, ctx: WhereContext): string => {
  if (tree.kind === "filter") return filterSql(node, tree.filter, ctx)
  const joined = tree.children
    .map((c) => `(${treeSql(node, c, ctx)})`)
    .join(tree.op === "and" ? " AND " : " OR ")
  return tree.negated ? `NOT (${joined})` : `(${joined})`
}
