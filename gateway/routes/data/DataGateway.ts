// What the /rest/v1 routes need besides the bus: who the caller is, and which schemas are exposed.
import { Context, Effect, Layer, Redacted } from "effect"
import { ReactorConfig } from "../../../platform/config/Config.ts"
import { type Claims, type InvalidJwt, makeVerifier } from "../../../platform/jwt/Jwt.ts"

export interface DataGatewayShape {
  readonly verify: (token: string) => Effect.Effect<Claims, InvalidJwt>
  /** Exposed schemas; the first is used when the client names none. */
  readonly schemas: ReadonlyArray<string>
}

export class DataGateway extends Context.Service<DataGateway, DataGatewayShape>()(
  "reactor/gateway/DataGateway",
) {}

export const layer = Layer.effect(
  DataGateway,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    return { verify: makeVerifier(Redacted.value(config.auth.jwt_secret)), schemas: config.data.schemas }
  }),
)
