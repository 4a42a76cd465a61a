// `reactor start`: load the configuration, bring up Postgres (embedded in size 1), migrate,
// connect the bus, and run the asked-for role until SIGTERM or SIGINT, then drain and stop.
import { Data, Effect, Layer } from "effect"
import pg from "pg"
import * as MemoryBus from "../bus/MemoryBus.ts"
import { type Config, ReactorConfig } from "../platform/config/Config.ts"
import { MigrationError, migrate, migrateApp } from "../platform/migrate/Migrations.ts"
import * as Embedded from "../platform/postgres/Embedded.ts"
import * as Postgres from "../platform/postgres/Postgres.ts"
import { type OnListening, type RoleName, role } from "./roles.ts"
import { jwtSecret, withSecret } from "./secrets.ts"

export class StartError extends Data.TaggedError("StartError")<{ readonly message: string }> {}

/** The database URL: the configured one, or size 1's embedded Postgres (started for the scope). */
export const database = (config: Config) =>
  config.database.url !== ""
    ? Effect.succeed({ url: config.database.url, embedded: false })
    : Embedded.start({ dataDir: config.server.data_dir, port: config.database.embedded_port }).pipe(
        Effect.map((cluster) => ({ url: cluster.url, embedded: true })),
      )

/**
 * Reactor's migrations, then the app's (named "app/<name>" in what is reported); then every table of
 * the exposed schemas gets its change-capture triggers, so no change made from here on is missed.
 */
export const migrateAll = Effect.fnUntraced(function* (config: Config, url: string) {
  const platform = yield* migrate({ url })
  const app =
    config.database.app_migrations === ""
      ? []
      : yield* migrateApp({ url, dir: config.database.app_migrations })
  yield* captureSchemas(url, config.data.schemas)
  return [...platform, ...app.map((name) => `app/${name}`)]
})

const captureSchemas = (url: string, schemas: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        await client.query("select reactor.capture_schemas($1::text[])", [schemas])
      } finally {
        await client.end()
      }
    },
    catch: (error) =>
      new MigrationError({ message: `cannot set up change capture: ${(error as Error).message}` }),
  })

export const busLayer = (config: Config) =>
  config.bus.url === ""
    ? MemoryBus.layer({
        maxPending: config.server.max_inflight,
        dedupeWindow: config.bus.dedupe_window_ms,
        ackWait: config.bus.ack_wait_ms,
        maxDeliver: config.bus.max_deliver,
        timeout: config.server.request_timeout_ms,
      })
    : // Loaded only for a fleet: one process never pays for the NATS client.
      Layer.unwrap(
        Effect.promise(() => import("../bus/JetStreamBus.ts")).pipe(
          Effect.map((JetStreamBus) =>
            JetStreamBus.layer({
              servers: config.bus.url,
              prefix: config.bus.prefix,
              maxPending: config.server.max_inflight,
              dedupeWindow: config.bus.dedupe_window_ms,
              ackWait: config.bus.ack_wait_ms,
              maxDeliver: config.bus.max_deliver,
              timeout: config.server.request_timeout_ms,
              name: `reactor-${config.project.id}`,
            }),
          ),
        ),
      )

export interface StartOptions {
  readonly role: RoleName
  readonly onListening?: OnListening
}

/** Runs until interrupted. */
export const run = Effect.fnUntraced(function* (loaded: Config, options: StartOptions) {
  const fleet = loaded.bus.url !== ""
  if (!fleet && options.role !== "all") {
    return yield* new StartError({
      message: `--role ${options.role} runs one role of a fleet: set bus.url (REACTOR_BUS_URL) to the NATS server they share`,
    })
  }
  if (fleet && loaded.database.url === "") {
    return yield* new StartError({
      message:
        "a fleet needs one database: set database.url (REACTOR_DATABASE_URL); the embedded Postgres serves one process",
    })
  }
  const config = withSecret(loaded, yield* jwtSecret(loaded, fleet))
  const { url } = yield* database(config)
  const applied = yield* migrateAll(config, url)
  if (applied.length > 0) yield* Effect.logInfo(`migrations applied: ${applied.join(", ")}`)
  const platform = Layer.mergeAll(Postgres.layer(url), busLayer(config)).pipe(
    Layer.provideMerge(Layer.succeed(ReactorConfig, config)),
  )
  yield* Layer.build(role(options.role, options.onListening).pipe(Layer.provide(platform)))
  yield* Effect.logInfo(`${options.role} running`)
  return yield* Effect.never
})
