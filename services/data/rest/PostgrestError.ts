// PostgREST's errors: the PGRST catalogue, the SQLSTATE → HTTP status table, and the error body.
import { Data } from "effect"
import type { PgError } from "../../../platform/postgres/Postgres.ts"
import type { RestResponse } from "./RestRequest.ts"

export class PostgrestError extends Data.TaggedError("PostgrestError")<{
  status: number
  code: string
  message: string
  /** For PGRST201 this holds the JSON array PostgREST sends as `details`; `toResponse` sends it as JSON. */
  details: string | null
  hint: string | null
}> {}

const make = (status: number, code: string, message: string, details: string | null, hint: string | null) =>
  new PostgrestError({ status, code, message, details, hint })

/** PostgREST's status for a SQLSTATE (`docs/references/errors.rst`); `anon` is the unauthenticated role. */
export const statusOf = (code: string, message: string, authenticated: boolean): number => {
  if (code.startsWith("PT")) {
    const status = Number(code.slice(2))
    return Number.isInteger(status) && status >= 100 && status <= 599 ? status : 500
  }
  switch (code) {
    case "23503":
    case "23505":
      return 409
    case "25006":
      return 405
    case "21000":
      return message.endsWith("requires a WHERE clause") ? 400 : 500
    case "22023":
      return message.startsWith("role") && message.endsWith("does not exist") ? 401 : 400
    case "53400":
      return 500
    case "57P01":
      return 503
    case "P0001":
      return 400
    case "42883":
      return 404
    case "42P01":
      return 404
    case "42P17":
      return 500
    case "42501":
      return authenticated ? 403 : 401
  }
  const prefix = code.slice(0, 2)
  switch (prefix) {
    case "08":
      return 503
    case "09":
      return 500
    case "0L":
    case "0P":
    case "28":
      return 403
    case "25":
    case "2D":
    case "38":
    case "39":
    case "3B":
    case "40":
    case "54":
    case "55":
    case "57":
    case "58":
    case "F0":
    case "HV":
    case "P0":
    case "XX":
      return 500
    case "53":
      return 503
  }
  return 400
}

interface RaisedMessage {
  readonly code?: unknown
  readonly message?: unknown
  readonly details?: unknown
  readonly hint?: unknown
}

const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const stringOrNull = (value: unknown) => (typeof value === "string" ? value : null)

/** `RAISE SQLSTATE 'PGRST'` carries the error in MESSAGE and the status in DETAIL, both JSON. */
const raisedPgrst = (message: string, detail: string | undefined): PostgrestError => {
  const body = parseJson(message) as RaisedMessage | undefined
  const meta = parseJson(detail) as { status?: unknown } | undefined
  if (body === undefined || typeof body !== "object" || body === null || typeof body.code !== "string") {
    return make(
      500,
      "PGRST121",
      `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
      `Invalid JSON value for MESSAGE: '${message}'`,
      "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.",
    )
  }
  if (meta === undefined || typeof meta !== "object" || meta === null || typeof meta.status !== "number") {
    return make(
      500,
      "PGRST121",
      `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
      detail === undefined
        ? "DETAIL is missing in the RAISE statement"
        : `Invalid JSON value for DETAIL: '${detail}'`,
      "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.",
    )
  }
  return make(
    meta.status,
    body.code,
    typeof body.message === "string" ? body.message : "",
    stringOrNull(body.details),
    stringOrNull(body.hint),
  )
}

/** The PostgREST error for a failed statement; `role` decides 401 (anon) or 403 on a privilege error. */
export const fromPgError = (error: PgError, role: string): PostgrestError => {
  const cause = (error.cause ?? {}) as { detail?: unknown; hint?: unknown; code?: unknown; message?: unknown }
  const code = error.code ?? (typeof cause.code === "string" ? cause.code : undefined)
  const detail = typeof cause.detail === "string" ? cause.detail : undefined
  const hint = typeof cause.hint === "string" ? cause.hint : undefined
  if (code === undefined) {
    // No SQLSTATE: the connection failed, as PostgREST's PGRST001.
    return make(503, "PGRST001", "Database client error. Retrying the connection.", error.message, null)
  }
  if (code === "PGRST") return raisedPgrst(error.message, detail)
  return make(
    statusOf(code, error.message, role !== "anon"),
    code,
    error.message,
    detail ?? null,
    hint ?? null,
  )
}

/** The response PostgREST sends for an error. */
export const toResponse = (error: PostgrestError): RestResponse => {
  const details =
    error.code === "PGRST201" && error.details !== null ? error.details : JSON.stringify(error.details)
  const body = `{"code":${JSON.stringify(error.code)},"details":${details},"hint":${JSON.stringify(error.hint)},"message":${JSON.stringify(error.message)}}`
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" }
  if (error.status === 401) headers["www-authenticate"] = "Bearer"
  return { status: error.status, headers, body }
}

// The catalogue, as PostgREST words each error.

export const parseError = (message: string, details: string) => make(400, "PGRST100", message, details, null)

export const invalidRpcMethod = (method: string) =>
  make(405, "PGRST101", `Cannot use the ${method} method on RPC`, null, null)

export const invalidBody = (message: string) => make(400, "PGRST102", message, null, null)

export const invalidRange = (details: string) =>
  make(416, "PGRST103", "Requested range not satisfiable", details, null)

export const outOfRange = (offset: number, total: number) =>
  invalidRange(`An offset of ${offset} was requested, but there are only ${total} rows.`)

