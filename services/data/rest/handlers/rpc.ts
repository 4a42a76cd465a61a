// /rpc/fn: call the function with the request's arguments and answer its result as PostgREST does.
import { Effect } from "effect"
import { findRelation, findRoutines, type SchemaCache } from "../../schema/SchemaCache.ts"
import { type Call, callSql, chooseRoutine } from "../build/rpc.ts"
import { bodySql, type ResultRow, readStatement } from "../build/statement.ts"
import { attempt, type Context } from "../context.ts"
import { Params } from "../identifiers.ts"
import {
  invalidBody,
  maxAffected,
  maxAffectedRpc,
  notSingular,
  type PostgrestError,
} from "../PostgrestError.ts"
import type { Source } from "../plan.ts"
import { exceedsMaxAffected } from "../prefer.ts"
import type { QueryParams } from "../querystring.ts"
import type { RestResponse } from "../RestRequest.ts"
import { topRange } from "../range.ts"
import { respond, respondPage, toNumber } from "../respond.ts"
import { readRows } from "./read.ts"

interface Arguments {
  readonly keys: ReadonlyArray<string>
  /** The JSON passed to json_to_record (or, for a single json parameter, the whole body). */
  readonly text: string
}

const postArguments = (body: string | undefined): Arguments => {
  if (body === undefined || body.trim() === "") return { keys: [], text: "{}" }
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    throw invalidBody("Empty or invalid json")
  }
  const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
  return { keys: isObject ? Object.keys(parsed as object) : [], text: body }
}

/** GET arguments are text; a name given twice becomes an array (a variadic or array argument). */
const getArguments = (args: ReadonlyArray<readonly [string, string]>): Arguments => {
  const values = new Map<string, Array<string>>()
  for (const [k, v] of args) values.set(k, [...(values.get(k) ?? []), v])
  const object = Object.fromEntries([...values].map(([k, vs]) => [k, vs.length === 1 ? vs[0] : vs]))
  return { keys: [...values.keys()], text: JSON.stringify(object) }
}

const sourceOf = (cache: SchemaCache, call: Call, from: string): Source => {
  const r = call.routine.returns.relation
  const relation = r === undefined ? undefined : findRelation(cache, r.schema, r.name)
  // Rows of a table's type: its computed fields are functions of them too.
  return {
    from,
    name: call.routine.name,
    columns: call.routine.returns.columns,
    computed: relation?.computed ?? [],
    relation,
  }
}

/** Scalar and void results: no columns to select or filter, only paging of a set. */
const scalar = Effect.fnUntraced(function* (ctx: Context, call: Call, query: QueryParams, args: Arguments) {
  const { request, prefs, media } = ctx
  const params = new Params()
  const returns = call.routine.returns
  const range = yield* attempt(() => topRange(request.range, query.ranges.get("")))
  const { args: argsFrom, call: callExpr } = callSql(call, args.text, params)
  const paging = [
    range.limit === undefined ? "" : ` LIMIT ${params.add(String(range.limit))}`,
    range.offset === 0 ? "" : ` OFFSET ${params.add(String(range.offset))}`,
  ].join("")
  const source = `SELECT ${callExpr} AS pgrst_scalar${argsFrom === "" ? "" : ` FROM ${argsFrom}`}${paging}`
  const isVoid = returns.kind === "void"
  const shape = returns.set ? "setof-scalar" : "scalar"
  const body = isVoid || request.method === "HEAD" ? "''" : bodySql(media, shape)
  const counted = prefs.count === "exact" || prefs.count === "estimated"
  const total = counted && returns.set ? "pg_catalog.count(*)" : "NULL"
  const rows = yield* ctx.run<ResultRow>(readStatement(source, body, total), params.values)
  const row = rows[0]!
  const pageTotal = toNumber(row.page_total) ?? 0
  if (isVoid) return yield* respond(row, { status: 204, headers: {}, body: "" })
  if (media.shape === "object" && returns.set && pageTotal !== 1) {
    return yield* Effect.fail(notSingular(pageTotal))
  }
  if (exceedsMaxAffected(prefs, pageTotal)) return yield* Effect.fail(maxAffected(pageTotal))
  return yield* respondPage(row, {
    offset: range.offset,
    pageTotal,
    total: toNumber(row.total),
    contentType: media.contentType,
    prefs,
    head: request.method === "HEAD",
  })
})

export const rpc = Effect.fnUntraced(function* (
  ctx: Context,
  name: string,
  query: QueryParams,
): Effect.fn.Return<RestResponse, PostgrestError> {
  const { request, prefs, cache } = ctx
  const isPost = request.method === "POST"
  const args = yield* attempt(() => (isPost ? postArguments(request.body) : getArguments(query.args)))
  const call = yield* attempt(() =>
    chooseRoutine(findRoutines(cache, request.schema, name), request.schema, name, args.keys, isPost),
  )
  const returns = call.routine.returns
  if (prefs.handling === "strict" && prefs.maxAffected !== undefined && !returns.set) {
    return yield* Effect.fail(maxAffectedRpc())
  }
  if (returns.kind !== "composite") return yield* scalar(ctx, call, query, args)
  // The call is the FROM item the read plan selects, filters, orders and pages.
  const source = (params: Params) => {
    const parts = callSql(call, args.text, params)
    const lateral = parts.args === "" ? "" : `${parts.args}, LATERAL `
    return sourceOf(cache, call, `(SELECT pgrst_call.* FROM ${lateral}${parts.call} AS pgrst_call)`)
  }
  return yield* readRows(ctx, source, query, returns.set ? "rows" : "single", true)
})
