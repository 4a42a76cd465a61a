// Rebuilds projections from the log: empty their tables, then apply every event again in log
// order, in one transaction, so readers see either the old projection or the rebuilt one.
import { Effect } from "effect"
import type { PgError, PostgresShape, Tx } from "../postgres/Postgres.ts"
import { decodeRow, type EventRow, eventColumns, type StoredEvent, type UnknownEvent } from "./EventStore.ts"

export interface Projector<E = never> {
  /** Tables the projector owns, emptied before the replay. */
  readonly tables: ReadonlyArray<string>
  readonly apply: (tx: Tx, event: StoredEvent) => Effect.Effect<void, E | PgError>
}

const replay = Effect.fnUntraced(function* <E>(tx: Tx, projector: Projector<E>, batchSize: number) {
  // Not CASCADE: an app table that references a projection (todos.owner → auth.users) would be
  // emptied with it. Such a reference makes the rebuild fail instead, and nothing is lost.
  yield* tx.query(`truncate ${projector.tables.join(", ")}`)
  let applied = 0
  let after = { transactionId: "0", position: "0" }
  while (true) {
    const { rows } = yield* tx.query<EventRow>(
      `select ${eventColumns} from reactor.events
           where (transaction_id, position) > ($1::text::xid8, $2::bigint)
           order by events.transaction_id, events.position limit $3`,
      [after.transactionId, after.position, batchSize],
    )
    for (const row of rows) {
      yield* projector.apply(tx, yield* decodeRow(row))
      applied++
    }
    const last = rows.at(-1)
    if (last === undefined || rows.length < batchSize) return applied
    after = { transactionId: last.transaction_id, position: last.position }
  }
})

export const rebuild = <E>(
  postgres: PostgresShape,
  projector: Projector<E>,
  batchSize = 1_000,
): Effect.Effect<number, E | PgError | UnknownEvent> =>
  postgres.transaction((tx) => replay(tx, projector, batchSize))
