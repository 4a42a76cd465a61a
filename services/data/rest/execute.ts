// The PostgREST translator: one request in, the SQL it means run in the caller's transaction, and
// PostgREST's exact response out.
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { Tx } from "../../../platform/postgres/Postgres.ts"
import { findRelation, type SchemaCache } from "../schema/SchemaCache.ts"
import { attempt, type Context } from "./context.ts"
import { readRows } from "./handlers/read.ts"
import { rpc } from "./handlers/rpc.ts"
import { write } from "./handlers/write.ts"
import { negotiate } from "./media.ts"
import { memoized } from "./memoized.ts"
import {
  fromPgError,
  invalidPreferences,
  invalidRpcMethod,
  type PostgrestError,
  tableNotFound,
  unacceptableMedia,
} from "./PostgrestError.ts"
import { relationSource } from "./plan.ts"
import { parsePrefer } from "./prefer.ts"
import { parseQuery } from "./querystring.ts"
import type { RestRequest, RestResponse } from "./RestRequest.ts"
import { closest } from "./suggest.ts"

/**
 * Statements are prepared once per connection under a name derived from their text, as PostgREST
 * prepares them: an app asks the same few shapes again and again, and planning is most of a small
 * query's cost. Postgres keeps each connection's plans; connections idle for 30 s are closed.
 * The name is remembered per text: an app's shapes are few.
 */
const statementName = memoized(
  (text) => `pgrst_${createHash("sha1").update(text).digest("base64url")}`,
  10_000,
)

/** GET and HEAD only read (tables and functions alike); everything else may write. */
export const isRead = (request: { readonly method: string }): boolean =>
  request.method === "GET" || request.method === "HEAD"

/**
 * Whether a request's outcome is settled by its statement alone, so the statement may commit with
 * its batch before anyone sees the result: an insert into a table that does not ask for one
 * object. An object `Accept` (one row or 406), PUT's key check and PATCH and DELETE's max-affected
 * are decided on the result (handlers/write.ts), and roll the statement back when they fail.
 */
export const settledByStatement = (request: Pick<RestRequest, "method" | "target" | "accept">): boolean => {
  if (request.method !== "POST" || request.target.kind !== "table") return false
  const media = negotiate(request.accept)
  return !Array.isArray(media) && (media as Exclude<typeof media, ReadonlyArray<string>>).shape !== "object"
}

export interface ExecuteOptions {
  /**
   * The role the caller set, which decides 401 (anon) or 403 on a privilege error. Without it one
   * more statement reads `current_setting('role')` first.
   */
  readonly role?: string
  /** See Context.keepResult. */
  readonly keepResult?: boolean
}

const currentRole = (tx: Tx) =>
  tx.query<{ role: string | null }>("select current_setting('role', true) as role").pipe(
    Effect.map((r) => r.rows[0]?.role ?? "anon"),
    Effect.mapError((e) => fromPgError(e, "anon")),
  )

/**
 * Runs `request` in `tx`, a transaction the caller opened with the role and JWT claims set. A
 * failure means the caller must roll back (a write whose result breaks `Accept` fails too).
 */
export const execute = Effect.fnUntraced(function* (
  tx: Tx,
  cache: SchemaCache,
  request: RestRequest,
  options: ExecuteOptions = {},
): Effect.fn.Return<RestResponse, PostgrestError> {
  const media = negotiate(request.accept)
  if (Array.isArray(media)) return yield* Effect.fail(unacceptableMedia(media))
  const prefs = parsePrefer(request.prefer)
  if (prefs.handling === "strict" && prefs.invalid.length > 0) {
    return yield* Effect.fail(invalidPreferences(prefs.invalid))
  }
  const role = options.role ?? (yield* currentRole(tx))
  const ctx: Context = {
    cache,
    request,
    prefs,
    media: media as Exclude<typeof media, ReadonlyArray<string>>,
    keepResult: options.keepResult === true,
    run: (text, values) =>
      tx.query({ text, values, name: statementName(text) }).pipe(
        Effect.map((r) => r.rows as never),
        Effect.mapError((e) => fromPgError(e, role)),
      ),
  }
  const { target, schema } = request
  if (target.kind === "rpc") {
    if (request.method !== "GET" && request.method !== "HEAD" && request.method !== "POST") {
      return yield* Effect.fail(invalidRpcMethod(request.method))
    }
    const query = yield* attempt(() => parseQuery(request.query, request.method !== "POST"))
    return yield* rpc(ctx, target.name, query)
  }
  const relation = findRelation(cache, schema, target.name)
  if (relation === undefined) {
    const names = cache.relations.filter((r) => r.schema === schema).map((r) => r.name)
    return yield* Effect.fail(tableNotFound(schema, target.name, closest(target.name, names)))
  }
  const query = yield* attempt(() => parseQuery(request.query, false))
  if (isRead(request)) {
    const source = relationSource(relation)
    return yield* readRows(ctx, () => source, query, "rows")
  }
  return yield* write(ctx, relation, query)
})
