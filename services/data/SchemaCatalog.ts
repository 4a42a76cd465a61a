// The schema cache the Data API plans against, kept current: loaded at start, and reloaded when
// Postgres says `NOTIFY pgrst, 'reload schema'` (as PostgREST does; Reactor's own DDL trigger
// sends it after every migration or DDL statement, whoever ran it).
import { Context, Effect, Layer } from "effect"
import { listen } from "../../platform/postgres/Listener.ts"
import { Postgres } from "../../platform/postgres/Postgres.ts"
import { DataSettings } from "./Config.ts"
import { load, type SchemaCache } from "./schema/SchemaCache.ts"

export interface SchemaCatalogShape {
  readonly current: () => SchemaCache
  /** Captures every table of the exposed schemas and reloads the cache. */
  readonly reload: Effect.Effect<void>
}

export class SchemaCatalog extends Context.Service<SchemaCatalog, SchemaCatalogShape>()(
  "reactor/data/SchemaCatalog",
) {}

/** Several DDL statements in a row (a migration) cause one reload, not one each. */
const settleMs = 30

export const layer = Layer.effect(
  SchemaCatalog,
  Effect.gen(function* () {
    const postgres = yield* Postgres
    const { schemas } = yield* DataSettings

    const fetch = postgres.transaction((tx) =>
      Effect.gen(function* () {
        // Tables created while no event trigger could catch them (no superuser) are captured here.
        yield* tx.query("select reactor.capture_schemas($1::text[])", [schemas])
        return yield* load(tx, schemas)
      }),
    )
    let cache = yield* fetch.pipe(Effect.orDie)

    let pending = false
    const reload = Effect.suspend(() => fetch).pipe(
      Effect.tap((next) =>
        Effect.sync(() => {
          cache = next
        }),
      ),
      Effect.tapError((e) => Effect.logWarning(`schema cache reload failed: ${e.message}`)),
      Effect.ignore,
    )
    const scheduleReload = () => {
      if (pending) return
      pending = true
      Effect.runFork(
        Effect.sleep(settleMs).pipe(
          Effect.andThen(
            Effect.sync(() => {
              pending = false
            }),
          ),
          Effect.andThen(reload),
        ),
      )
    }

    // A missed notification (the listening connection dropped) also reloads.
    yield* listen(postgres.url, "pgrst", (payload) => {
      if (payload === undefined || payload === "" || payload === "reload schema") scheduleReload()
    })

    return { current: () => cache, reload }
  }),
)
