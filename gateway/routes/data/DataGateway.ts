// What the /rest/v1 routes need besides the bus and the token verifier: which schemas are exposed.
import { Context, Effect, Layer } from "effect"
import { ReactorConfig } from "../../../platform/config/Config.ts"

export interface DataGatewayShape {
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
    return { schemas: config.data.schemas }
  }),
)
