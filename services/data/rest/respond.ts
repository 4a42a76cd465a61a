// Turning a statement's result row into the response, with the status and headers a function set.
import { Effect } from "effect"
import type { ResultRow } from "./build/statement.ts"
import { guc, type PostgrestError } from "./PostgrestError.ts"
import type { RestResponse } from "./RestRequest.ts"

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
