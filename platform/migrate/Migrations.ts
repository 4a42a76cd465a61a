// Runs the platform's migrations (postgres-shift folders in migrations/) under an advisory lock,
// so processes that start together apply each migration once. Bookkeeping is reactor.migrations.
import { Data, Effect } from "effect"
import pg from "pg"
import postgres from "postgres"
import shift from "postgres-shift"
import { platformMigrations } from "../paths.ts"

export class MigrationError extends Data.TaggedError("MigrationError")<{ readonly message: string }> {}

/** Arbitrary but fixed: every Reactor process contends for the same lock. */
const migrationLock = 7_348_129_001

export interface MigrateOptions {
  readonly url: string
  readonly dir?: string
  /** Schema holding the bookkeeping table; the migrations themselves qualify every name. */
  readonly schema?: string
}

export const migrate = (options: MigrateOptions): Effect.Effect<ReadonlyArray<string>, MigrationError> =>
  Effect.tryPromise({
    try: async () => {
      const schema = options.schema ?? "reactor"
      const lock = new pg.Client({ connectionString: options.url })
      lock.on("error", () => {})
      await lock.connect()
      const applied: Array<string> = []
      try {
        await lock.query("select pg_advisory_lock($1)", [migrationLock])
        await lock.query(`create schema if not exists ${pg.escapeIdentifier(schema)}`)
        const sql = postgres(options.url, { max: 1, onnotice: () => {}, connection: { search_path: schema } })
        try {
          await shift({ sql, path: options.dir ?? platformMigrations, before: (m) => applied.push(m.name) })
        } finally {
          await sql.end()
        }
      } finally {
        await lock.query("select pg_advisory_unlock($1)", [migrationLock]).catch(() => {})
        await lock.end().catch(() => {})
      }
      return applied
    },
    catch: (cause) => new MigrationError({ message: cause instanceof Error ? cause.message : String(cause) }),
  })
