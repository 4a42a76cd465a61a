// LISTEN on a dedicated connection that is made again whenever it drops. After each (re)connect
// `onNotify` is called once with no payload, since notifications sent meanwhile were missed.
import { Effect, type Scope } from "effect"
import pg from "pg"

const retryMs = 1_000

export const listen = (
  url: string,
  channel: string,
  onNotify: (payload: string | undefined) => void,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let client: pg.Client | undefined
      let stopped = false
      const connect = () => {
        if (stopped) return
        const next = new pg.Client({ connectionString: url })
        client = next
        let retried = false
        const retry = () => {
          if (retried || stopped) return
          retried = true
          void next.end().catch(() => undefined)
          setTimeout(connect, retryMs)
        }
        next.on("notification", (message) => onNotify(message.payload ?? ""))
        next.on("error", retry)
        next.on("end", retry)
        next
          .connect()
          .then(() => next.query(`listen ${pg.escapeIdentifier(channel)}`))
          .then(() => onNotify(undefined))
          .catch(retry)
      }
      connect()
      return () => {
        stopped = true
        void client?.end().catch(() => undefined)
      }
    }),
    (stop) => Effect.sync(stop),
  ).pipe(Effect.asVoid)
