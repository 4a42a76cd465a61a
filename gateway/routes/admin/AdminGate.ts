// Who may use /_admin: a request with the admin token, from loopback unless admin.allow_remote.
import { timingSafeEqual } from "node:crypto"
import { Context, Effect, Layer, Redacted } from "effect"
import { bindAddress, ReactorConfig } from "../../../platform/config/Config.ts"
import { AdminRemote, AdminUnauthorized } from "../../http/GatewayError.ts"
import { bearer, type HttpRequest } from "../../http/HttpRequest.ts"

export interface AdminGateShape {
  /** False when no admin token is configured: then /_admin does not exist. */
  readonly enabled: boolean
  readonly check: (request: HttpRequest) => Effect.Effect<void, AdminUnauthorized | AdminRemote>
}

export class AdminGate extends Context.Service<AdminGate, AdminGateShape>()("reactor/gateway/AdminGate") {}

export const isLoopback = (ip: string) =>
  /^127\./.test(ip) || ip === "::1" || /^::ffff:127\./.test(ip) || /^0{0,4}(:0{0,4}){6}:0{0,3}1$/.test(ip)

export interface GateOptions {
  readonly token: string
  readonly allowRemote: boolean
  /**
   * The server listens on loopback only and takes addresses from the socket (no trusted proxy):
   * every client is then local, and the per-request address check can be skipped.
   */
  readonly onlyLoopbackClients: boolean
}

export const make = (options: GateOptions): AdminGateShape => {
  const expected = Buffer.from(options.token)
  const checkAddress = !options.allowRemote && !options.onlyLoopbackClients
  return {
    enabled: options.token !== "",
    check: (request) =>
      Effect.suspend((): Effect.Effect<void, AdminUnauthorized | AdminRemote> => {
        if (checkAddress && !isLoopback(request.ip)) return Effect.fail(new AdminRemote())
        const given = Buffer.from(bearer(request) ?? "")
        // Constant time for a token of the right length; a wrong length reveals only that.
        return given.length === expected.length && timingSafeEqual(given, expected)
          ? Effect.void
          : Effect.fail(new AdminUnauthorized())
      }),
  }
}

export const layer = Layer.effect(
  AdminGate,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    const { host } = bindAddress(config)
    return make({
      token: Redacted.value(config.admin.token),
      allowRemote: config.admin.allow_remote,
      onlyLoopbackClients: !config.server.trust_proxy && (isLoopback(host) || host === "localhost"),
    })
  }),
)
