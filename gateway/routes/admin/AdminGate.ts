// Who may use /_admin: a request with the admin token, from loopback unless admin.allow_remote.
import { createHash, timingSafeEqual } from "node:crypto"
import { Context, Effect, Layer, Redacted } from "effect"
import { ReactorConfig } from "../../../platform/config/Config.ts"
import { AdminRemote, AdminUnauthorized } from "../../http/GatewayError.ts"
import { bearer, type HttpRequest } from "../../http/HttpRequest.ts"

export interface AdminGateShape {
  /** False when no admin token is configured: then /_admin does not exist. */
  readonly enabled: boolean
  readonly check: (request: HttpRequest) => Effect.Effect<void, AdminUnauthorized | AdminRemote>
}

export class AdminGate extends Context.Service<AdminGate, AdminGateShape>()("reactor/gateway/AdminGate") {}

const digest = (text: string) => createHash("sha256").update(text).digest()

export const isLoopback = (ip: string) =>
  /^127\./.test(ip) || ip === "::1" || /^::ffff:127\./.test(ip) || /^0{0,4}(:0{0,4}){6}:0{0,3}1$/.test(ip)

export const make = (token: string, allowRemote: boolean): AdminGateShape => {
  const expected = digest(token)
  return {
    enabled: token !== "",
    check: (request) =>
      Effect.suspend((): Effect.Effect<void, AdminUnauthorized | AdminRemote> => {
        if (!allowRemote && !isLoopback(request.ip)) return Effect.fail(new AdminRemote())
        const given = bearer(request)
        // Compared as digests of equal length, in constant time.
        return given !== undefined && timingSafeEqual(digest(given), expected)
          ? Effect.void
          : Effect.fail(new AdminUnauthorized())
      }),
  }
}

export const layer = Layer.effect(
  AdminGate,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    return make(Redacted.value(config.admin.token), config.admin.allow_remote)
  }),
)
