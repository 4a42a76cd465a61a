// Port: broadcasts kept for replay (Supabase's `config.broadcast.replay` on private channels).
// Reactor keeps those sent from SQL (realtime.send), which are events in the log; broadcasts from
// clients and the REST endpoint pass through and are not kept.
import { Effect } from "effect"

export interface KeptBroadcast {
  /** The event's id, sent as `meta.id`, so a client can tell a replay from the same live message. */
  readonly id: string
  readonly event: string
  /** JSON text. */
  readonly payload: string
}

export interface BroadcastHistory {
  /** The topic's kept broadcasts sent at or after `since` (ms since the epoch), oldest first, at most `limit`. */
  readonly since: (
    subTopic: string,
    isPrivate: boolean,
    since: number,
    limit: number,
  ) => Effect.Effect<ReadonlyArray<KeptBroadcast>>
}

/** Nothing kept (tests, a gateway without a log). */
export const none: BroadcastHistory = { since: () => Effect.succeed([]) }
