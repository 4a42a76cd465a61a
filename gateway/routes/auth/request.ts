// Reading GoTrue request bodies and bearer tokens, with GoTrue's errors when they are wrong.
import { Effect } from "effect"
import { ValidationFailed } from "../../../contracts/errors.ts"
import type { JsonObject } from "../../../contracts/shared.ts"
import { BadJwt, NoAuthorization, RateLimited } from "../../http/GatewayError.ts"
import { bearer, type HttpRequest } from "../../http/HttpRequest.ts"
import type { Limit } from "../../RateLimiter.ts"
import { type Route, route } from "../../Route.ts"
import { AuthGateway } from "./AuthGateway.ts"

export const body = (request: HttpRequest): Record<string, unknown> =>
  typeof request.json === "object" && request.json !== null && !Array.isArray(request.json)
    ? (request.json as Record<string, unknown>)
    : {}

export const text = (
  fields: Record<string, unknown>,
  name: string,
): Effect.Effect<string | undefined, ValidationFailed> => {
  const value = fields[name]
  if (value === undefined || value === null) return Effect.succeed(undefined)
  return typeof value === "string"
    ? Effect.succeed(value)
    : Effect.fail(new ValidationFailed({ message: `${name} must be a string`, field: name }))
}

export const object = (
  fields: Record<string, unknown>,
  name: string,
): Effect.Effect<JsonObject | undefined, ValidationFailed> => {
  const value = fields[name]
  if (value === undefined || value === null) return Effect.succeed(undefined)
  return typeof value === "object" && !Array.isArray(value)
    ? Effect.succeed(value as JsonObject)
    : Effect.fail(new ValidationFailed({ message: `${name} must be an object`, field: name }))
}

export const rateLimit = Effect.fnUntraced(function* (
  request: HttpRequest,
  bucket: string,
  pick: (limits: typeof AuthGateway.Service.limits) => Limit,
) {
  const gateway = yield* AuthGateway
  const wait = gateway.limiter.take(bucket, request.ip, pick(gateway.limits))
  if (wait !== undefined) return yield* new RateLimited({ retryAfterSeconds: wait })
})

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The signed-in user of a request, checked as GoTrue checks it. */
export const signedIn = Effect.fnUntraced(function* (request: HttpRequest) {
  const token = bearer(request)
  if (token === undefined) return yield* new NoAuthorization()
  const gateway = yield* AuthGateway
  const claims = yield* gateway.verify(token).pipe(
    Effect.mapError(
      (e) =>
        new BadJwt({
          message: `invalid JWT: unable to parse or verify signature, ${e.reason}`,
          status: 403,
        }),
    ),
  )
  if (typeof claims.sub !== "string" || claims.sub === "") {
    return yield* new BadJwt({ message: "invalid claim: missing sub claim", status: 403 })
  }
  if (!uuid.test(claims.sub))
    return yield* new BadJwt({ message: "invalid claim: sub claim must be a UUID", status: 400 })
  const session = claims.session_id
  if (session !== undefined && (typeof session !== "string" || !uuid.test(session))) {
    return yield* new BadJwt({ message: "invalid claim: session_id claim must be a UUID", status: 403 })
  }
  return { userId: claims.sub, sessionId: (session as string | undefined) ?? null, claims }
})

/** A route of the GoTrue surface: behind the API key, its errors in GoTrue's shape. */
export const gotrueRoute = <R>(definition: Omit<Route<R>, "protocol" | "apiKey">): Route<R> =>
  route({ ...definition, protocol: "gotrue", apiKey: true })
