// POST, PATCH, PUT and DELETE under /rest/v1, and function calls by POST: one command, one
// transaction. The capture triggers put the row changes in the log in that same transaction, and
// the reply is kept under the command's key, so a redelivered write takes effect once.
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { type StoredReply, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import * as Wakeup from "../../../platform/eventlog/Wakeup.ts"
import { Postgres, type PostgresShape, type Tx } from "../../../platform/postgres/Postgres.ts"
import type { Settings } from "../../../platform/postgres/SettingsQuery.ts"
import { execute, isRead, settledByStatement } from "../rest/execute.ts"
import type { RestRequest } from "../rest/RestRequest.ts"
import { SchemaCatalog } from "../SchemaCatalog.ts"
import type { SchemaCache } from "../schema/SchemaCache.ts"
import { becomeCaller, callerSettings, toContractErrors, toRestRequest } from "./asCaller.ts"

/** Long enough for a redelivery after a worker died; writes' replies can be large. */
const keepReplyMs = 15 * 60_000

/** What a write kept in one round trip leaves in the command log: its statement's result row. */
const keptRow = "row"

/**
 * A write settled by its statement alone, that cannot have run before (the first attempt of a key
 * the bus made): it commits with its batch. Any other write ends its transaction itself.
 */
const inOneTrip = (request: RestRequest, context: HandlerContext) =>
  !context.mayHaveRun && settledByStatement(request)

/** Runs the one statement of a write as a Tx of its own: the statement answered from `row`. */
const answeredBy = (row: unknown): Tx => ({
  query: () => Effect.succeed({ rows: [row] } as never),
  send: () => Effect.void,
})

export const Write = Effect.gen(function* () {
  const postgres = yield* Postgres
  const catalog = yield* SchemaCatalog

  /** A reply kept as its statement's row is made again from the request, as it was first made. */
  const revive = (request: RestRequest, role: string) => (stored: StoredReply) =>
    stored.outcome === keptRow
      ? execute(answeredBy(stored.reply), catalog.current(), request, { role }).pipe(toContractErrors)
      : undefined

  const asCaller = Effect.fnUntraced(function* (
    tx: Tx,
    request: RestRequest,
    role: string,
    caller: Settings,
  ) {
    // Not with BEGIN, as reads do: a redelivered command first looks up its reply as the worker.
    yield* becomeCaller(tx, caller)
    const reply = yield* execute(tx, catalog.current(), request, { role })
    // The command log is the worker's, not the caller's.
    yield* tx.send("reset role").pipe(Effect.orDie)
    return reply
  })

  const inTransaction = (request: RestRequest, role: string, context: HandlerContext, caller: Settings) =>
    transact(postgres, { contract: Data.Write, context, keepReplyMs, revive: revive(request, role) }, (tx) =>
      asCaller(tx, request, role, caller),
    ).pipe(toContractErrors)

  return handler(Data.Write, (payload, context) => {
    if (isRead(payload)) {
      return Effect.fail(
        new ValidationFailed({ message: `${payload.method} is not a write`, field: "method" }),
      )
    }
    const caller = callerSettings(payload, context.meta.requestId)
    if (caller instanceof ValidationFailed) return Effect.fail(caller)
    const request = toRestRequest(payload)
    const { role } = payload
    const written = inOneTrip(request, context)
      ? oneTrip(postgres, request, role, context.idempotencyKey, caller, catalog.current()).pipe(
          Effect.flatMap((reply) =>
            reply === undefined ? inTransaction(request, role, context, caller) : Effect.succeed(reply),
          ),
        )
      : inTransaction(request, role, context, caller)
    return written.pipe(Effect.tap(() => Effect.sync(Wakeup.signal)))
  })
})

/** The command log is the worker's: the role goes back to the session's, as `reset role` does. */
const workerRole = {
  name: "reactor.role-none",
  text: "select pg_catalog.set_config('role', 'none', true)",
  values: [],
}

/** The command log's row for a write kept as its result row (left in `reactor.reply`). */
const keepRow = {
  name: "reactor.command-keep-row",
  text: `insert into reactor.command_log (subject, idempotency_key, outcome, reply, expires_at)
         select $1, $2, '${keptRow}', current_setting('reactor.reply')::jsonb,
                now() + $3 * interval '1 millisecond'
         where reactor.no_response_settings()`,
}

/**
 * The write, its reply kept and the transaction committed in one batch: the caller's settings,
 * the statement (its result row left in `reactor.reply`), the worker's role back, and the command
 * log row made from that setting. Undefined when the batch must be run again as a transaction: a
 * trigger set response settings (see migrations/00005_data_batch), or the key is already kept.
 */
const oneTrip = (
  postgres: PostgresShape,
  request: RestRequest,
  role: string,
  key: string,
  caller: Settings,
  cache: SchemaCache,
) => {
  let again = false
  const tx: Tx = {
    query: (statement) => {
      const { text, values, name } = statement as {
        text: string
        values: ReadonlyArray<unknown>
        name: string
      }
      return postgres
        .batch({ text, values, name }, caller, [
          workerRole,
          { ...keepRow, values: [Data.Write.subject, key, String(keepReplyMs)] },
        ])
        .pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              again =
                error.code === "RX001" || (error.code === "23505" && error.constraint === "command_log_pkey")
            }),
          ),
        ) as never
    },
    send: () => Effect.die(new Error("a write in one round trip sends nothing on its own")),
  }
  return execute(tx, cache, request, { role, keepResult: true }).pipe(
    toContractErrors,
    Effect.map((reply): Data.RestReply | undefined => reply),
    Effect.catch((error) => (again ? Effect.succeed(undefined) : Effect.fail(error))),
  )
}
