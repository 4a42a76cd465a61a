// Signed URLs: a token in the query string that lets whoever holds it download one object, or
// upload one, until it expires. They are JWTs, signed with a key derived from the project's secret
// for this use alone, so a URL's token is never an API token and an API token never opens a URL.
import { createHmac } from "node:crypto"
import { Context, Effect, Layer, Redacted } from "effect"
import { ReactorConfig } from "../../../platform/config/Config.ts"
import { makeVerifier, sign } from "../../../platform/jwt/Jwt.ts"

export interface UrlClaims {
  /** `<bucket>/<name>`: the one object the URL opens. */
  readonly url: string
  /** An upload URL's single-use token id (storage.upload_tokens). */
  readonly upload?: string
  /** Who asked for an upload URL: the upload is recorded as theirs. */
  readonly owner?: string | null
  readonly upsert?: boolean
}

export interface SignedUrlsShape {
  readonly sign: (claims: UrlClaims, expiresInSeconds: number) => Effect.Effect<string>
  /** The claims of a token for `url`; fails for a bad, expired or mismatched one. */
  readonly verify: (token: string, url: string) => Effect.Effect<UrlClaims, "invalid">
}

export class SignedUrls extends Context.Service<SignedUrls, SignedUrlsShape>()(
  "reactor/gateway/SignedUrls",
) {}

const purpose = "reactor storage signed urls"

export const layer = Layer.effect(
  SignedUrls,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    const key = createHmac("sha256", Redacted.value(config.auth.jwt_secret))
      .update(purpose)
      .digest("base64url")
    const verifier = makeVerifier(key)
    return {
      sign: (claims, expiresInSeconds) => {
        const now = Math.floor(Date.now() / 1000)
        return sign(key, {
          ...claims,
          role: "signed-url",
          iat: now,
          exp: now + Math.max(1, expiresInSeconds),
        })
      },
      verify: (token, url) =>
        verifier(token).pipe(
          Effect.mapError(() => "invalid" as const),
          Effect.flatMap((claims) => {
            const c = claims as unknown as UrlClaims & { role: string }
            return c.role === "signed-url" && c.url === url
              ? Effect.succeed(c)
              : Effect.fail("invalid" as const)
          }),
        ),
    }
  }),
)
