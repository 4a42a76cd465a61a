// SQL for INSERT (and upsert), UPDATE and DELETE: the JSON body reaches Postgres as one parameter
// and json_to_record(set) types it with the columns' own types.
import type { Column, Relation } from "../../schema/SchemaCache.ts"
import type { LogicTree } from "../filters.ts"
import { ident, type Params, qualified, typeSql } from "../identifiers.ts"
import { type PlanNode, relationSource } from "../plan.ts"
import { treeSql } from "./expr.ts"

export interface Target {
  readonly relation: Relation
  readonly alias: string
}

/** A stand-in plan node so root filters can be written against the mutated table. */
const targetNode = (target: Target): PlanNode => ({
  source: relationSource(target.relation, ""),
  alias: target.alias,
  key: target.relation.name,
  relationship: undefined,
  join: "left",
  spread: false,
  empty: false,
  items: [],
  children: [],
  filters: [],
  order: [],
  range: { offset: undefined, limit: undefined },
})

const whereSql = (
  target: Target,
  filters: ReadonlyArray<LogicTree>,
  params: Params,
  extra: string | undefined,
) => {
  const node = targetNode(target)
  const ctx = { params, used: new Set<PlanNode>() }
  const conditions = [...filters.map((f) => treeSql(node, f, ctx)), ...(extra === undefined ? [] : [extra])]
  return conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`
}

const definitions = (columns: ReadonlyArray<Column>) =>
  columns.map((c) => `${ident(c.name)} ${typeSql(c)}`).join(", ")

const names = (columns: ReadonlyArray<Column>) => columns.map((c) => ident(c.name)).join(", ")

export interface Conflict {
  readonly columns: ReadonlyArray<string>
  readonly action: "merge" | "ignore"
}

const conflictSql = (conflict: Conflict | undefined, columns: ReadonlyArray<Column>) => {
  if (conflict === undefined) return ""
  const on = ` ON CONFLICT (${conflict.columns.map(ident).join(", ")})`
  if (conflict.action === "ignore" || columns.length === 0) return `${on} DO NOTHING`
  return `${on} DO UPDATE SET ${columns.map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`).join(", ")}`
}

export interface InsertInput {
  readonly target: Target
  readonly columns: ReadonlyArray<Column>
  readonly bodyText: string
  /** The parsed rows, to see which keys each one leaves out. */
  readonly rows: ReadonlyArray<Readonly<Record<string, unknown>>>
  readonly isObject: boolean
  readonly missingDefault: boolean
  readonly conflict: Conflict | undefined
  /** PUT: the primary key values the URL names, which the body must match. */
  readonly match: ReadonlyArray<readonly [string, string]>
}

export const insertSql = (input: InsertInput, params: Params, returning: string): string => {
  const { target, columns } = input
  const into = `INSERT INTO ${qualified(target.relation.schema, target.relation.name)} AS ${ident(target.alias)}`
  const conflict = `${conflictSql(input.conflict, columns)} RETURNING ${returning}`
  if (columns.length === 0) {
    return input.isObject
      ? `${into} DEFAULT VALUES${conflict}`
      : `${into} SELECT FROM json_array_elements(${params.add(input.bodyText)}::json)${conflict}`
  }
  const body = params.add(input.bodyText)
  const leavesOut =
    input.missingDefault && input.rows.some((row) => columns.some((c) => !Object.hasOwn(row, c.name)))
  if (leavesOut) {
    // Only VALUES takes DEFAULT per row: each present key is read from its row of the body.
    const values = input.rows.map((row, i) => {
      const element = input.isObject ? `${body}::json` : `(${body}::json->${params.add(String(i))}::int4)`
      const cells = columns.map((c) =>
        Object.hasOwn(row, c.name)
          ? `(SELECT pgrst_body.${ident(c.name)} FROM json_to_record(${element}) AS pgrst_body(${definitions([c])}))`
          : "DEFAULT",
      )
      return `(${cells.join(", ")})`
    })
    return `${into} (${names(columns)}) VALUES ${values.join(", ")}${conflict}`
  }
  const from = input.isObject ? "json_to_record" : "json_to_recordset"
  const match =
    input.match.length === 0
      ? ""
      : ` WHERE ${input.match.map(([name, value]) => `pgrst_body.${ident(name)} = ${params.add(value)}`).join(" AND ")}`
  return `${into} (${names(columns)}) SELECT ${columns.map((c) => `pgrst_body.${ident(c.name)}`).join(", ")} FROM ${from}(${body}::json) AS pgrst_body(${definitions(columns)})${match}${conflict}`
}

export interface UpdateInput {
  readonly target: Target
  readonly columns: ReadonlyArray<Column>
  /** Columns named by `columns=` but absent from the body, set to their default (`missing=default`). */
  readonly defaults: ReadonlyArray<Column>
  readonly bodyText: string
  readonly isObject: boolean
  readonly filters: ReadonlyArray<LogicTree>
  /** A further condition, e.g. the rows a limit keeps. */
  readonly restrict: string | undefined
}

export const updateSql = (input: UpdateInput, params: Params, returning: string): string => {
  const { target } = input
  const table = `${qualified(target.relation.schema, target.relation.name)} AS ${ident(target.alias)}`
  if (input.columns.length === 0 && input.defaults.length === 0) {
    // Nothing to set: no row changes, but the representation still has its columns.
    return `SELECT ${returning} FROM ${table} WHERE false`
  }
  const sets = [
    ...input.columns.map((c) => `${ident(c.name)} = pgrst_body.${ident(c.name)}`),
    ...input.defaults.map((c) => `${ident(c.name)} = DEFAULT`),
  ]
  const body = params.add(input.bodyText)
  const element = input.isObject ? `${body}::json` : `(${body}::json->0)`
  const from =
    input.columns.length === 0
      ? ""
      : ` FROM json_to_record(${element}) AS pgrst_body(${definitions(input.columns)})`
  return `UPDATE ${table} SET ${sets.join(", ")}${from}${whereSql(target, input.filters, params, input.restrict)} RETURNING ${returning}`
}

export const deleteSql = (
  target: Target,
  filters: ReadonlyArray<LogicTree>,
  restrict: string | undefined,
  params: Params,
  returning: string,
) =>
  `DELETE FROM ${qualified(target.relation.schema, target.relation.name)} AS ${ident(target.alias)}${whereSql(target, filters, params, restrict)} RETURNING ${returning}`
