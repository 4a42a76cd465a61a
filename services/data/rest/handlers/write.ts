// POST, PATCH, PUT and DELETE on a table: the mutation, then its rows as the representation asks.
import { Effect } from "effect"
import type { Column, Relation } from "../../schema/SchemaCache.ts"
import { findColumn } from "../../schema/SchemaCache.ts"
import { buildNode, selectSql } from "../build/read.ts"
import { bodySql, gucColumns, type ResultRow } from "../build/statement.ts"
import { type Conflict, deleteSql, insertSql, type Target, updateSql } from "../build/write.ts"
import { attempt, type Context } from "../context.ts"
import type { LogicTree } from "../filters.ts"
import { Aliases, ident, Params } from "../identifiers.ts"
import {
  columnNotFound,
  invalidBody,
  maxAffected,
  notSingular,
  type PostgrestError,
  putFiltersNotPk,
  putLimit,
  putPkMismatch,
} from "../PostgrestError.ts"
import { plan, relationSource } from "../plan.ts"
import { applied, exceedsMaxAffected } from "../prefer.ts"
import type { QueryParams } from "../querystring.ts"
import type { RestResponse } from "../RestRequest.ts"
import { contentRange } from "../range.ts"
import { respond, toNumber } from "../respond.ts"

type Row = Readonly<Record<string, unknown>>

interface Body {
  readonly text: string
  readonly rows: ReadonlyArray<Row>
  readonly isObject: boolean
}

const isRow = (value: unknown): value is Row =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const parseBody = (text: string | undefined): Body => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text ?? "")
  } catch {
    throw invalidBody("Empty or invalid json")
  }
  if (isRow(parsed)) return { text: text!, rows: [parsed], isObject: true }
  if (Array.isArray(parsed) && parsed.every(isRow)) return { text: text!, rows: parsed, isObject: false }
  throw invalidBody("Empty or invalid json")
}

const sameKeys = (a: Row, b: Row) => {
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k))
}

/** The columns a write sets: `columns=`, else the body's keys, which every object must share. */
const payloadColumns = (relation: Relation, query: QueryParams, body: Body): ReadonlyArray<Column> => {
  const first = body.rows[0]
  if (query.columns === undefined && first !== undefined && !body.rows.every((r) => sameKeys(r, first))) {
    throw invalidBody("All object keys must match")
  }
  const names = query.columns ?? (first === undefined ? [] : Object.keys(first))
  return [...new Set(names)].map((name) => {
    const column = findColumn(relation, name)
    if (column === undefined) throw columnNotFound(relation.name, name)
    return column
  })
}

const rootFilters = (query: QueryParams): ReadonlyArray<LogicTree> => [
  ...query.filters
    .filter((f) => f.path.length === 0)
    .map((f): LogicTree => ({ kind: "filter", filter: f.filter })),
  ...query.logic.filter((l) => l.path.length === 0).map((l) => l.tree),
]

/** PUT names its row by `pk=eq.value` filters: exactly one per key column and nothing else. */
const putMatch = (relation: Relation, query: QueryParams): ReadonlyArray<readonly [string, string]> => {
  const pk = relation.primaryKey
  const pairs = query.filters.flatMap(({ path, filter }) => {
    const op = filter.expr.operation
    const plain = path.length === 0 && filter.field.path.length === 0 && !filter.expr.negated
    return plain && op.kind === "quant" && op.op === "eq" && op.quantifier === undefined
      ? [[filter.field.name, op.value] as const]
      : []
  })
  const names = pairs.map(([n]) => n)
  const exact =
    pk.length > 0 &&
    pairs.length === query.filters.length &&
    query.logic.length === 0 &&
    names.length === pk.length &&
    pk.every((k) => names.includes(k))
  if (!exact) throw putFiltersNotPk()
  return pairs
}

