// Reads the log in the order every follower sees it: by (transaction id, position), and only
// below the oldest transaction still running, so a transaction that commits late is not skipped.
import { Effect } from "effect"
import type { PgError, Tx } from "../postgres/Postgres.ts"
import { decodeRow, type EventRow, eventColumns, type StoredEvent, type UnknownEvent } from "./EventStore.ts"
import type { LogCursor } from "./LogCursor.ts"

export const readAfter = (
  tx: Tx,
  cursor: LogCursor,
  limit: number,
): Effect.Effect<ReadonlyArray<StoredEvent>, PgError | UnknownEvent> =>
  tx
    .query<EventRow>({
      name: "reactor.follow",
      text: `select ${eventColumns} from reactor.events
             where (transaction_id, position) > ($1::text::xid8, $2::bigint)
               and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
             order by events.transaction_id, events.position
             limit $3`,
      values: [cursor.transactionId.toString(), cursor.position.toString(), limit],
    })
    .pipe(Effect.flatMap(({ rows }) => Effect.forEach(rows, decodeRow)))
