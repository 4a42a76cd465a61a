// Broadcasts kept for replay, read back from the event log: those sent from SQL (realtime.send)
// are data.BroadcastSent events there, within the replay window like the row changes. A replay
// stops at the last one this gateway has received live (`until`): those after it reach the
// channel live, so none comes twice and none is missed.
import { Effect } from "effect"
import type { LogCursor } from "../../../platform/eventlog/LogCursor.ts"
import type { PostgresShape } from "../../../platform/postgres/Postgres.ts"
import type { BroadcastHistory } from "../../realtime/BroadcastHistory.ts"

interface Row {
  readonly id: string
  readonly event: string
  readonly payload: string
}

export const logBroadcasts = (
  postgres: PostgresShape,
  windowMs: number,
  until: () => LogCursor | undefined,
): BroadcastHistory => ({
  since: (subTopic, isPrivate, since, limit) => {
    const end = until()
    // Nothing received live and nothing in the log before this gateway followed it: nothing to replay.
    if (end === undefined) return Effect.succeed([])
    return postgres
      .query<Row>({
        name: "realtime.kept-broadcasts",
        text: `select event_id::text as id, data->>'event' as event, (data->'payload')::text as payload
               from reactor.events
               where type = 'data.BroadcastSent' and data->>'topic' = $1
                 and (data->>'private')::boolean = $2
                 and recorded_at >= greatest(to_timestamp($3 / 1000.0), now() - $5 * interval '1 millisecond')
                 and (transaction_id, position) <= ($6::text::xid8, $7::bigint)
               order by transaction_id, position
               limit $4`,
        values: [
          subTopic,
          isPrivate,
          since,
          limit,
          windowMs,
          end.transactionId.toString(),
          end.position.toString(),
        ],
      })
      .pipe(
        Effect.map(({ rows }) => rows),
        // A replay that cannot be read leaves the channel live without it, and says so in the log.
        Effect.catch((error) =>
          Effect.logWarning(`broadcast replay for ${subTopic} failed: ${error.message}`).pipe(Effect.as([])),
        ),
      )
  },
})
