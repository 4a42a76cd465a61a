// The outer statement every request ends in: Postgres aggregates the rows into the body text.
import type { Media } from "../media.ts"

/** How the rows of `_postgrest_t` become a body. */
export type Shape = "rows" | "single" | "scalar" | "setof-scalar"

const strip = (media: Media, json: string) => (media.stripNulls ? `json_strip_nulls(${json})` : json)

/** The body expression over the rows `_postgrest_t`, as PostgREST aggregates them. */
export const bodySql = (media: Media, shape: Shape): string => {
  if (media.shape === "csv" && (shape === "rows" || shape === "single")) {
    // A header line from the first row's keys, then each row's record text without its parentheses.
    const header =
      "(SELECT coalesce(string_agg(pgrst_k.k, ','), '') FROM (SELECT json_object_keys(pgrst_r.r) AS k FROM " +
      "(SELECT row_to_json(pgrst_h) AS r FROM pgrst_source AS pgrst_h LIMIT 1) AS pgrst_r) AS pgrst_k)"
    const rows =
      "coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), E'\\n'), '')"
    return `${header} || E'\\n' || ${rows}`
  }
  const single = media.shape === "object"
  switch (shape) {
    case "single":
      return `coalesce((${strip(media, "json_agg(_postgrest_t)->0")})::text, 'null')`
    case "scalar":
      return `coalesce((${strip(media, "json_agg(_postgrest_t.pgrst_scalar)->0")})::text, 'null')`
    case "setof-scalar":
      return single
        ? `coalesce((${strip(media, "json_agg(_postgrest_t.pgrst_scalar)->0")})::text, 'null')`
        : `coalesce(${strip(media, "json_agg(_postgrest_t.pgrst_scalar)")}, '[]')::text`
    case "rows":
      return single
        ? `coalesce((${strip(media, "json_agg(_postgrest_t)->0")})::text, 'null')`
        : `coalesce(${strip(media, "json_agg(_postgrest_t)")}, '[]')::text`
  }
}

/** Headers and status a function may set for the response, as PostgREST lets it. */
export const gucColumns =
  "nullif(current_setting('response.headers', true), '') AS response_headers, " +
  "nullif(current_setting('response.status', true), '') AS response_status"

export interface ResultRow {
  readonly total: string | number | null
  readonly page_total: string | number
  readonly body: string | null
  readonly inserted?: string | number | null
  readonly location?: ReadonlyArray<string | null> | null
  readonly response_headers: string | null
  readonly response_status: string | null
}

/**
 * `WITH pgrst_source AS (source) SELECT total, page count, body FROM (rows) _postgrest_t`;
 * `rows` defaults to the source itself.
 */
export const readStatement = (
  source: string,
  body: string,
  total: string,
  rows = "SELECT * FROM pgrst_source",
) =>
  `WITH pgrst_source AS (${source}) SELECT ${total} AS total, pg_catalog.count(*) AS page_total, ${body} AS body, ${gucColumns} FROM (${rows}) AS _postgrest_t`
