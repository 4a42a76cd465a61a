// What every data handler shares: running the translator as the caller's role with its claims,
// and turning its failures into the contract's errors.
import { Effect } from "effect"
import * as Data from "../../../contracts/data.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { isApiRole } from "../../../contracts/shared.ts"
import type { UnknownEvent } from "../../../platform/eventlog/EventStore.ts"
import { type PgError, setLocals, type Tx } from "../../../platform/postgres/Postgres.ts"
import type { Settings } from "../../../platform/postgres/SettingsQuery.ts"
import type { PostgrestError } from "../rest/PostgrestError.ts"
import type { RestRequest } from "../rest/RestRequest.ts"

/**
 * The caller's role and `request.jwt.claims`, as PostgREST sets them, and `reactor.request_id`,
 * which the capture triggers put in the metadata of the changes made; for Postgres.autocommit's
 * locals, or for becomeCaller.
 */
export const callerSettings = (payload: Data.RestRequest, requestId: string): Settings | ValidationFailed =>
  isApiRole(payload.role)
    ? [
        ["role", payload.role],
        ["request.jwt.claims", payload.claims],
        ["reactor.request_id", requestId],
      ]
    : new ValidationFailed({ message: `role ${payload.role} may not use the Data API`, field: "role" })

/** Applies the settings for the rest of a transaction already under way; sent, not waited for. */
export const becomeCaller = (tx: Tx, settings: Settings): Effect.Effect<void> =>
  setLocals(tx, settings).pipe(Effect.orDie)

export const toRestRequest = (payload: Data.RestRequest): RestRequest => ({
  method: payload.method,
  schema: payload.schema,
  target: payload.target,
  query: payload.query.map((p) => [p.name, p.value] as const),
  prefer: payload.prefer ?? undefined,
  accept: payload.accept ?? undefined,
  range: payload.range ?? undefined,
  body: payload.body ?? undefined,
})

type Infrastructure = PgError | UnknownEvent

/** The translator's PostgREST error as it crosses the bus; database failures are not the caller's. */
export const toContractErrors = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, Exclude<E, PostgrestError | Infrastructure> | Data.RestError, R> =>
  Effect.catch(
    effect,
    (error): Effect.Effect<never, Exclude<E, PostgrestError | Infrastructure> | Data.RestError> => {
      const e = error as PostgrestError | Infrastructure | { readonly _tag: string }
      if (e._tag === "PostgrestError") {
        const p = e as PostgrestError
        return Effect.fail(
          new Data.RestError({
            status: p.status,
            code: p.code,
            message: p.message,
            // PGRST201 keeps its list of candidate relationships as JSON text; PostgREST sends an array.
            details: p.code === "PGRST201" && p.details !== null ? JSON.parse(p.details) : p.details,
            hint: p.hint,
          }),
        )
      }
      if (e._tag === "PgError" || e._tag === "UnknownEvent") return Effect.die(e)
      return Effect.fail(error as Exclude<E, PostgrestError | Infrastructure>)
    },
  )
