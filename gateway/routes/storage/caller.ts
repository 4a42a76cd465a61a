// Who asks Storage: the bearer token (supabase-js sends the anon key when nobody is signed in),
// else the apikey. Storage answers a bad token in its own error shape.
import { Effect } from "effect"
import { isApiRole } from "../../../contracts/shared.ts"
import { type Caller, errors } from "../../../contracts/storage.ts"
import { claimsText } from "../../http/claimsText.ts"
import { callerToken, type HttpRequest } from "../../http/HttpRequest.ts"
import { AuthGateway } from "../auth/AuthGateway.ts"

export const callerOf = Effect.fnUntraced(function* (request: HttpRequest) {
  const { verify } = yield* AuthGateway
  const token = callerToken(request)
  if (token === "") {
    return yield* Effect.fail(errors.invalidJwt("headers must have required property 'authorization'"))
  }
  const claims = yield* verify(token).pipe(Effect.mapError((e) => errors.invalidJwt(e.reason)))
  if (!isApiRole(claims.role)) {
    return yield* Effect.fail(errors.invalidJwt(`role ${claims.role} may not use Storage`))
  }
  return { role: claims.role, claims: claimsText(claims) } satisfies Caller
})

/** Who asks a public route: nobody in particular. */
export const anonymous: Caller = { role: "anon", claims: JSON.stringify({ role: "anon" }) }

/** Who acts for a signed URL's holder: the URL itself was the permission. */
export const service: Caller = { role: "service_role", claims: JSON.stringify({ role: "service_role" }) }
