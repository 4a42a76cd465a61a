// Data's settings, read from the [data] section.
import { Context, Effect, Layer } from "effect"
import { ReactorConfig } from "../../platform/config/Config.ts"

export interface DataSettingsShape {
  /** Schemas served at /rest/v1 and captured for realtime; the first is the default profile. */
  readonly schemas: ReadonlyArray<string>
}

export class DataSettings extends Context.Service<DataSettings, DataSettingsShape>()(
  "reactor/data/Settings",
) {}

export const layer = Layer.effect(
  DataSettings,
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    return { schemas: config.data.schemas }
  }),
)