/** With limit/offset, PATCH and DELETE touch only the rows that page of the ordered table holds. */
const restriction = (ctx: Context, target: Target, query: QueryParams, params: Params, aliases: Aliases) => {
  const range = query.ranges.get("")
  if (range === undefined || (range.limit === undefined && range.offset === undefined)) return undefined
  const relation = target.relation
  const root = plan(ctx.cache, ctx.request.schema, aliases, relationSource(relation), {
    ...query,
    select: [],
    filters: query.filters.filter((f) => f.path.length === 0),
    logic: query.logic.filter((l) => l.path.length === 0),
    order: query.order.filter((o) => o.path.length === 0),
    ranges: new Map(),
  })
  const built = buildNode(root, params, aliases, { offset: range.offset ?? 0, limit: range.limit }, undefined)
  const rows = selectSql({ ...built, select: [`${ident(root.alias)}.ctid`] })
  return `${ident(target.alias)}.ctid = ANY(ARRAY(${rows}))`
}

interface Prepared {
  readonly text: string
  readonly upsert: boolean
  readonly resolutionApplied: boolean
  readonly pk: ReadonlyArray<string>
}

const prepare = (ctx: Context, relation: Relation, query: QueryParams, params: Params): Prepared => {
  const { request, prefs, media } = ctx
  const aliases = new Aliases()
  const target: Target = { relation, alias: aliases.next("m") }
  const a = ident(target.alias)
  const method = request.method
  const body = method === "DELETE" ? undefined : parseBody(request.body)
  const columns = body === undefined ? [] : payloadColumns(relation, query, body)
  const filters = rootFilters(query)

  let conflict: Conflict | undefined
  let match: ReadonlyArray<readonly [string, string]> = []
  if (method === "PUT") {
    const range = query.ranges.get("")
    if (range !== undefined && (range.limit !== undefined || range.offset !== undefined)) throw putLimit()
    match = putMatch(relation, query)
    if (!body!.isObject && body!.rows.length !== 1) throw putPkMismatch()
    conflict = { columns: relation.primaryKey, action: "merge" }
  } else if (method === "POST" && prefs.resolution !== undefined) {
    const on = query.onConflict ?? relation.primaryKey
    for (const name of on)
      if (findColumn(relation, name) === undefined) throw columnNotFound(relation.name, name)
    if (on.length > 0) {
      conflict = { columns: on, action: prefs.resolution === "merge-duplicates" ? "merge" : "ignore" }
    }
  }
  const hasXmax = relation.kind === "table" || relation.kind === "partitioned_table"
  const upsert = conflict?.action === "merge" && hasXmax

  const representation = prefs.return === "representation"
  const location = method === "POST" && prefs.return === "headers-only" && relation.primaryKey.length > 0
  const returned = representation ? relation.columns.map((c) => c.name) : location ? relation.primaryKey : []
  const returning = [
    ...returned.map((name) => `${a}.${ident(name)}`),
    ...(upsert ? [`(${a}.xmax = 0) AS "pgrst_inserted"`] : []),
  ]
  const returningSql = returning.length === 0 ? "1" : returning.join(", ")

  let mutation: string
  if (method === "POST" || method === "PUT") {
    mutation = insertSql(
      {
        target,
        columns,
        bodyText: body!.text,
        rows: body!.rows,
        isObject: body!.isObject,
        missingDefault: prefs.missing === "default",
        conflict,
        match,
      },
      params,
      returningSql,
    )
  } else if (method === "PATCH") {
    const present = (c: Column) => body!.rows.some((r) => Object.hasOwn(r, c.name))
    const defaults = prefs.missing === "default" ? columns.filter((c) => !present(c)) : []
    mutation = updateSql(
      {
        target,
        columns: columns.filter((c) => !defaults.includes(c)),
        defaults,
        bodyText: body!.text,
        isObject: body!.isObject,
        filters,
        restrict: restriction(ctx, target, query, params, aliases),
      },
      params,
      returningSql,
    )
  } else {
    mutation = deleteSql(
      target,
      filters,
      restriction(ctx, target, query, params, aliases),
      params,
      returningSql,
    )
  }

  let bodyExpr = "''"
  if (representation) {
    // The representation reads the returned rows; only embedded filters apply to it.
    const root = plan(
      ctx.cache,
      request.schema,
      aliases,
      { ...relationSource(relation, "pgrst_source"), retype: true },
      {
        ...query,
        filters: query.filters.filter((f) => f.path.length > 0),
        logic: query.logic.filter((l) => l.path.length > 0),
        order: query.order.filter((o) => o.path.length > 0),
      },
    )
    const built = buildNode(root, params, aliases, { offset: 0, limit: undefined }, undefined)
    bodyExpr = `(SELECT ${bodySql(media, "rows")} FROM (${selectSql(built)}) AS _postgrest_t)`
  }
  const locationExpr = location
    ? `(SELECT ARRAY[${relation.primaryKey.map((k) => `${ident(k)}::text`).join(", ")}] FROM pgrst_source LIMIT 1)`
    : "NULL"
  const inserted = upsert ? `(SELECT pg_catalog.count(*) FROM pgrst_source WHERE "pgrst_inserted")` : "NULL"
  const result = `SELECT NULL AS total, (SELECT pg_catalog.count(*) FROM pgrst_source) AS page_total, ${inserted} AS inserted, ${bodyExpr} AS body, ${locationExpr} AS location, ${gucColumns}`
  // Kept, the row is also left in `reactor.reply` for a statement after this one in its batch.
  const text = ctx.keepResult
    ? `WITH pgrst_source AS (${mutation}), pgrst_result AS (${result}) SELECT pgrst_result.*, pg_catalog.set_config('reactor.reply', pg_catalog.row_to_json(pgrst_result)::text, true) AS pgrst_kept FROM pgrst_result`
    : `WITH pgrst_source AS (${mutation}) ${result}`
  return {
    text,
    upsert,
    resolutionApplied: conflict !== undefined && method === "POST",
    pk: relation.primaryKey,
  }
}

