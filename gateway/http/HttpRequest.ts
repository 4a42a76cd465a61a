// A request as route handlers see it: everything uWS gave synchronously, plus the body.
import type { Readable } from "node:stream"
import type { Meta, SendOptions } from "../../bus/Bus.ts"
import type { QueryParams } from "./QueryParams.ts"

export interface HttpRequest {
  /** Upper-case method. */
  readonly method: string
  readonly path: string
  readonly query: QueryParams
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string>
  /** Values of the route pattern's `:name` parts, in order. */
  readonly params: ReadonlyArray<string>
  /** The client's address (from X-Forwarded-For only when server.trust_proxy is on). */
  readonly ip: string
  readonly body: Buffer
  /** The parsed body, for routes that take JSON. */
  readonly json: unknown
  /** The body as it arrives, for routes that stream it; paused uploads resume as it is read. */
  readonly stream: Readable | undefined
  readonly meta: Required<Meta>
}

/** The bearer token of the Authorization header, if it has one. */
export const bearer = (request: HttpRequest): string | undefined => {
  const match = /^bearer (\S+)$/i.exec(request.headers.get("authorization") ?? "")
  return match?.[1]
}

/**
 * The token a request speaks with: its bearer token, else its apikey (header, or query parameter
 * as browsers' WebSockets and plain links must send it); "" when it has none.
 */
export const callerToken = (request: HttpRequest): string =>
  bearer(request) ?? request.headers.get("apikey") ?? request.query.get("apikey") ?? ""

/**
 * Bus options for a command from this request. A client's Idempotency-Key makes its retry safe;
 * without one the bus makes a key, and knows the command is new.
 */
export const commandOptions = (request: HttpRequest, timeout: number): SendOptions => {
  const key = request.headers.get("idempotency-key")
  return key === undefined
    ? { meta: request.meta, timeout }
    : { meta: request.meta, timeout, idempotencyKey: key }
}
