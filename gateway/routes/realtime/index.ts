// Realtime on this gateway, wired to the platform: tokens checked with the project secret, every
// captured change followed from the bus, missed ones read back from the event log, broadcasts and
// presence shared with other gateways over bus signals, and delivery authorized by the tables' RLS.
import { Effect, Redacted, Semaphore } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { ReactorConfig } from "../../../platform/config/Config.ts"
import { makeVerifier } from "../../../platform/jwt/Jwt.ts"
import { listen } from "../../../platform/postgres/Listener.ts"
import { Postgres } from "../../../platform/postgres/Postgres.ts"
import * as Realtime from "../../realtime/Realtime.ts"
import type { RowChange } from "../../realtime/RowChange.ts"
import { busRelay } from "./busRelay.ts"
import { logHistory } from "./logHistory.ts"
import * as PolicyCatalog from "./PolicyCatalog.ts"
import { rlsAuthorizer } from "./RlsAuthorizer.ts"

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

  let tables = yield* PolicyCatalog.load(postgres, schemas).pipe(Effect.orDie)
  let realtime: Realtime.Realtime | undefined
  // One load at a time; a notification during a load asks for one more after it.
  const load = PolicyCatalog.load(postgres, schemas).pipe(
    Effect.tap((next) =>
      Effect.sync(() => {
        tables = next
      }),
    ),
    Effect.andThen(Effect.suspend(() => realtime?.reauthorize ?? Effect.void)),
    Effect.tapError((e) => Effect.logWarning(`realtime policies reload failed: ${e.message}`)),
    Effect.ignore,
  )
  const semaphore = yield* Semaphore.make(1)
  const refresh = semaphore.withPermits(1)(load)
  yield* listen(postgres.url, "pgrst", (payload) => {
    if (payload === undefined || payload === "" || payload === "reload schema") Effect.runFork(refresh)
  })

  realtime = yield* Realtime.make({
    verifyJwt: makeVerifier(Redacted.value(config.auth.jwt_secret)),
    authorizer: rlsAuthorizer({ postgres, tables: () => tables, refresh }),
    history: logHistory(postgres, {
      windowMs: config.realtime.replay_window_ms,
      maxChanges: config.realtime.replay_max_changes,
    }),
    relay: busRelay(bus),
  })
  const started = realtime
  yield* bus.subscribe({ events: [Data.RowChanged] }, (delivery) =>
    started.publishChanges([
      toRowChange(delivery.payload as typeof Data.RowChanged.payload.Type, delivery.logPosition),
    ]),
  )
  return started
})
