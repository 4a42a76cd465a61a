// The system worker: checks the bus end to end (Echo) and the command path into the log (Append).
// Every worker role runs it, so a gateway can tell a worker is there.
import { randomUUID } from "node:crypto"
import { Effect, Layer } from "effect"
import { Bus, handler } from "../../bus/Bus.ts"
import * as System from "../../contracts/system.ts"
import { type CommandTx, transact } from "../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../platform/eventlog/EventStore.ts"
import { Postgres } from "../../platform/postgres/Postgres.ts"

const append = Effect.fnUntraced(function* (tx: CommandTx, note: string) {
  const stream = `system.append-${randomUUID()}`
  yield* tx.append(stream, 0, [newEvent(System.Appended, { note, at: new Date().toISOString() })])
  return { stream }
})

export const serve = Effect.gen(function* () {
  const bus = yield* Bus
  const postgres = yield* Postgres
  yield* bus.serve({
    group: "system",
    handlers: [
      handler(System.Echo, (payload) => Effect.succeed(payload)),
      handler(System.EchoCommand, (payload) => Effect.succeed(payload)),
      handler(System.Append, (payload, context) =>
        transact(postgres, { contract: System.Append, context }, (tx) => append(tx, payload.note)).pipe(
          Effect.orDie,
        ),
      ),
    ],
  })
})

export const layer = Layer.effectDiscard(serve)
