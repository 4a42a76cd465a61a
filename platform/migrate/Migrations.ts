// Runs migrations with postgres-shift under an advisory lock, so processes that start together
// apply each migration once: the platform's (migrations/, tracked in reactor.migrations) and the
// app's own (a folder of the app, tracked apart in reactor_app.migrations).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Data, Effect } from "effect"
import pg from "pg"
import postgres from "postgres"
import shift from "postgres-shift"
import { platformMigrations } from "../paths.ts"

export class MigrationError extends Data.TaggedError("MigrationError")<{ readonly message: string }> {}

/** Arbitrary but fixed: every Reactor process contends for the same lock. */
const migrationLock = 7_348_129_001

/** Where the app's migrations are tracked; their own objects go where their SQL says (public). */
export const appSchema = "reactor_app"

interface ShiftOptions {
  readonly url: string
  readonly dir: string
  /** Schema holding postgres-shift's unqualified `migrations` table (the search_path while it runs). */
  readonly schema: string
}

const runShift = (options: ShiftOptions): Effect.Effect<ReadonlyArray<string>, MigrationError> =>
  Effect.tryPromise({
    try: async () => {
      const lock = new pg.Client({ connectionString: options.url })
      lock.on("error", () => {})
      await lock.connect()
      const applied: Array<string> = []
      try {
        await lock.query("select pg_advisory_lock($1)", [migrationLock])
        await lock.query(`create schema if not exists ${pg.escapeIdentifier(options.schema)}`)
        const sql = postgres(options.url, {
          max: 1,
          onnotice: () => {},
          connection: { search_path: options.schema },
        })
        try {
          await shift({ sql, path: options.dir, before: (m) => applied.push(m.name) })
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

/** The platform's own migrations; every name in them is schema-qualified. */
export const migrate = (options: { readonly url: string; readonly dir?: string }) =>
  runShift({ url: options.url, dir: options.dir ?? platformMigrations, schema: "reactor" })

const migrationEntry = /^\d{5}_/

/**
 * postgres-shift records a migration in the unqualified `migrations` table inside the same
 * transaction that runs it, so the search_path decides both where the record goes and where the
 * app's unqualified CREATE TABLE lands. Each app migration is therefore wrapped: its own SQL runs
 * with the search_path of an app (public, then extensions, as on Supabase), the record with
 * reactor_app's.
 */
const stageAppMigrations = (dir: string): string => {
  const staged = mkdtempSync(join(tmpdir(), "reactor-app-migrations-"))
  for (const entry of readdirSync(dir)
    .filter((name) => migrationEntry.test(name))
    .sort()) {
    const source = join(dir, entry)
    const folder = statSync(source).isDirectory()
    const sqlFile = folder ? join(source, "index.sql") : source.endsWith(".sql") ? source : undefined
    const jsFile = folder ? join(source, "index.js") : source.endsWith(".js") ? source : undefined
    const body =
      jsFile !== undefined && existsSync(jsFile)
        ? `await (await import(${JSON.stringify(pathToFileURL(jsFile).href)})).default(sql)`
        : sqlFile !== undefined && existsSync(sqlFile)
          ? `await sql.file(${JSON.stringify(sqlFile)})`
          : undefined
    if (body === undefined) continue
    const name = folder ? entry : entry.replace(/\.(sql|js)$/, "")
    mkdirSync(join(staged, name))
    writeFileSync(
      join(staged, name, "index.js"),
      `export default async (sql) => {
  await sql.unsafe("set local search_path to public, extensions")
  ${body}
  await sql.unsafe("set local search_path to ${appSchema}")
}
`,
    )
  }
  return staged
}

/** The app's migrations from `dir` (folders 00001_name/ with index.sql or index.js, or 00001_name.sql). */
export const migrateApp = (options: { readonly url: string; readonly dir: string }) =>
  Effect.suspend(() => {
    const dir = resolve(options.dir)
    if (!existsSync(dir))
      return Effect.fail(new MigrationError({ message: `no app migrations folder at ${dir}` }))
    const staged = stageAppMigrations(dir)
    if (readdirSync(staged).length === 0) {
      rmSync(staged, { recursive: true, force: true })
      return Effect.succeed<ReadonlyArray<string>>([])
    }
    return runShift({ url: options.url, dir: staged, schema: appSchema }).pipe(
      Effect.ensuring(Effect.sync(() => rmSync(staged, { recursive: true, force: true }))),
    )
  })
