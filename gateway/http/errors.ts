// The one place errors become HTTP: every error a route can meet — a contract error from a
// worker, a bus failure, a gateway check — has a status, a code and a message here, and each
// protocol (GoTrue, PostgREST, Storage) renders them in its own body shape. An error missing from
// `specs` does not compile.
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import type { BusError } from "../../bus/BusError.ts"
import type { ContractError } from "../../contracts/index.ts"
import type { GatewayError } from "./GatewayError.ts"
import type { HttpRequest } from "./HttpRequest.ts"
import { type HttpResponse, json } from "./HttpResponse.ts"

export type RenderableError = ContractError | BusError | GatewayError
export type Protocol = "gotrue" | "postgrest" | "storage" | "plain"

interface Spec {
  readonly status: number
  /** The protocol's error code: GoTrue's error_code, PostgREST's PGRST code, Storage's code. */
  readonly code: string
  readonly message: string
  readonly headers?: Readonly<Record<string, string>>
  /** Extra top-level fields some errors carry (GoTrue's weak_password). */
  readonly extra?: Readonly<Record<string, unknown>>
  /** PostgREST's details and hint, passed through from Postgres. */
  readonly details?: unknown
  readonly hint?: string | null
}

type Specs = {
  readonly [T in RenderableError["_tag"]]: (error: Extract<RenderableError, { _tag: T }>) => Spec
}

const retryable = { "retry-after": "1" }

const specs: Specs = {
  // Common contract errors
  ValidationFailed: (e) => ({ status: 400, code: "validation_failed", message: e.message }),
  InternalError: (e) => ({
    status: 500,
    code: "unexpected_failure",
    message: `Unexpected failure, please check server logs for more information (incident ${e.incident})`,
  }),
  // Auth (GoTrue's codes and texts)
  UserAlreadyExists: () => ({ status: 422, code: "user_already_exists", message: "User already registered" }),
  EmailExists: () => ({
    status: 422,
    code: "email_exists",
    message: "A user with this email address has already been registered",
  }),
  WeakPassword: (e) => ({
    status: 422,
    code: "weak_password",
    message: e.message,
    extra: { weak_password: { reasons: e.reasons } },
  }),
  SamePassword: () => ({
    status: 422,
    code: "same_password",
    message: "New password should be different from the old password.",
  }),
  SignupDisabled: () => ({
    status: 422,
    code: "signup_disabled",
    message: "Signups not allowed for this instance",
  }),
  AnonymousSignInsDisabled: () => ({
    status: 422,
    code: "anonymous_provider_disabled",
    message: "Anonymous sign-ins are disabled",
  }),
  InvalidCredentials: () => ({
    status: 400,
    code: "invalid_credentials",
    message: "Invalid login credentials",
  }),
  EmailNotConfirmed: () => ({ status: 400, code: "email_not_confirmed", message: "Email not confirmed" }),
  RefreshTokenNotFound: () => ({
    status: 400,
    code: "refresh_token_not_found",
    message: "Invalid Refresh Token: Refresh Token Not Found",
  }),
  RefreshTokenAlreadyUsed: () => ({
    status: 400,
    code: "refresh_token_already_used",
    message: "Invalid Refresh Token: Already Used",
  }),
  SessionNotFound: () => ({
    status: 403,
    code: "session_not_found",
    message: "Session from session_id claim in JWT does not exist",
  }),
  UserNotFound: () => ({
    status: 403,
    code: "user_not_found",
    message: "User from sub claim in JWT does not exist",
  }),
  UserBanned: () => ({ status: 400, code: "user_banned", message: "User is banned" }),
  // Data: the worker already chose PostgREST's status and code
  StorageError: (e) => ({ status: e.status, code: e.code, message: e.message }),
  RestError: (e) => ({
    status: e.status,
    code: e.code,
    message: e.message,
    details: e.details,
    hint: e.hint,
    // As PostgREST: a 401 names the scheme the client should authenticate with.
    ...(e.status === 401 ? { headers: { "www-authenticate": "Bearer" } } : {}),
  }),
  // The bus
  BusTimeout: () => ({
    status: 504,
    code: "request_timeout",
    message: "Processing this request timed out, please retry after a moment.",
  }),
  BusOverloaded: () => ({
    status: 503,
    code: "service_unavailable",
    message: "Too many requests in flight, retry shortly.",
    headers: retryable,
  }),
  BusUnavailable: () => ({
    status: 503,
    code: "service_unavailable",
    message: "The service is unavailable right now, retry shortly.",
    headers: retryable,
  }),
  BusProtocolError: () => ({
    status: 500,
    code: "unexpected_failure",
    message: "Unexpected failure, please check server logs for more information",
  }),
  // The gateway
  BadJson: (e) => ({
    status: 400,
    code: "bad_json",
    message: `Could not parse request body as JSON: ${e.reason}`,
  }),
  BodyTooLarge: (e) => ({
    status: 413,
    code: "request_entity_too_large",
    message: `Request body too large (max ${e.limit} bytes)`,
  }),
  RouteNotFound: () => ({ status: 404, code: "not_found", message: "no Route matched with those values" }),
  MethodNotAllowed: () => ({ status: 405, code: "method_not_allowed", message: "Method not allowed" }),
  MissingApiKey: () => ({ status: 401, code: "no_api_key", message: "No API key found in request" }),
  InvalidApiKey: () => ({ status: 401, code: "invalid_api_key", message: "Invalid API key" }),
  NoAuthorization: () => ({
    status: 401,
    code: "no_authorization",
    message: "This endpoint requires a valid Bearer token",
  }),
  BadJwt: (e) => ({ status: e.status, code: "bad_jwt", message: e.message }),
  NotAdmin: () => ({ status: 403, code: "not_admin", message: "User not allowed" }),
  RateLimited: (e) => ({
    status: 429,
    code: "over_request_rate_limit",
    message: "Request rate limit reached",
    headers: { "retry-after": String(e.retryAfterSeconds) },
  }),
  ServerBusy: () => ({
    status: 503,
    code: "service_unavailable",
    message: "The server is busy, retry shortly.",
    headers: retryable,
  }),
  UnsupportedGrantType: () => ({
    status: 400,
    code: "invalid_credentials",
    message: "unsupported_grant_type",
  }),
  AdminUnauthorized: () => ({
    status: 401,
    code: "admin_unauthorized",
    message: "The admin surface needs Authorization: Bearer <admin.token>",
    headers: { "www-authenticate": "Bearer" },
  }),
  AdminRemote: () => ({
    status: 403,
    code: "admin_remote",
    message: "The admin surface answers loopback clients only (set admin.allow_remote to change that)",
  }),
}

