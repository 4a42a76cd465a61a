// The changes a realtime client missed, read back from the event log: it keeps every change, so
// the window is a choice — how far back a client may resume before it is told to reload.
import { Effect } from "effect"
import * as LogCursor from "../../../platform/eventlog/LogCursor.ts"
import type { PostgresShape } from "../../../platform/postgres/Postgres.ts"
import { type ChangeHistory, type HistoryBinding, PositionTooOld } from "../../realtime/ChangeHistory.ts"
import type { RowChange } from "../../realtime/RowChange.ts"

export interface LogHistoryOptions {
  /** How old the client's last change may be. */
  readonly windowMs: number
  /** Most changes replayed to one channel; further behind, the client reloads instead. */
  readonly maxChanges: number
}

interface Row {
  readonly transaction_id: string
  readonly position: string
  readonly data: Omit<RowChange, "position">
}

const matches = (change: Omit<RowChange, "position">, bindings: ReadonlyArray<HistoryBinding>) =>
  bindings.some(
    (b) => (b.schema === "*" || b.schema === change.schema) && (b.table === "*" || b.table === change.table),
  )

/** The changes after `position` (see ChangeHistory.since); a database failure is the caller's PgError. */
const read = Effect.fnUntraced(function* (
  postgres: PostgresShape,
  options: LogHistoryOptions,
  position: string,
  bindings: ReadonlyArray<HistoryBinding>,
  until: string | undefined,
) {
  const cursor = LogCursor.parse(position)
  const tooOld = new PositionTooOld({ position })
  if (cursor === undefined) return yield* tooOld
  // Up to what the hub has received: later changes reach it live.
  const end = until === undefined ? undefined : LogCursor.parse(until)
  // The position must name a change still inside the window: one the client really saw.
  const seen = yield* postgres.query<{ fresh: boolean }>(
    `select recorded_at > now() - $3 * interval '1 millisecond' as fresh from reactor.events
         where position = $1 and transaction_id = $2::text::xid8 and type = 'data.RowChanged'`,
    [cursor.position.toString(), cursor.transactionId.toString(), options.windowMs],
  )
  if (seen.rows[0]?.fresh !== true) return yield* tooOld
  // In the order the outbox relay publishes: (transaction, position), below every transaction
  // still running, so nothing replayed can be overtaken by a late commit.
  const { rows } = yield* postgres.query<Row>(
    `select transaction_id::text, position, data from reactor.events
         where (transaction_id, position) > ($1::text::xid8, $2::bigint)
           and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           and ($4::text is null or (transaction_id, position) <= ($4::text::xid8, $5::bigint))
           and type = 'data.RowChanged'
         order by events.transaction_id, events.position
         limit $3`,
    [
      cursor.transactionId.toString(),
      cursor.position.toString(),
      options.maxChanges + 1,
      end?.transactionId.toString() ?? null,
      end?.position.toString() ?? null,
    ],
  )
  if (rows.length > options.maxChanges) return yield* tooOld
  return rows
    .filter((row) => matches(row.data, bindings))
    .map(
      (row): RowChange => ({
        ...row.data,
        position: LogCursor.format({
          transactionId: BigInt(row.transaction_id),
          position: BigInt(row.position),
        }),
      }),
    )
})

export const logHistory = (postgres: PostgresShape, options: LogHistoryOptions): ChangeHistory => ({
  since: (position, bindings, until) =>
    read(postgres, options, position, bindings, until).pipe(
      Effect.catchTag("PgError", (error) =>
        Effect.logWarning(`realtime history unavailable: ${error.message}`).pipe(
          Effect.andThen(Effect.fail(new PositionTooOld({ position }))),
        ),
      ),
    ),
})
