// POST, PATCH, PUT and DELETE under /rest/v1, and function calls by POST: one command, one
// transaction. The capture triggers put the row changes in the log in that same transaction, and
// the reply is kept under the command's key, so a redelivered write takes effect once.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { transact } from "../../../platform/eventlog/CommandTransaction.ts"
import * as Wakeup from "../../../platform/eventlog/Wakeup.ts"
import { Postgres } from "../../../platform/postgres/Postgres.ts"
import { execute, isRead } from "../rest/execute.ts"
import { SchemaCatalog } from "../SchemaCatalog.ts"
import { becomeCaller, callerSettings, toContractErrors, toRestRequest } from "./asCaller.ts"

/** Long enough for a redelivery after a worker died; writes' replies can be large. */
const keepReplyMs = 15 * 60_000

export const Write = Effect.gen(function* () {
  const postgres = yield* Postgres
  const catalog = yield* SchemaCatalog
  return handler(Data.Write, (payload, context) => {
    if (isRead(payload)) {
      return Effect.fail(
        new ValidationFailed({ message: `${payload.method} is not a write`, field: "method" }),
      )
    }
    const caller = callerSettings(payload, context.meta.requestId)
    if (caller instanceof ValidationFailed) return Effect.fail(caller)
    return transact(postgres, { contract: Data.Write, context, keepReplyMs }, (tx) =>
      Effect.gen(function* () {
        // Not with BEGIN, as reads do: a redelivered command first looks up its reply as the worker.
        yield* becomeCaller(tx, caller)
        const reply = yield* execute(tx, catalog.current(), toRestRequest(payload), { role: payload.role })
        // The command log is the worker's, not the caller's.
        yield* tx.send("reset role").pipe(Effect.orDie)
        return reply
      }),
    ).pipe(
      toContractErrors,
      Effect.tap(() => Effect.sync(Wakeup.signal)),
    )
  })
})
