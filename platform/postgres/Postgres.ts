// Postgres through `pg`: queries and transactions as Effects, one pool per process.
import { Cause, Context, Data, Effect, Layer, type Scope } from "effect"
import pg from "pg"
import { ReactorConfig } from "../config/Config.ts"
import { type Settings, settingsQuery, type Trailing } from "./SettingsQuery.ts"
import * as SharedConnections from "./SharedConnections.ts"

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
  /**
   * Writes a statement whose answer the caller does not need, without waiting for it: in a
   * transaction it travels with the next statement that is waited for, and its failure fails that
   * statement or the commit. Elsewhere it is `query` without the rows.
   */
  readonly send: (
    statement: Statement | string,
    values?: ReadonlyArray<unknown>,
  ) => Effect.Effect<void, PgError>
}

export interface TransactionOptions {
  /** BEGIN READ ONLY: writes, even by functions the transaction calls, fail with 25006. */
  readonly readOnly?: boolean
  /** Roll back even when the body succeeds: for trying what a caller may do without doing it. */
  readonly rollbackOnly?: boolean
}

export interface AutocommitOptions {
  /** transaction_read_only: writes, even by functions the statement calls, fail with 25006. */
  readonly readOnly?: boolean
  /** Settings local to each statement's transaction (set_config(name, value, true)). */
  readonly locals?: Settings
}

export interface PostgresShape extends Tx {
  /**
   * Statements that each run in a transaction of their own, after `options`' settings, in one round
   * trip (see SettingsQuery), on a few connections that carry many callers' statements at once.
   * For reads that need one statement, or several that need not see one snapshot. A statement
   * whose shape is new or was last slow runs on a pooled connection instead, so it holds up no one
   * (SharedConnections).
   */
  readonly autocommit: (options: AutocommitOptions) => Tx
  /**
   * One transaction in one round trip: `settings`, `statement`, then `trailing`, in one batch that
   * takes effect whole or not at all (see SettingsQuery); the result is `statement`'s. Written to
   * a few connections of their own that carry many callers' batches at once, as `autocommit`'s
   * are, but apart from them: a write that waits for a row lock holds up only the writes already
   * sent behind it, never a read, and later ones go round it (SharedConnections).
   */
  readonly batch: <R extends pg.QueryResultRow = Record<string, unknown>>(
    statement: Statement & { readonly name: string },
    settings: Settings,
    trailing: ReadonlyArray<Trailing>,
  ) => Effect.Effect<pg.QueryResult<R>, PgError>
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

const toConfig = (statement: Statement | string, values: ReadonlyArray<unknown> | undefined) =>
  (typeof statement === "string"
    ? { text: statement, values: values as Array<unknown> | undefined }
    : statement) as pg.QueryConfig

const queryOn =
  (client: pg.Pool | pg.PoolClient): Tx["query"] =>
  (statement, values) =>
    Effect.tryPromise({ try: () => client.query(toConfig(statement, values)), catch: toPgError }) as never

/** Sets `settings` for the rest of the transaction `tx` is in; sent, not waited for. */
export const setLocals = (tx: Tx, settings: Settings): Effect.Effect<void, PgError> =>
  tx.send(settingsQuery(settings))

/** The settings AutocommitOptions ask for, as SettingsQuery sets them. */
const settingsOf = (options: AutocommitOptions): Settings => [
  ...(options.locals ?? []),
  ...(options.readOnly === true ? [["transaction_read_only", "on"] as const] : []),
]

/**
 * A transaction's statements on a pipelining connection. Those sent without waiting are answered
 * in order before anything written after them, so by the time a later statement is answered their
 * outcome is known: a failure among them is what that statement reports, since Postgres refuses
 * everything after it in the transaction (25P02) and answers COMMIT with ROLLBACK.
 */
const transactionTx = (client: pg.PoolClient) => {
  let failure: PgError | undefined
  let pending: Promise<unknown> = Promise.resolve()
  const batch = writeBatch(client)
  const send = (config: pg.QueryConfig) => {
    batch.hold()
    pending = client.query(config).then(
      () => undefined,
      (error) => {
        failure ??= toPgError(error)
      },
    )
  }
  /** Writes `config` and whatever was sent before it, in one write, and waits for its answer. */
  const ask = (config: pg.QueryConfig | string) => {
    const answer = client.query(config as pg.QueryConfig)
    batch.flush()
    return answer
  }
  const query: Tx["query"] = (statement, values) =>
    Effect.tryPromise({
      try: async () => {
        try {
          return await ask(toConfig(statement, values))
        } catch (error) {
          await pending
          throw failure ?? error
        }
      },
      catch: (error) => (error instanceof PgError ? error : toPgError(error)),
    }) as never
  const tx: Tx = {
    query,
    send: (statement, values) => Effect.sync(() => send(toConfig(statement, values))),
  }
  /** Ends the transaction; a statement sent and not waited for that failed fails it. */
  const end = (statement: "commit" | "rollback") =>
    Effect.tryPromise({
      try: async () => {
        const result = await ask(statement)
        await pending
        if (failure !== undefined) throw failure
        // COMMIT of a transaction that failed is answered ROLLBACK, not with an error.
        if (statement === "commit" && result.command !== "COMMIT") {
          throw new Error(`the transaction was rolled back (${result.command})`)
        }
      },
      catch: (error) => (error instanceof PgError ? error : toPgError(error)),
    })
  return { tx, end, flush: batch.flush }
}

/**
 * Holds a connection's writes from the first statement sent without waiting until one is waited
 * for, so BEGIN, the settings and the statement leave in one write, and the rest with COMMIT in
 * another: a transaction costs two socket writes, not one per statement. A hold never outlasts the
 * event loop's turn, so a statement sent and then forgotten still goes.
 */
const writeBatch = (client: pg.PoolClient) => {
  const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } })
    .connection.stream
  let held = false
  const flush = () => {
    if (!held) return
    held = false
    stream.uncork()
  }
  return {
    hold: () => {
      if (held) return
      held = true
      stream.cork()
      setImmediate(flush)
    },
    flush,
  }
}