export const putFiltersNotPk = () =>
  make(
    405,
    "PGRST105",
    "Filters must include all and only primary key columns with 'eq' operators",
    null,
    null,
  )

export const unacceptableMedia = (types: ReadonlyArray<string>) =>
  make(406, "PGRST107", `None of these media types are available: ${types.join(", ")}`, null, null)

export const notEmbedded = (resource: string) =>
  make(
    400,
    "PGRST108",
    `'${resource}' is not an embedded resource in this request`,
    null,
    `Verify that '${resource}' is included in the 'select' query parameter.`,
  )

export const guc = (which: "headers" | "status") =>
  which === "headers"
    ? make(
        500,
        "PGRST111",
        "response.headers guc must be a JSON array composed of objects with a single key and a string value",
        null,
        null,
      )
    : make(500, "PGRST112", "response.status guc must be a valid status code", null, null)

export const putLimit = () =>
  make(400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT", null, null)

export const putPkMismatch = () =>
  make(400, "PGRST115", "Payload values do not match URL in primary key column(s)", null, null)

export const notSingular = (rows: number) =>
  make(
    406,
    "PGRST116",
    "Cannot coerce the result to a single JSON object",
    `The result contains ${rows} rows`,
    null,
  )

export const relatedOrderNotToOne = (origin: string, target: string) =>
  make(
    400,
    "PGRST118",
    `A related order on '${target}' is not possible`,
    `'${origin}' and '${target}' do not form a many-to-one or one-to-one relationship`,
    null,
  )

export const spreadNotToOne = (origin: string, target: string) =>
  make(
    400,
    "PGRST119",
    `A spread operation on '${target}' is not possible`,
    `'${origin}' and '${target}' do not form a many-to-one or one-to-one relationship`,
    null,
  )

export const unacceptableFilter = (target: string) =>
  make(
    400,
    "PGRST120",
    `Bad operator on the '${target}' embedded resource`,
    "Only is null or not is null filters are allowed on embedded resources",
    null,
  )

export const invalidPreferences = (prefs: ReadonlyArray<string>) =>
  make(
    400,
    "PGRST122",
    "Invalid preferences given with handling=strict",
    `Invalid preferences: ${prefs.join(", ")}`,
    null,
  )

export const aggregatesNotAllowed = () =>
  make(400, "PGRST123", "Use of aggregate functions is not allowed", null, null)

export const maxAffected = (rows: number) =>
  make(
    400,
    "PGRST124",
    "Query result exceeds max-affected preference constraint",
    `The query affects ${rows} rows`,
    null,
  )

export const maxAffectedRpc = () =>
  make(
    400,
    "PGRST128",
    "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
    null,
    null,
  )

export const noRelationship = (parent: string, child: string, hint: string | undefined, schema: string) =>
  make(
    400,
    "PGRST200",
    `Could not find a relationship between '${parent}' and '${child}' in the schema cache`,
    `Searched for a foreign key relationship between '${parent}' and '${child}'${hint === undefined ? "" : ` using the hint '${hint}'`} in the schema '${schema}', but no matches were found.`,
    null,
  )

export const ambiguousRelationship = (
  parent: string,
  child: string,
  candidates: ReadonlyArray<{ cardinality: string; embedding: string; relationship: string; hint: string }>,
) =>
  make(
    300,
    "PGRST201",
    `Could not embed because more than one relationship was found for '${parent}' and '${child}'`,
    JSON.stringify(
      candidates.map(({ cardinality, embedding, relationship }) => ({
        cardinality,
        embedding,
        relationship,
      })),
    ),
    `Try changing '${child}' to one of the following: ${candidates.map((c) => `'${c.hint}'`).join(", ")}. Find the desired relationship in the 'details' key.`,
  )

export const noFunction = (schema: string, name: string, keys: ReadonlyArray<string>, isPost: boolean) => {
  const fn = `${schema}.${name}`
  const listed = keys.length === 0 ? " without parameters" : `(${keys.join(", ")})`
  const searched =
    keys.length === 0
      ? " without parameters"
      : ` with parameter${keys.length > 1 ? "s" : ""} ${keys.join(", ")}`
  return make(
    404,
    "PGRST202",
    `Could not find the function ${fn}${listed} in the schema cache`,
    `Searched for the function ${fn}${searched}${isPost ? " or with a single unnamed json/jsonb parameter" : ""}, but no matches were found in the schema cache.`,
    null,
  )
}

export const ambiguousFunction = (candidates: ReadonlyArray<string>) =>
  make(
    300,
    "PGRST203",
    `Could not choose the best candidate function between: ${candidates.join(", ")}`,
    null,
    "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
  )

export const columnNotFound = (relation: string, column: string) =>
  make(
    400,
    "PGRST204",
    `Could not find the '${column}' column of '${relation}' in the schema cache`,
    null,
    null,
  )

export const tableNotFound = (schema: string, name: string, suggestion: string | undefined) =>
  make(
    404,
    "PGRST205",
    `Could not find the table '${schema}.${name}' in the schema cache`,
    null,
    suggestion === undefined ? null : `Perhaps you meant the table '${schema}.${suggestion}'`,
  )

/** As Postgres words a column a read names that the relation lacks. */
export const undefinedColumn = (relation: string, column: string) =>
  make(400, "42703", `column ${relation}.${column} does not exist`, null, null)
