// What the GoTrue routes need besides the bus: token checks, rate limits and public settings.
import { Context, Effect, Layer, Redacted } from "effect"
import { ReactorConfig } from "../../../platform/config/Config.ts"
import { type Claims, type InvalidJwt, makeVerifier } from "../../../platform/jwt/Jwt.ts"
import * as RateLimiter from "../../RateLimiter.ts"

export interface AuthGatewayShape {
  readonly verify: (token: string) => Effect.Effect<Claims, InvalidJwt>
  readonly limiter: RateLimiter.RateLimiter
  readonly limits: {
    readonly signUp: RateLimiter.Limit
    readonly token: RateLimiter.Limit
    readonly anonymous: RateLimiter.Limit
  }
  readonly settings: {
    readonly autoconfirm: boolean
    readonly disableSignup: boolean
    readonly anonymousSignIns: boolean
  }
}

export class AuthGateway extends Context.Service<AuthGateway, AuthGatewayShape>()(
  "reactor/gateway/AuthGateway",
) {}

const fiveMinutes = 300_000

export const layer = Layer.effect(
  AuthGateway,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    return {
      verify: makeVerifier(Redacted.value(config.auth.jwt_secret)),
      limiter: RateLimiter.make(),
      limits: {
        signUp: { requests: config.auth.rate_limit_sign_ups, windowMs: fiveMinutes, burst: 30 },
        token: { requests: config.auth.rate_limit_token, windowMs: fiveMinutes, burst: 30 },
        anonymous: { requests: config.auth.rate_limit_anonymous, windowMs: 3_600_000, burst: 30 },
      },
      settings: {
        autoconfirm: config.auth.autoconfirm,
        disableSignup: config.auth.disable_signup,
        anonymousSignIns: config.auth.anonymous_sign_ins,
      },
    }
  }),
)