export const specOf = (error: RenderableError): Spec =>
  (specs[error._tag] as (e: RenderableError) => Spec)(error)

/** GoTrue's newer error body applies when the client says it speaks API version 2024-01-01 or later. */
const speaksGoTrue2024 = (request: HttpRequest | undefined) => {
  const version = request?.headers.get("x-supabase-api-version")
  return version !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(version) && version >= "2024-01-01"
}

const renderers: Record<Protocol, (spec: Spec, request: HttpRequest | undefined) => HttpResponse> = {
  gotrue: (spec, request) => {
    const headers = { ...spec.headers, "x-sb-error-code": spec.code }
    if (speaksGoTrue2024(request)) {
      return json(
        spec.status,
        { code: spec.code, message: spec.message, ...spec.extra },
        { ...headers, "x-supabase-api-version": "2024-01-01" },
      )
    }
    return json(
      spec.status,
      {
        code: spec.status,
        error_code: spec.code,
        msg: spec.message,
        ...(spec.status >= 500 && request ? { error_id: request.meta.requestId } : {}),
        ...spec.extra,
      },
      headers,
    )
  },
  postgrest: (spec) =>
    json(
      spec.status,
      { code: spec.code, details: spec.details ?? null, hint: spec.hint ?? null, message: spec.message },
      spec.headers,
    ),
  // The Storage API answers a client's mistake with HTTP 400 and puts the real status in the body;
  // a Range it cannot serve stays a 416, as HTTP caches and players expect.
  storage: (spec) =>
    json(
      spec.status >= 500 || spec.status === 416 ? spec.status : 400,
      { statusCode: String(spec.status), code: spec.code, error: spec.code, message: spec.message },
      spec.headers,
    ),
  // Outside a protocol (unknown routes, API key checks) the body is Kong's: a message.
  plain: (spec) => json(spec.status, { message: spec.message }, spec.headers),
}

/**
 * Why the bus could not answer, for the operator: the client's answer to these only says to retry.
 * Undefined for every other error.
 */
export const busFailureReason = (error: RenderableError): string | undefined =>
  error._tag === "BusUnavailable"
    ? error.reason
    : error._tag === "BusTimeout"
      ? `no reply to ${error.subject} within ${error.afterMs} ms`
      : undefined

export const render = (protocol: Protocol, error: RenderableError, request?: HttpRequest): HttpResponse =>
  renderers[protocol](specOf(error), request)

const isRenderable = (error: unknown): error is RenderableError =>
  typeof (error as { _tag?: unknown })?._tag === "string" && (error as { _tag: string })._tag in specs

/** A failure nobody anticipated: logged with an incident id, answered as a 500 that names it. */
export const renderDefect = (
  protocol: Protocol,
  cause: unknown,
  request?: HttpRequest,
): Effect.Effect<HttpResponse> => {
  if (isRenderable(cause)) return Effect.succeed(render(protocol, cause, request))
  const incident = randomUUID()
  return Effect.logError("request failed").pipe(
    Effect.annotateLogs({
      incident,
      requestId: request?.meta.requestId,
      cause: String((cause as Error)?.stack ?? cause),
    }),
    Effect.as(render(protocol, { _tag: "InternalError", incident } as RenderableError, request)),
  )
}
