// Errors the gateway itself raises, before or around a bus call.
import { Data } from "effect"

export class BadJson extends Data.TaggedError("BadJson")<{ readonly reason: string }> {}
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {}
export class RouteNotFound extends Data.TaggedError("RouteNotFound")<{}> {}
export class MethodNotAllowed extends Data.TaggedError("MethodNotAllowed")<{}> {}
export class MissingApiKey extends Data.TaggedError("MissingApiKey")<{}> {}
export class InvalidApiKey extends Data.TaggedError("InvalidApiKey")<{}> {}
/** No usable `Authorization: Bearer` header on a route that needs a user. */
export class NoAuthorization extends Data.TaggedError("NoAuthorization")<{}> {}
/** A bearer token that does not verify, or lacks a claim the route needs. */
export class BadJwt extends Data.TaggedError("BadJwt")<{
  readonly message: string
  readonly status: 400 | 401 | 403
}> {}
export class NotAdmin extends Data.TaggedError("NotAdmin")<{}> {}
export class RateLimited extends Data.TaggedError("RateLimited")<{ readonly retryAfterSeconds: number }> {}
/** Too many requests in flight here, or the server is draining for shutdown. */
export class ServerBusy extends Data.TaggedError("ServerBusy")<{}> {}
export class UnsupportedGrantType extends Data.TaggedError("UnsupportedGrantType")<{}> {}
/** /_admin without the admin token. */
export class AdminUnauthorized extends Data.TaggedError("AdminUnauthorized")<{}> {}
/** /_admin from a non-loopback client while admin.allow_remote is off. */
export class AdminRemote extends Data.TaggedError("AdminRemote")<{}> {}

export type GatewayError =
  | BadJson
  | BodyTooLarge
  | RouteNotFound
  | MethodNotAllowed
  | MissingApiKey
  | InvalidApiKey
  | NoAuthorization
  | BadJwt
  | NotAdmin
  | RateLimited
  | ServerBusy
  | UnsupportedGrantType
  | AdminUnauthorized
  | AdminRemote