/** Milliseconds a write may expect to wait behind others on a shared connection. */
const writeQueueMs = 25

export const make = Effect.fnUntraced(function* (
  url: string,
  poolSize: number,
  sharedConnections = 2,
): Effect.fn.Return<PostgresShape, never, Scope.Scope> {
  // Pipelining: a statement is written as soon as it is asked for, not when the one before it is
  // answered, which is what lets transactions send what they need not wait for.
  const config = { connectionString: url, pipeline: true }
  const pool = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new pg.Pool({ ...config, max: poolSize, idleTimeoutMillis: 30_000 })
      // An idle connection that Postgres drops (a restart) must not take the process down.
      pool.on("error", (error) =>
        Effect.runFork(Effect.logWarning(`idle Postgres connection lost: ${error.message}`)),
      )
      return pool
    }),
    (pool) => Effect.promise(() => pool.end()),
  )
  const lanes = (options: { readonly queueMs?: number } = {}) =>
    Effect.acquireRelease(
      Effect.sync(() =>
        SharedConnections.make(config, {
          ...options,
          count: sharedConnections,
          checkout: () => pool.connect(),
        }),
      ),
      (lanes) => Effect.promise(() => lanes.end()),
    )
  const shared = yield* lanes()
  // Writes on their own lanes, connected on first use (only a data worker makes batches). Sharing
  // connections (one socket read and write for many batches) raised single-row inserts per second
  // by about a fifth (bench/results/2026-12-08f-adhoc.md); apart from reads, because a write can wait for
  // a row lock, and a read written behind it would wait as long. And not too deep: commits on one
  // connection each wait for their own WAL flush (see SharedConnections' queueMs).
  const writes = yield* lanes({ queueMs: writeQueueMs })

  /**
   * A pooled connection for `use`. One whose work was interrupted mid-statement, or that
   * `spoiled` says is in doubt, is closed rather than reused; one whose work failed cleanly (a
   * client's bad filter) is reused.
   */
  const withConnection = <A, E, R>(
    use: (client: pg.PoolClient) => Effect.Effect<A, E, R>,
    spoiled: () => boolean = () => false,
  ) =>
    Effect.acquireUseRelease(
      Effect.tryPromise({ try: () => pool.connect(), catch: toPgError }),
      use,
      (client, exit) =>
        Effect.sync(() =>
          client.release(
            exit._tag === "Failure" && (spoiled() || Cause.hasInterrupts(exit.cause)) ? true : undefined,
          ),
        ),
    )

  const transaction: PostgresShape["transaction"] = <A, E, R>(
    body: (tx: Tx) => Effect.Effect<A, E, R>,
    options?: TransactionOptions,
  ) =>
    Effect.suspend(() => {
      let clean = true
      return withConnection<A, E | PgError, R>(
        (client) => {
          const { tx, end, flush } = transactionTx(client)
          return tx.send(options?.readOnly === true ? "begin read only" : "begin").pipe(
            Effect.andThen(body(tx)),
            Effect.tap(() => end(options?.rollbackOnly === true ? "rollback" : "commit")),
            Effect.onError(() =>
              Effect.suspend(() => {
                flush()
                return queryOn(client)("rollback")
              }).pipe(
                Effect.catch(() => {
                  clean = false
                  return Effect.void
                }),
              ),
            ),
          )
        },
        // A transaction that would not roll back leaves its connection in doubt.
        () => !clean,
      )
    })

  const autocommit = (options: AutocommitOptions): Tx => {
    const settings = settingsOf(options)
    const query: Tx["query"] = (statement, values) =>
      Effect.tryPromise({
        try: () => shared.query(toConfig(statement, values), settings),
        catch: toPgError,
      }) as never
    return { query, send: (statement, values) => Effect.asVoid(query(statement, values)) }
  }

  const batch: PostgresShape["batch"] = (statement, settings, trailing) =>
    Effect.tryPromise({
      try: () => writes.query(toConfig(statement, undefined), settings, trailing),
      catch: toPgError,
    }) as never

  const poolQuery = queryOn(pool)
  return {
    query: poolQuery,
    send: (statement, values) => Effect.asVoid(poolQuery(statement, values)),
    autocommit,
    batch,
    transaction,
    pool,
    url,
  }
})

/** The pool for the configured database; the embedded one is started before this layer is built. */
const fromConfig = Effect.fnUntraced(function* (url: string) {
  const config = yield* ReactorConfig
  return yield* make(url, config.database.pool_size)
})

export const layer = (url: string) => Layer.effect(Postgres, fromConfig(url))

export const redactUrl = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")
