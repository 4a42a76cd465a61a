// Auth's settings, read from the [auth] section (and server.bind for the default issuer).
import { Context, Effect, Layer, Redacted } from "effect"
import { ReactorConfig } from "../../platform/config/Config.ts"

export interface AuthSettingsShape {
  readonly jwtSecret: string
  readonly jwtExpiry: number
  /** The `iss` claim: <public_url>/auth/v1. */
  readonly issuer: string
  readonly autoconfirm: boolean
  readonly disableSignup: boolean
  readonly anonymousSignIns: boolean
  readonly passwordMinLength: number
  readonly refreshTokenReuseInterval: number
}

export class AuthSettings extends Context.Service<AuthSettings, AuthSettingsShape>()(
  "reactor/auth/Settings",
) {}

export const publicUrl = (config: ReactorConfig["Service"]) =>
  config.auth.public_url || `http://${config.server.bind}`

export const layer = Layer.effect(
  AuthSettings,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    return {
      jwtSecret: Redacted.value(config.auth.jwt_secret),
      jwtExpiry: config.auth.jwt_expiry,
      issuer: `${publicUrl(config)}/auth/v1`,
      autoconfirm: config.auth.autoconfirm,
      disableSignup: config.auth.disable_signup,
      anonymousSignIns: config.auth.anonymous_sign_ins,
      passwordMinLength: config.auth.password_min_length,
      refreshTokenReuseInterval: config.auth.refresh_token_reuse_interval,
    }
  }),
)
