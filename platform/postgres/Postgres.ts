// Postgres through `pg`: queries and transactions as Effects, one pool per process.
import { Cause, Context, Data, Effect, Layer, type Scope } from "effect"
import pg from "pg"
import { ReactorConfig } from "../config/Config.ts"

/** A Postgres error: `code` is its SQLSTATE, `constraint` the constraint it broke, when it says. */
export class PgError extends Data.TaggedError("PgError")<{
  readonly code: string | undefined
  readonly constraint: string | undefined
  readonly message: string
  readonly cause: unknown
}> {}

export interface Statement {
  readonly text: string
  readonly values?: ReadonlyArray<unknown>
  /** Prepared once per connection under this name; use for statements on hot paths. */
  readonly name?: string
}

export interface Tx {
  readonly query: <R extends pg.QueryResultRow = Record<string, unknown>>(
    statement: Statement | string,
    values?: ReadonlyArray<unknown>,
  ) => Effect.Effect<pg.QueryResult<R>, PgError>
}

export interface TransactionOptions {
  /** BEGIN READ ONLY: writes, even by functions the transaction calls, fail with 25006. */
  readonly readOnly?: boolean
  /**
   * Settings local to the transaction (set_config(name, value, true)), sent with BEGIN in one
   * round trip. Names are the caller's constants; values are quoted as literals.
   */
  readonly locals?: ReadonlyArray<readonly [name: string, value: string]>
}

const beginWith = (options: TransactionOptions | undefined) => {
  const begin = options?.readOnly === true ? "begin read only" : "begin"
  const locals = options?.locals ?? []
  if (locals.length === 0) return begin
  const settings = locals.map(
    ([name, value]) => `set_config(${pg.escapeLiteral(name)}, ${pg.escapeLiteral(value)}, true)`,
  )
  return `${begin}; select ${settings.join(", ")}`
}

export interface PostgresShape extends Tx {
  /** Runs `body` in one transaction: committed when it succeeds, rolled back when it fails or is interrupted. */
  readonly transaction: <A, E, R>(
    body: (tx: Tx) => Effect.Effect<A, E, R>,
    options?: TransactionOptions,
  ) => Effect.Effect<A, E | PgError, R>
  readonly pool: pg.Pool
  readonly url: string
}

export class Postgres extends Context.Service<Postgres, PostgresShape>()("reactor/Postgres") {}

const toPgError = (cause: unknown): PgError => {
  const e = cause as { code?: string; constraint?: string; message?: string }
  return new PgError({
    code: typeof e?.code === "string" ? e.code : undefined,
    constraint: typeof e?.constraint === "string" ? e.constraint : undefined,
    message: e?.message ?? String(cause),
    cause,
  })
}

const queryOn =
  (client: pg.Pool | pg.PoolClient): Tx["query"] =>
  (statement, values) =>
    Effect.tryPromise({
      try: () => {
        const config =
          typeof statement === "string"
            ? { text: statement, values: values as Array<unknown> | undefined }
            : statement
        return client.query(config as pg.QueryConfig)
      },
      catch: toPgError,
    }) as never

export const make = (url: string, poolSize: number): Effect.Effect<PostgresShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 30_000 })
        // An idle connection that Postgres drops (a restart) must not take the process down.
        pool.on("error", (error) =>
          Effect.runFork(Effect.logWarning(`idle Postgres connection lost: ${error.message}`)),
        )
        return pool
      }),
      (pool) => Effect.promise(() => pool.end()),
    )

    const transaction: PostgresShape["transaction"] = (body, options) =>
      Effect.suspend(() => {
        let clean = true
        return Effect.acquireUseRelease(
          Effect.tryPromise({ try: () => pool.connect(), catch: toPgError }),
          (client) => {
            const tx: Tx = { query: queryOn(client) }
            return tx.query(beginWith(options)).pipe(
              Effect.andThen(body(tx)),
              Effect.tap(() => tx.query("commit")),
              Effect.onError(() =>
                tx.query("rollback").pipe(
                  Effect.catch(() => {
                    clean = false
                    return Effect.void
                  }),
                ),
              ),
            )
          },
          (client, exit) =>
            // A connection whose transaction was interrupted mid-statement, or would not roll back,
            // is not reused; one whose body failed cleanly (a client's bad filter) is.
            Effect.sync(() =>
              client.release(
                exit._tag === "Failure" && (!clean || Cause.hasInterrupts(exit.cause)) ? true : undefined,
              ),
            ),
        )
      })

    return { query: queryOn(pool), transaction, pool, url }
  })

/** The pool for the configured database; the embedded one is started before this layer is built. */
export const layer = (url: string) =>
  Layer.effect(
    Postgres,
    Effect.gen(function* () {
      const config = yield* ReactorConfig
      return yield* make(url, config.database.pool_size)
    }),
  )

export const redactUrl = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")
