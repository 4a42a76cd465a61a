// Turning a statement's result row into the response, with the status and headers a function set.
import { Effect } from "effect"
import type { ResultRow } from "./build/statement.ts"
import { guc, outOfRange, type PostgrestError } from "./PostgrestError.ts"
import { applied, type Preferences } from "./prefer.ts"
import type { RestResponse } from "./RestRequest.ts"
import { contentRange, rangeStatus } from "./range.ts"

const parseHeaders = (text: string): Record<string, string> | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed)) return undefined
  const headers: Record<string, string> = {}
  for (const entry of parsed) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return undefined
    const pairs = Object.entries(entry as Record<string, unknown>)
    if (pairs.length !== 1 || typeof pairs[0]![1] !== "string") return undefined
    headers[pairs[0]![0].toLowerCase()] = pairs[0]![1] as string
  }
  return headers
}

/** Applies `response.status` / `response.headers` set during the request; theirs win over ours. */
export const respond = (
  row: Pick<ResultRow, "response_headers" | "response_status">,
  response: RestResponse,
): Effect.Effect<RestResponse, PostgrestError> => {
  let { status } = response
  let headers = response.headers
  if (row.response_status !== null) {
    const parsed = /^\d{3}$/.test(row.response_status.trim())
      ? Number(row.response_status.trim())
      : Number.NaN
    if (!(parsed >= 100 && parsed <= 599)) return Effect.fail(guc("status"))
    status = parsed
  }
  if (row.response_headers !== null) {
    const extra = parseHeaders(row.response_headers)
    if (extra === undefined) return Effect.fail(guc("headers"))
    headers = { ...headers, ...extra }
  }
  return Effect.succeed({ status, headers, body: response.body })
}

export const toNumber = (value: string | number | null | undefined): number | undefined =>
  value === null || value === undefined ? undefined : Number(value)

/**
 * A read's answer: the page of rows starting at `offset`, counted in Content-Range out of `total`
 * (when counted), 206 for part of them and 416 past their end.
 */
export const respondPage = (
  row: ResultRow,
  page: {
    readonly offset: number
    readonly pageTotal: number
    readonly total: number | undefined
    readonly contentType: string
    readonly prefs: Preferences
    readonly head: boolean
  },
): Effect.Effect<RestResponse, PostgrestError> => {
  const { offset, pageTotal, total } = page
  const status = rangeStatus(offset, pageTotal, total)
  if (status === 416) return Effect.fail(outOfRange(offset, total ?? 0))
  const headers: Record<string, string> = {
    "content-type": page.contentType,
    "content-range": contentRange(offset, offset + pageTotal - 1, total),
  }
  const preference = applied(page.prefs, {})
  if (preference !== undefined) headers["preference-applied"] = preference
  return respond(row, { status, headers, body: page.head ? "" : (row.body ?? "") })
}
