// What every data handler shares: running the translator as the caller's role with its claims,
// and turning its failures into the contract's errors.
import { Effect } from "effect"
import * as Data from "../../../contracts/data.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import type { UnknownEvent } from "../../../platform/eventlog/EventStore.ts"
import type { PgError, Tx } from "../../../platform/postgres/Postgres.ts"
import type { PostgrestError } from "../rest/PostgrestError.ts"
import type { RestRequest } from "../rest/RestRequest.ts"

/** The roles a request may run as; a token naming any other is refused before it gets here. */
const roles = new Set(["anon", "authenticated", "service_role"])

/**
 * Sets the role and `request.jwt.claims` for the rest of the transaction, as PostgREST does, and
 * `reactor.request_id`, which the capture triggers put in the metadata of the changes made.
 */
export const becomeCaller = (
  tx: Tx,
  payload: Data.RestRequest,
  requestId: string,
): Effect.Effect<void, ValidationFailed> =>
  Effect.gen(function* () {
    if (!roles.has(payload.role)) {
      return yield* new ValidationFailed({
        message: `role ${payload.role} may not use the Data API`,
        field: "role",
      })
    }
    yield* tx
      .query({
        name: "data.become-caller",
        text: "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), set_config('reactor.request_id', $3, true)",
        values: [payload.role, payload.claims, requestId],
      })
      .pipe(Effect.orDie)
  })

/** The same settings, for a transaction that sets them with BEGIN (Postgres.transaction's locals). */
export const callerSettings = (
  payload: Data.RestRequest,
  requestId: string,
): ReadonlyArray<readonly [string, string]> | ValidationFailed =>
  roles.has(payload.role)
    ? [
        ["role", payload.role],
        ["request.jwt.claims", payload.claims],
        ["reactor.request_id", requestId],
      ]
    : new ValidationFailed({ message: `role ${payload.role} may not use the Data API`, field: "role" })

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
