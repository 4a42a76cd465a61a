// Paging: the Range header and limit/offset combined, and the Content-Range / status they give.
import { invalidRange } from "./PostgrestError.ts"
import type { PathRange } from "./querystring.ts"

export interface TopRange {
  readonly offset: number
  readonly limit: number | undefined
}

/** The intersection of `Range: a-b` and `offset`/`limit`, as PostgREST intersects them. */
export const topRange = (header: string | undefined, params: PathRange | undefined): TopRange => {
  const match = header === undefined ? null : /^(\d+)-(\d*)$/.exec(header.trim().replace(/^items=/, ""))
  const headerLower = match === null ? 0 : Number(match[1])
  const headerUpper = match === null || match[2] === "" ? Infinity : Number(match[2])
  if (headerUpper < headerLower) {
    throw invalidRange(
      "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
    )
  }
  const offset = params?.offset ?? 0
  if (params?.limit === 0) return { offset, limit: 0 }
  const paramUpper = params?.limit === undefined ? Infinity : offset + params.limit - 1
  const lower = Math.max(headerLower, offset)
  const upper = Math.min(headerUpper, paramUpper)
  return { offset: lower, limit: upper === Infinity ? undefined : Math.max(upper - lower + 1, 0) }
}

/** `Content-Range`: `0-9/100`, `0-9/*`, `*\/0`. */
export const contentRange = (lower: number, upper: number, total: number | undefined): string => {
  const range = total !== 0 && lower <= upper ? `${lower}-${upper}` : "*"
  return `${range}/${total === undefined ? "*" : total}`
}

/** 200, 206 when the page is part of a known total, 416 past its end (the caller raises PGRST103). */
export const rangeStatus = (lower: number, pageTotal: number, total: number | undefined): 200 | 206 | 416 => {
  if (total === undefined) return 200
  if (lower > total) return 416
  return pageTotal < total ? 206 : 200
}
