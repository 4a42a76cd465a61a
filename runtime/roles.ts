// The roles a process can play, as layers over the same platform. `all` is the gateway and every
// worker in one process — single-process mode is this wiring, not another code path.
import { Effect, Layer } from "effect"
import { Bus } from "../bus/Bus.ts"
import { AdminGate, layer as adminGateLayer, adminRoutes } from "../gateway/routes/admin/index.ts"
import { AuthGateway, layer as authGatewayLayer, authRoutes } from "../gateway/routes/auth/index.ts"
import { type DataGateway, layer as dataGatewayLayer, restRoutes } from "../gateway/routes/data/index.ts"
import * as RealtimeGateway from "../gateway/routes/realtime/index.ts"
import { type SignedUrls, signedUrlsLayer, storageRoutes } from "../gateway/routes/storage/index.ts"
import * as Server from "../gateway/Server.ts"
import type { BlobStore } from "../platform/blobs/BlobStore.ts"
import { bindAddress, ReactorConfig } from "../platform/config/Config.ts"
import * as OutboxRelay from "../platform/eventlog/OutboxRelay.ts"
import { Postgres } from "../platform/postgres/Postgres.ts"
import * as AuthConfig from "../services/auth/Config.ts"
import * as AuthWorker from "../services/auth/Worker.ts"
import * as DataWorker from "../services/data/Worker.ts"
import * as StorageWorker from "../services/storage/Worker.ts"
import * as SystemWorker from "../services/system/Worker.ts"
import * as BlobStoreFromConfig from "./blobStore.ts"

export const roleNames = ["all", "gateway", "auth", "data", "storage"] as const
export type RoleName = (typeof roleNames)[number]

export interface GatewayHandle {
  readonly port: number
}

/** Called once the gateway listens, with its port (0 in the config picks a free one). */
export type OnListening = (handle: GatewayHandle) => void

const readiness = Effect.gen(function* () {
  const postgres = yield* Postgres
  const bus = yield* Bus
  const check = (effect: Effect.Effect<unknown, unknown>) =>
    effect.pipe(
      Effect.timeout(2_000),
      Effect.match({
        onFailure: (e) => `failing: ${String((e as Error)?.message ?? (e as { _tag?: string })?._tag ?? e)}`,
        onSuccess: () => "ok",
      }),
    )
  const checks = yield* Effect.all({ database: check(postgres.query("select 1")), bus: check(bus.ping) })
  return { ready: checks.database === "ok" && checks.bus === "ok", checks }
})

const startGateway = Effect.fnUntraced(function* (onListening: OnListening) {
  const config = yield* ReactorConfig
  const context = yield* Effect.context<
    Bus | Postgres | AuthGateway | AdminGate | DataGateway | BlobStore | SignedUrls
  >()
  const { host, port } = bindAddress(config)
  const timeout = config.server.request_timeout_ms
  const admin = (yield* AdminGate).enabled ? adminRoutes(timeout) : []
  const realtime = yield* RealtimeGateway.start
  const server = yield* Server.start(
    [...authRoutes(timeout), ...restRoutes(timeout), ...storageRoutes(timeout), ...realtime.routes, ...admin],
    context,
    {
      host,
      port,
      bodyLimit: config.server.body_limit,
      maxInflight: config.server.max_inflight,
      drainTimeoutMs: config.server.drain_timeout_ms,
      corsOrigins: config.server.cors_origins,
      trustProxy: config.server.trust_proxy,
      allowSlowUws: config.server.allow_slow_uws,
      // One verifier, one cache of verified tokens, for API keys and user tokens alike.
      verifyApiKey: (yield* AuthGateway).verify,
      ready: Effect.provide(readiness, context),
      attach: realtime.attach,
    },
  )
  // Shutting down: finish what is in flight before the workers and the bus go away.
  yield* Effect.addFinalizer(() => server.drain)
  yield* Effect.logInfo(`listening on http://${host}:${server.port}`)
  onListening({ port: server.port })
})

const gateway = (onListening: OnListening) =>
  Layer.effectDiscard(startGateway(onListening)).pipe(
    Layer.provide(
      Layer.mergeAll(
        authGatewayLayer,
        adminGateLayer,
        dataGatewayLayer,
        signedUrlsLayer,
        BlobStoreFromConfig.layer,
      ),
    ),
  )

/**
 * Every worker role runs a relay: one at a time holds the log's lock and publishes, the others stand
 * by. A commit wakes the relay of its own process at once; others find it at their next poll.
 */
const relay = Layer.effectDiscard(
  Effect.gen(function* () {
    const postgres = yield* Postgres
    const bus = yield* Bus
    const leadership = OutboxRelay.leadership()
    yield* Effect.forkScoped(OutboxRelay.run(postgres, bus, { ...relayFault(), leadership }))
    // In a fleet the leading relay may be in another process: commits here wake it over the bus.
    if ((yield* ReactorConfig).bus.url !== "") yield* OutboxRelay.forwardCommits(bus, leadership)
  }),
)

const authWorkers = Layer.mergeAll(
  AuthWorker.layer().pipe(Layer.provide(AuthConfig.layer)),
  SystemWorker.layer,
)

const storageWorker = StorageWorker.layer().pipe(Layer.provide(BlobStoreFromConfig.layer))

/**
 * Test hook: REACTOR_TEST_FAULT=relay:after-read or relay:after-publish makes this process die
 * (SIGKILL, no cleanup) at that point, so the fault tests can prove a relay killed there loses
 * and duplicates nothing. Unset in normal runs, when it costs nothing.
 */
const relayFault = (): OutboxRelay.RelayOptions => {
  const wanted = process.env["REACTOR_TEST_FAULT"]?.match(/^relay:(after-read|after-publish)$/)?.[1]
  return wanted === undefined
    ? {}
    : { fault: (point) => void (point === wanted && process.kill(process.pid, "SIGKILL")) }
}

/** The layer for a role; it needs ReactorConfig, Postgres and Bus. */
export const role = (name: RoleName, onListening: OnListening = () => {}) => {
  switch (name) {
    case "gateway":
      return gateway(onListening)
    case "auth":
      return Layer.mergeAll(authWorkers, relay)
    case "data":
      return Layer.mergeAll(DataWorker.layer(), relay)
    case "storage":
      return Layer.mergeAll(storageWorker, relay)
    case "all":
      // The gateway is built on top of the workers, so at shutdown it drains before they stop.
      return gateway(onListening).pipe(
        Layer.provideMerge(Layer.mergeAll(authWorkers, DataWorker.layer(), storageWorker, relay)),
      )
  }
}
