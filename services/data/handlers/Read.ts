// GET and HEAD under /rest/v1: rows, as the caller's role may see them, read-only.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { Postgres } from "../../../platform/postgres/Postgres.ts"
import { execute, isRead } from "../rest/execute.ts"
import { SchemaCatalog } from "../SchemaCatalog.ts"
import { callerSettings, toContractErrors, toRestRequest } from "./asCaller.ts"

export const Read = Effect.gen(function* () {
  const postgres = yield* Postgres
  const catalog = yield* SchemaCatalog
  return handler(Data.Read, (payload, context) => {
    if (!isRead(payload)) {
      return Effect.fail(
        new ValidationFailed({ message: `${payload.method} is not a read`, field: "method" }),
      )
    }
    const caller = callerSettings(payload, context.meta.requestId)
    if (caller instanceof ValidationFailed) return Effect.fail(caller)
    // A read is one statement (two for count=planned, which need not share a snapshot): each runs
    // in a read-only transaction of its own with the caller's settings, in one round trip.
    const tx = postgres.autocommit({ readOnly: true, locals: caller })
    return execute(tx, catalog.current(), toRestRequest(payload), { role: payload.role }).pipe(
      toContractErrors,
    )
  })
})
