// LISTEN on a dedicated connection that is made again whenever it drops. It is ready when the
// first LISTEN holds (or the first attempt failed), so what the caller reads next cannot miss a
// notification; after each reconnect `onNotify` is called once with no payload, since
// notifications sent while no connection listened were missed.
import { Effect, type Scope } from "effect"
import pg from "pg"

const retryMs = 1_000

export const listen = (
  url: string,
  channel: string,
  onNotify: (payload: string | undefined) => void,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<() => void>((resume) => {
      let client: pg.Client | undefined
      let stopped = false
      let first = true
      const stop = () => {
        stopped = true
        void client?.end().catch(() => undefined)
      }
      const ready = () => {
        if (!first) return
        first = false
        resume(Effect.succeed(stop))
      }
      const connect = () => {
        if (stopped) return
        const next = new pg.Client({ connectionString: url })
        client = next
        let retried = false
        const retry = () => {
          if (retried || stopped) return
          retried = true
          void next.end().catch(() => undefined)
          ready()
          setTimeout(connect, retryMs)
        }
        next.on("notification", (message) => onNotify(message.payload ?? ""))
        next.on("error", retry)
        next.on("end", retry)
        next
          .connect()
          .then(() => next.query(`listen ${pg.escapeIdentifier(channel)}`))
          .then(() => (first ? ready() : onNotify(undefined)))
          .catch(retry)
      }
      connect()
    }),
    (stop) => Effect.sync(stop),
  ).pipe(Effect.asVoid)

/** A migration is many DDL statements, each announced: they are let settle into one reload. */
const settleMs = 30

/**
 * Runs `reload` when Postgres announces a schema change (NOTIFY pgrst with 'reload schema' or
 * nothing, as PostgREST reads it) and after each reconnect of the listener. Call it before the
 * first load, so no change made during that load goes unannounced. Reloads run one at a
 * time; announcements during one cause a single reload after it, not one each.
 */
export const onSchemaChange = (
  url: string,
  reload: Effect.Effect<void>,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.suspend(() => {
    let running = false
    let again = false
    const run: Effect.Effect<void> = Effect.sleep(settleMs).pipe(
      Effect.andThen(reload),
      Effect.andThen(
        Effect.suspend(() => {
          if (!again) {
            running = false
            return Effect.void
          }
          again = false
          return run
        }),
      ),
    )
    return listen(url, "pgrst", (payload) => {
      if (payload !== undefined && payload !== "" && payload !== "reload schema") return
      if (running) {
        again = true
        return
      }
      running = true
      Effect.runFork(run)
    })
  })