const locationOf = (table: string, pk: ReadonlyArray<string>, values: ReadonlyArray<string | null>) =>
  `/${table}?${pk
    .map((k, i) => {
      const v = values[i]
      return `${encodeURIComponent(k)}=${v === null || v === undefined ? "is.null" : encodeURIComponent(`eq.${v}`)}`
    })
    .join("&")}`

export const write = Effect.fnUntraced(function* (
  ctx: Context,
  relation: Relation,
  query: QueryParams,
): Effect.fn.Return<RestResponse, PostgrestError> {
  const { request, prefs, media } = ctx
  const params = new Params()
  const prepared = yield* attempt(() => prepare(ctx, relation, query, params))
  const rows = yield* ctx.run<ResultRow>(prepared.text, params.values)
  const row = rows[0]!
  const pageTotal = toNumber(row.page_total) ?? 0
  const method = request.method
  if (media.shape === "object" && pageTotal !== 1) return yield* Effect.fail(notSingular(pageTotal))
  if (method === "PUT" && pageTotal !== 1) return yield* Effect.fail(putPkMismatch())
  if ((method === "PATCH" || method === "DELETE") && exceedsMaxAffected(prefs, pageTotal)) {
    return yield* Effect.fail(maxAffected(pageTotal))
  }
  const total = prefs.count === "exact" || prefs.count === "estimated" ? pageTotal : undefined
  const representation = prefs.return === "representation"
  const inserted = toNumber(row.inserted)
  const headers: Record<string, string> = {}
  let status: number
  switch (method) {
    case "POST":
      status = prepared.upsert && prefs.resolution === "merge-duplicates" && (inserted ?? 1) <= 0 ? 200 : 201
      if (row.location !== null && row.location !== undefined) {
        headers["location"] = locationOf(relation.name, prepared.pk, row.location)
      }
      headers["content-range"] = contentRange(1, 0, total)
      break
    case "PUT":
      status = representation ? ((inserted ?? 0) > 0 ? 201 : 200) : 204
      break
    case "PATCH":
      status = representation ? 200 : 204
      headers["content-range"] = contentRange(0, pageTotal - 1, total)
      break
    default:
      status = representation ? 200 : 204
      headers["content-range"] = contentRange(1, 0, total)
  }
  if (representation) headers["content-type"] = media.contentType
  const preference = applied(prefs, {
    resolution: prepared.resolutionApplied,
    missing: method === "POST" || method === "PATCH",
    return: true,
  })
  if (preference !== undefined) headers["preference-applied"] = preference
  return yield* respond(row, { status, headers, body: representation ? (row.body ?? "") : "" })
})
