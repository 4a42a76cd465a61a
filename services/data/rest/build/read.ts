// SQL for a read plan: one SELECT per level, embeds as lateral joins that Postgres turns into JSON.
import { isToOne } from "../../schema/relationships.ts"
import { fieldKey } from "../grammar.ts"
import { type Aliases, ident, type Params } from "../identifiers.ts"
import { notEmbedded, relatedOrderNotToOne } from "../PostgrestError.ts"
import type { PlanNode, Source } from "../plan.ts"
import { castSql, columnOf, fieldSql, lateralAlias, rowOf, treeSql, type WhereContext } from "./expr.ts"

export interface Range {
  readonly offset: number
  readonly limit: number | undefined
}

/** The parts of one level's SELECT, kept apart so a count can reuse the FROM and WHERE. */
export interface BuiltNode {
  readonly select: ReadonlyArray<string>
  /** The output keys, in order (what a spread lifts into its parent). */
  readonly outputs: ReadonlyArray<string>
  readonly from: string
  readonly joins: ReadonlyArray<{ readonly child: PlanNode; readonly sql: string }>
  readonly where: ReadonlyArray<string>
  /** Children the WHERE reads, whose joins a count must keep. */
  readonly used: ReadonlySet<PlanNode>
  readonly order: ReadonlyArray<string>
  readonly limit: string
}

/** The conditions tying `child` (read as `alias`) to its parent's row, and any junction join. */
const joinTo = (child: PlanNode, alias: string, parentAlias: string) => {
  const r = child.relationship!
  // A computed relationship's rows are the function's of the parent row: nothing to join on. A
  // function returning one row gives a row of nulls for none, which is no row.
  if (r.computed !== undefined)
    return { junction: "", conditions: isToOne(r) ? [`NOT (${alias} IS NULL)`] : [] }
  if (r.junction === undefined) {
    return {
      junction: "",
      conditions: r.columns.map(([o, t]) => `${alias}.${ident(t)} = ${parentAlias}.${ident(o)}`),
    }
  }
  const j = ident(`${child.alias}_j`)
  const on = r.junction.targetColumns
    .map(([jc, tc]) => `${j}.${ident(jc)} = ${alias}.${ident(tc)}`)
    .join(" AND ")
  return {
    junction: ` JOIN ${ident(r.junction.schema)}.${ident(r.junction.name)} AS ${j} ON ${on}`,
    conditions: r.junction.sourceColumns.map(([jc, oc]) => `${j}.${ident(jc)} = ${parentAlias}.${ident(oc)}`),
  }
}

/** What an embedded level reads: its relation, or its computed relationship's function of the parent row. */
const sourceOf = (node: PlanNode, parent: Parent) => {
  const computed = node.relationship?.computed
  return computed === undefined
    ? node.source.from
    : `${ident(computed.schema)}.${ident(computed.name)}(${rowOf(parent.source, ident(parent.alias))})`
}

/** The level an embedded one hangs from. */
interface Parent {
  readonly alias: string
  readonly source: Source
}

const limitSql = (range: Range, params: Params) =>
  [
    range.limit === undefined ? "" : `LIMIT ${params.add(String(range.limit))}`,
    range.offset === 0 ? "" : `OFFSET ${params.add(String(range.offset))}`,
  ]
    .filter((s) => s !== "")
    .join(" ")

export const selectSql = (b: BuiltNode) =>
  [
    `SELECT ${b.select.join(", ")} FROM ${b.from}`,
    ...b.joins.map((j) => j.sql),
    b.where.length === 0 ? "" : `WHERE ${b.where.join(" AND ")}`,
    b.order.length === 0 ? "" : `ORDER BY ${b.order.join(", ")}`,
    b.limit,
  ]
    .filter((s) => s !== "")
    .join(" ")

/** The rows a count counts: the same FROM and WHERE, keeping only the joins that filter. */
export const countSql = (b: BuiltNode) =>
  [
    `SELECT 1 FROM ${b.from}`,
    ...b.joins.filter((j) => j.child.join === "inner" || b.used.has(j.child)).map((j) => j.sql),
    b.where.length === 0 ? "" : `WHERE ${b.where.join(" AND ")}`,
  ]
    .filter((s) => s !== "")
    .join(" ")

