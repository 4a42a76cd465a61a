// The schema cache the Data API plans against, kept current: loaded at start, and reloaded when
// Postgres says `NOTIFY pgrst, 'reload schema'` (as PostgREST does; Reactor's own DDL trigger
// sends it after every migration or DDL statement, whoever ran it).
import { Context, Effect, Layer } from "effect"
import { onSchemaChange } from "../../platform/postgres/Listener.ts"
import { Postgres, type Tx } from "../../platform/postgres/Postgres.ts"
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

export const layer = Layer.effect(
  SchemaCatalog,
  Effect.gen(function* () {
    const postgres = yield* Postgres
    const { schemas } = yield* DataSettings

    const fetchIn = Effect.fnUntraced(function* (tx: Tx) {
      // Tables created while no event trigger could catch them (no superuser) are captured here.
      // (At start, `reactor start` has just done it: then this finds nothing to do.)
      yield* tx.query("select reactor.capture_schemas($1::text[])", [schemas])
      return yield* load(tx, schemas)
    })
    const fetch = postgres.transaction(fetchIn)
    let cache: SchemaCache | undefined
    const reload = fetch.pipe(
      Effect.tap((next) =>
        Effect.sync(() => {
          cache = next
        }),
      ),
      Effect.tapError((e) => Effect.logWarning(`schema cache reload failed: ${e.message}`)),
      Effect.ignore,
    )
    yield* onSchemaChange(postgres.url, reload)
    const first = yield* fetch.pipe(Effect.orDie)
    // A reload that finished during the first load is newer: keep it.
    cache ??= first

    return { current: () => cache!, reload }
  }),
)
