// The data worker: serves the Data API's reads and writes on the bus, in the "data" group.
import { Effect, Layer } from "effect"
import { Bus } from "../../bus/Bus.ts"
import * as Config from "./Config.ts"
import { Read } from "./handlers/Read.ts"
import { Write } from "./handlers/Write.ts"
import * as SchemaCatalog from "./SchemaCatalog.ts"

export interface WorkerOptions {
  readonly concurrency?: number
  readonly ackWait?: number
}

export const serve = Effect.fnUntraced(function* (options: WorkerOptions = {}) {
  const bus = yield* Bus
  const handlers = yield* Effect.all([Read, Write])
  yield* bus.serve({ group: "data", handlers, ...options })
})

export const layer = (options: WorkerOptions = {}) =>
  Layer.effectDiscard(serve(options)).pipe(Layer.provide(SchemaCatalog.layer), Layer.provide(Config.layer))
