// Realtime on this gateway, wired to the platform: tokens checked with the project secret, every
// captured change followed from the bus, missed ones read back from the event log, broadcasts and
// presence shared with other gateways over bus signals, delivery authorized by the tables' RLS, and
// private channels by the policies on realtime.messages.
import { Effect, Option, Semaphore } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { ReactorConfig } from "../../../platform/config/Config.ts"
import * as LogCursor from "../../../platform/eventlog/LogCursor.ts"
import { onSchemaChange } from "../../../platform/postgres/Listener.ts"
import { Postgres } from "../../../platform/postgres/Postgres.ts"
import * as Realtime from "../../realtime/Realtime.ts"
import type { RowChange } from "../../realtime/RowChange.ts"
import { AuthGateway } from "../auth/AuthGateway.ts"
import { busRelay } from "./busRelay.ts"
import { logBroadcasts } from "./logBroadcasts.ts"
import { logHistory } from "./logHistory.ts"
import { loadPolicies, type Policies } from "./Policies.ts"
import { rlsAuthorizer } from "./RlsAuthorizer.ts"
import { topicPolicies } from "./TopicPolicies.ts"

const toRowChange = (payload: typeof Data.RowChanged.payload.Type, position: string): RowChange => ({
  position,
  schema: payload.schema,
  table: payload.table,
  type: payload.type,
  commit_timestamp: payload.commit_timestamp,
  columns: payload.columns,
  record: payload.record,
  old_record: payload.old_record,
})

export const start = Effect.gen(function* () {
  const config = yield* ReactorConfig
  const bus = yield* Bus
  const postgres = yield* Postgres
  const schemas = config.data.schemas

  let policies: Policies | undefined
  let realtime: Realtime.Realtime | undefined
  // One load at a time; a notification during a load asks for one more after it.
  const load = loadPolicies(postgres, schemas).pipe(
    Effect.tap((next) =>
      Effect.sync(() => {
        policies = next
      }),
    ),
    Effect.andThen(Effect.suspend(() => realtime?.reauthorize ?? Effect.void)),
    Effect.tapError((e) => Effect.logWarning(`realtime policies reload failed: ${e.message}`)),
    Effect.ignore,
  )
  const semaphore = yield* Semaphore.make(1)
  const refresh = semaphore.withPermits(1)(load)
  yield* onSchemaChange(postgres.url, refresh)
  const first = yield* loadPolicies(postgres, schemas).pipe(Effect.orDie)
  // A reload that finished during the first load is newer: keep it.
  policies ??= first
  const current = () => policies!

  // The newest log position this gateway's live broadcasts have reached: what the bus had when it
  // started following, then each one received. A replay stops there; later ones come live.
  let broadcastsUntil: LogCursor.LogCursor | undefined
  const reached = (position: string) => {
    const at = LogCursor.parse(position)
    if (at !== undefined)
      broadcastsUntil = broadcastsUntil === undefined ? at : LogCursor.max(at, broadcastsUntil)
  }
  realtime = yield* Realtime.make({
    verifyJwt: (yield* AuthGateway).verify,
    authorizer: rlsAuthorizer({ postgres, policies: current, refresh }),
    history: logHistory(postgres, {
      windowMs: config.realtime.replay_window_ms,
      maxChanges: config.realtime.replay_max_changes,
    }),
    relay: busRelay(bus),
    authorizeTopic: topicPolicies(postgres),
    broadcastHistory: logBroadcasts(postgres, config.realtime.replay_window_ms, () => broadcastsUntil),
  })
  const started = realtime
  yield* bus.subscribe({ events: [Data.RowChanged] }, (delivery) => {
    const change = toRowChange(delivery.payload as typeof Data.RowChanged.payload.Type, delivery.logPosition)
    // Membership tables in memory follow the changes in order, before any later change is judged;
    // changes the last snapshot of them already holds are not applied twice.
    const cursor = LogCursor.parse(change.position)
    if (cursor === undefined || cursor.transactionId >= current().snapshotXmin)
      current().membership.apply(change)
    return started.publishChanges([change])
  })
  // Broadcasts sent from SQL (realtime.send) come in the log too: each gateway delivers its own.
  yield* bus.subscribe({ events: [Data.BroadcastSent] }, (delivery) => {
    const sent = delivery.payload as typeof Data.BroadcastSent.payload.Type
    reached(delivery.logPosition)
    return started.deliverBroadcast({
      topic: `realtime:${sent.topic}`,
      private: sent.private,
      event: sent.event,
      payload: { json: JSON.stringify(sent.payload) },
      // As Supabase sends it: the id a replay of the same message carries too.
      meta: JSON.stringify({ id: delivery.id }),
    })
  })
  // Read after subscribing: an event between the two is received live and may be replayed too,
  // rather than be neither.
  const published = yield* bus.lastPublished.pipe(Effect.orElseSucceed(() => Option.none()))
  if (Option.isSome(published)) reached(published.value.logPosition)
  return started
})