export const buildNode = (
  node: PlanNode,
  params: Params,
  aliases: Aliases,
  range: Range,
  parent: Parent | undefined,
): BuiltNode => {
  const alias = ident(node.alias)
  const select: Array<string> = []
  const outputs: Array<string> = []
  for (const item of node.items) {
    if (item.kind === "star") {
      for (const column of node.source.columns) {
        select.push(`${alias}.${ident(column.name)}`)
        outputs.push(column.name)
      }
      continue
    }
    const column = columnOf(node, item.field.name)
    const expr = fieldSql(node.source, alias, column, item.field.path, params)
    const key = item.alias ?? fieldKey(item.field)
    select.push(`${item.cast === undefined ? expr : castSql(expr, item.cast)} AS ${ident(key)}`)
    outputs.push(key)
  }

  const joins: Array<{ child: PlanNode; sql: string }> = []
  for (const child of node.children) {
    const built = buildNode(
      child,
      params,
      aliases,
      { offset: child.range.offset ?? 0, limit: child.range.limit },
      node,
    )
    const lateral = lateralAlias(child)
    const kind = child.join === "inner" ? "INNER" : "LEFT"
    if (isToOne(child.relationship!)) {
      joins.push({ child, sql: `${kind} JOIN LATERAL (${selectSql(built)}) AS ${lateral} ON TRUE` })
      if (child.spread) {
        for (const o of built.outputs) {
          select.push(`${lateral}.${ident(o)}`)
          outputs.push(o)
        }
      } else if (!child.empty) {
        select.push(`row_to_json(${lateral}.*) AS ${ident(child.key)}`)
        outputs.push(child.key)
      }
      continue
    }
    const sub = ident(`${child.alias}_s`)
    const on = child.join === "inner" ? `${lateral}."body" IS NOT NULL` : "TRUE"
    joins.push({
      child,
      sql: `${kind} JOIN LATERAL (SELECT json_agg(${sub}) AS "body" FROM (${selectSql(built)}) AS ${sub}) AS ${lateral} ON ${on}`,
    })
    if (!child.empty) {
      select.push(`COALESCE(${lateral}."body", '[]') AS ${ident(child.key)}`)
      outputs.push(child.key)
    }
  }

  const ctx: WhereContext = { params, used: new Set() }
  const link = parent === undefined ? undefined : joinTo(node, alias, ident(parent.alias))
  const where = [...(link?.conditions ?? []), ...node.filters.map((f) => treeSql(node, f, ctx))]

  const order = node.order.map((term) => {
    let expr: string
    if (term.relation === undefined) {
      expr = fieldSql(node.source, alias, columnOf(node, term.field.name), term.field.path, params)
    } else {
      const child = node.children.find((c) => c.key === term.relation)
      if (child === undefined) throw notEmbedded(term.relation)
      if (!isToOne(child.relationship!)) throw relatedOrderNotToOne(node.source.name, term.relation)
      // A scalar subquery reads the related row whether or not the column is selected.
      const x = ident(aliases.next("o"))
      const tie = joinTo(child, x, alias)
      const value = fieldSql(child.source, x, columnOf(child, term.field.name), term.field.path, params)
      const where = tie.conditions.length === 0 ? "" : ` WHERE ${tie.conditions.join(" AND ")}`
      expr = `(SELECT ${value} FROM ${sourceOf(child, node)} AS ${x}${where})`
    }
    const direction = term.direction === undefined ? "" : term.direction === "asc" ? " ASC" : " DESC"
    const nulls = term.nulls === undefined ? "" : term.nulls === "nullsfirst" ? " NULLS FIRST" : " NULLS LAST"
    return `${expr}${direction}${nulls}`
  })

  return {
    select,
    outputs,
    from: `${parent === undefined ? node.source.from : sourceOf(node, parent)} AS ${alias}${link?.junction ?? ""}`,
    joins,
    where,
    used: ctx.used,
    order,
    limit: limitSql(range, params),
  }
}
