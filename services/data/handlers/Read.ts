// GET and HEAD under /rest/v1: rows, as the caller's role may see them, in a read-only transaction.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { Postgres } from "../../../platform/postgres/Postgres.ts"
import { execute } from "../rest/execute.ts"
import { SchemaCatalog } from "../SchemaCatalog.ts"
import { callerSettings, toContractErrors, toRestRequest } from "./asCaller.ts"

export const Read = Effect.gen(function* () {
  const postgres = yield* Postgres
  const catalog = yield* SchemaCatalog
  return handler(Data.Read, (payload, context) => {
    if (payload.method !== "GET" && payload.method !== "HEAD") {
      return Effect.fail(
        new ValidationFailed({ message: `${payload.method} is not a read`, field: "method" }),
      )
    }
    const caller = callerSettings(payload, context.meta.requestId)
    if (caller instanceof ValidationFailed) return Effect.fail(caller)
    // The caller's role and claims go with BEGIN: one round trip fewer on every read.
    return postgres
      .transaction((tx) => execute(tx, catalog.current(), toRestRequest(payload), { role: payload.role }), {
        readOnly: true,
        locals: caller,
      })
      .pipe(toContractErrors)
  })
})
