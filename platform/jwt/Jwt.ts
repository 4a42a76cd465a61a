// HS256 tokens with the project secret (jose): user access tokens, and the anon and service-role
// API keys, shaped as Supabase's so its clients and RLS policies read them unchanged.
import { Data, Effect } from "effect"
import { errors, jwtVerify, SignJWT } from "jose"

export type Role = "anon" | "authenticated" | "service_role"

/** The claims of a verified token. Unknown claims pass through; RLS policies may read them. */
export interface Claims {
  readonly role: string
  readonly exp: number
  readonly iat?: number
  readonly sub?: string
  readonly aud?: string | ReadonlyArray<string>
  readonly iss?: string
  readonly email?: string
  readonly phone?: string
  readonly session_id?: string
  readonly is_anonymous?: boolean
  readonly aal?: string
  readonly ref?: string
  readonly [claim: string]: unknown
}

export class InvalidJwt extends Data.TaggedError("InvalidJwt")<{
  /** Why, in the words GoTrue uses after "invalid JWT: unable to parse or verify signature, ". */
  readonly reason: string
}> {}

const keys = new Map<string, Uint8Array>()
const keyOf = (secret: string) => {
  let key = keys.get(secret)
  if (key === undefined) {
    key = new TextEncoder().encode(secret)
    keys.set(secret, key)
  }
  return key
}

export const sign = (secret: string, claims: Record<string, unknown>): Effect.Effect<string> =>
  Effect.promise(() =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(keyOf(secret)),
  )

const reasonOf = (error: unknown): string => {
  if (error instanceof errors.JWTExpired) return "token has invalid claims: token is expired"
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return "token signature is invalid: signature is invalid"
  if (error instanceof errors.JWTClaimValidationFailed) return `token has invalid claims: ${error.message}`
  if (error instanceof errors.JOSEAlgNotAllowed) return "token is unverifiable: signing method is not HS256"
  return "token is malformed: could not parse it"
}

/**
 * Verifies signature and expiry. Verified tokens are cached until they expire, because the same
 * few keys and sessions arrive on request after request.
 */
export const makeVerifier = (secret: string, cacheSize = 10_000) => {
  const cache = new Map<string, Claims>()
  const key = keyOf(secret)
  return (token: string): Effect.Effect<Claims, InvalidJwt> =>
    Effect.suspend(() => {
      const cached = cache.get(token)
      if (cached !== undefined) {
        if (cached.exp * 1000 > Date.now()) return Effect.succeed(cached)
        cache.delete(token)
      }
      return Effect.tryPromise({
        try: () => jwtVerify(token, key, { algorithms: ["HS256"], requiredClaims: ["exp"] }),
        catch: (error) => new InvalidJwt({ reason: reasonOf(error) }),
      }).pipe(
        Effect.flatMap(({ payload }) =>
          typeof payload["role"] === "string"
            ? Effect.succeed(payload as unknown as Claims)
            : Effect.fail(new InvalidJwt({ reason: "token has invalid claims: missing role claim" })),
        ),
        Effect.tap((claims) =>
          Effect.sync(() => {
            if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!)
            cache.set(token, claims)
          }),
        ),
      )
    })
}

/** Fixed issue and expiry times, so `reactor keys` prints the same keys every time for one secret. */
const keyIssuedAt = 1_700_000_000
const keyExpires = 4_102_444_800

export const apiKey = (secret: string, role: "anon" | "service_role", ref: string): Effect.Effect<string> =>
  sign(secret, { iss: "reactor", ref, role, iat: keyIssuedAt, exp: keyExpires })
