// GET and HEAD: rows of a relation (or of a function's result), paged, counted and shaped.
import { Effect } from "effect"
import { buildNode, countSql, selectSql } from "../build/read.ts"
import { bodySql, type ResultRow, readStatement, type Shape } from "../build/statement.ts"
import { attempt, type Context } from "../context.ts"
import { Aliases, Params } from "../identifiers.ts"
import { maxAffected, notSingular, type PostgrestError } from "../PostgrestError.ts"
import { plan, type Source } from "../plan.ts"
import { exceedsMaxAffected } from "../prefer.ts"
import type { QueryParams } from "../querystring.ts"
import type { RestResponse } from "../RestRequest.ts"
import { topRange } from "../range.ts"
import { respondPage, toNumber } from "../respond.ts"

interface ExplainRow {
  readonly "QUERY PLAN": ReadonlyArray<{ readonly Plan: { readonly "Plan Rows": number } }>
}

/** The planner's row estimate for the unpaged query (`count=planned`). */
const plannedCount = Effect.fnUntraced(function* (
  ctx: Context,
  source: (params: Params) => Source,
  query: QueryParams,
) {
  const params = new Params()
  const text = yield* attempt(() => {
    const aliases = new Aliases()
    const root = plan(ctx.cache, ctx.request.schema, aliases, source(params), query)
    return `EXPLAIN (FORMAT JSON) ${selectSql(buildNode(root, params, aliases, { offset: 0, limit: undefined }, undefined))}`
  })
  const rows = yield* ctx.run<ExplainRow>(text, params.values)
  return rows[0]?.["QUERY PLAN"][0]?.Plan["Plan Rows"]
})

/**
 * Reads `source` as the query asks; it is a function of the statement's parameters because a
 * function call's FROM item holds its arguments. `shape` "single" always answers one object (a function that
 * returns one row); "rows" answers an array unless the client asked for an object.
 */
export const readRows = Effect.fnUntraced(function* (
  ctx: Context,
  source: (params: Params) => Source,
  query: QueryParams,
  shape: "rows" | "single",
  /** A function's rows count as affected, for `max-affected` under `handling=strict`. */
  affects = false,
): Effect.fn.Return<RestResponse, PostgrestError> {
  const { request, prefs, media } = ctx
  const isHead = request.method === "HEAD"
  const params = new Params()
  const { range, built } = yield* attempt(() => {
    const range = topRange(request.range, query.ranges.get(""))
    const aliases = new Aliases()
    const root = plan(ctx.cache, request.schema, aliases, source(params), query)
    return { range, built: buildNode(root, params, aliases, range, undefined) }
  })
  const counted = prefs.count === "exact" || prefs.count === "estimated"
  const totalSql = counted ? `(SELECT pg_catalog.count(*) FROM (${countSql(built)}) AS pgrst_count)` : "NULL"
  const planned = prefs.count === "planned" ? yield* plannedCount(ctx, source, query) : undefined
  const bodyShape: Shape = shape === "single" ? "single" : "rows"
  const text = readStatement(selectSql(built), isHead ? "''" : bodySql(media, bodyShape), totalSql)
  const rows = yield* ctx.run<ResultRow>(text, params.values)
  const row = rows[0]!
  const pageTotal = toNumber(row.page_total) ?? 0
  const total = planned ?? toNumber(row.total)
  if (media.shape === "object" && pageTotal !== 1) return yield* Effect.fail(notSingular(pageTotal))
  if (affects && exceedsMaxAffected(prefs, pageTotal)) return yield* Effect.fail(maxAffected(pageTotal))
  return yield* respondPage(row, {
    offset: range.offset,
    pageTotal,
    total,
    contentType: media.contentType,
    prefs,
    head: isHead,
  })
})
