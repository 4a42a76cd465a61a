// The outbox relay: moves committed events from the log to the bus, exactly once per event id.
// One relay is active per database (an advisory lock held on a dedicated connection); the others
// wait to take over. It resumes after the later of its checkpoint and the last event the bus
// already has, so a relay killed between publishing and checkpointing publishes nothing twice.
import { randomUUID } from "node:crypto"
import { Effect, Option, Schedule, type Scope } from "effect"
import pg from "pg"
import type { BusShape } from "../../bus/Bus.ts"
import type { PostgresShape } from "../postgres/Postgres.ts"
import * as Checkpoints from "./Checkpoints.ts"
import { cursorOf, logPositionOf } from "./EventStore.ts"
import { readAfter } from "./Follower.ts"
import * as LogCursor from "./LogCursor.ts"
import * as Wakeup from "./Wakeup.ts"

export type FaultPoint = "after-read" | "after-publish"

export interface RelayOptions {
  readonly batchSize?: number
  /**
   * Milliseconds between looks at the log when nothing in this process signals a commit (default
   * 25): how late an event committed by another process, or by plain SQL, may reach the bus.
   */
  readonly idlePollMs?: number
  /**
   * Milliseconds between checkpoint saves while events keep coming (default 200). A save runs
   * beside the relay, one at a time, and one is made as soon as the relay finds nothing new.
   */
  readonly checkpointEveryMs?: number
  /**
   * Milliseconds the relay lets events gather after a batch that did not fill up (default 5). A
   * steady stream of commits is then read and published several at a time: read one at a time, a
   * read per commit cost the relay ~120 µs of CPU per event against ~70 with a 10 ms gather, and
   * Postgres a query per commit. Realtime deliveries wait up to this much longer.
   */
  readonly gatherMs?: number
  /** Set while this relay leads, for the process's forwardCommits. */
  readonly leadership?: Leadership
  /** Test hook: called at the points where a crash must lose nothing and duplicate nothing. */
  readonly fault?: (point: FaultPoint, events: number) => void
}

/** Whether the relay of this process leads: then its commits need not go over the bus. */
export interface Leadership {
  leading: boolean
}

export const leadership = (): Leadership => ({ leading: false })

const checkpointName = "outbox"
const wakeupTopic = "outbox-wakeup"
/** Signs this process's forwarded commits, so its own relay, told of them already, skips them. */
const processId = randomUUID()

/**
 * Tells the relay, wherever in the fleet it leads, that this process committed events, so it need
 * not wait for its poll: a signal on the bus, none while this process's own relay leads (only the
 * leader follows them), and at most one per `everyMs` (default 2) with the last of a burst sent at
 * the window's end, since the relay lets events gather for longer than that after each batch.
 * Runs until the scope closes.
 */
export const forwardCommits = (
  bus: BusShape,
  leadership: Leadership,
  everyMs = 2,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let sentAt = Number.NEGATIVE_INFINITY
      let pending: ReturnType<typeof setTimeout> | undefined
      const send = () => {
        pending = undefined
        sentAt = performance.now()
        Effect.runFork(Effect.ignore(bus.signal(wakeupTopic, processId)))
      }
      const stop = Wakeup.listen(() => {
        if (leadership.leading || pending !== undefined) return
        const wait = sentAt + everyMs - performance.now()
        if (wait <= 0) send()
        else pending = setTimeout(send, wait)
      })
      return () => {
        stop()
        clearTimeout(pending)
      }
    }),
    (stop) => Effect.sync(stop),
  ).pipe(Effect.asVoid)

/**
 * Calls `onCommit` once per commit that appended events: those of this process as they happen,
 * and those other processes forward. This process's own forwarded ones come back over the bus
 * too, and are skipped: one wake-up each, not two. Runs until the scope closes.
 */
export const followCommits = Effect.fnUntraced(function* (
  bus: BusShape,
  onCommit: () => void,
): Effect.fn.Return<void, never, Scope.Scope> {
  yield* Effect.acquireRelease(
    Effect.sync(() => Wakeup.listen(onCommit)),
    (stop) => Effect.sync(stop),
  )
  yield* bus
    .listen(wakeupTopic, (from) => {
      if (from !== processId) onCommit()
    })
    .pipe(Effect.ignore)
})
/** Arbitrary but fixed, and distinct from the migration lock. */
const relayLock = 7_348_129_002

/** Holds the relay lock on its own connection; succeeds once this process is the leader. */
const becomeLeader = Effect.fnUntraced(function* (url: string) {
  let lost = false
  const client = yield* Effect.acquireRelease(
    Effect.tryPromise(async () => {
      const client = new pg.Client({ connectionString: url })
      client.on("error", () => {
        lost = true
      })
      client.on("end", () => {
        lost = true
      })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined)),
  )
  // Waiting for the lock stays interruptible, so a standby relay can always be shut down.
  yield* Effect.tryPromise(() =>
    client.query<{ held: boolean }>("select pg_try_advisory_lock($1) as held", [relayLock]),
  ).pipe(Effect.repeat({ until: ({ rows }) => rows[0]?.held === true, schedule: Schedule.spaced(1_000) }))
  return { lost: () => lost }
})

/** Runs until interrupted; a failure (Postgres or the bus unreachable) restarts it after a pause. */
export const run = (
  postgres: PostgresShape,
  bus: BusShape,
  options: RelayOptions = {},
): Effect.Effect<never> => {
  const batchSize = options.batchSize ?? 500
  const idlePollMs = options.idlePollMs ?? 25
  const checkpointEveryMs = options.checkpointEveryMs ?? 200
  const gatherMs = options.gatherMs ?? 5

  // The checkpoint is committed without waiting for its WAL to reach the disk: one lost in a crash
  // only makes the relay publish again from an older one, which a relay killed between publish
  // and save already does, and the bus drops by event id. Waiting would hold up the next read.
  const checkpoints = postgres.autocommit({ locals: [["synchronous_commit", "off"]] })

  const relay = Effect.scoped(
    // Made once per run: the relay's loop, restarted after a failure.
    Effect.gen(function* () {
      const leader = yield* becomeLeader(postgres.url)
      const { leadership } = options
      if (leadership !== undefined) {
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            leadership.leading = true
          }),
          () =>
            Effect.sync(() => {
              leadership.leading = false
            }),
        )
      }
      let wake: (() => void) | undefined
      let notified = false
      const onCommit = () => {
        notified = true
        wake?.()
      }
      // Commits in other processes of the fleet say so on the bus (see forwardCommits).
      yield* followCommits(bus, onCommit)
      // Until `ms` pass or a commit in this process signals, whichever is first. The canceller only
      // runs on interruption, so each way out clears the other.
      const sleep = (ms: number) =>
        Effect.callback<void>((resume) => {
          if (notified) return resume(Effect.void)
          const done = () => {
            clearTimeout(timer)
            wake = undefined
            resume(Effect.void)
          }
          const timer = setTimeout(done, ms)
          wake = done
          return Effect.sync(() => {
            clearTimeout(timer)
            wake = undefined
          })
        })

      const checkpoint = yield* Checkpoints.load(postgres, checkpointName)
      const last = yield* bus.lastPublished
      const published = Option.flatMap(last, (l) => Option.fromNullishOr(LogCursor.parse(l.logPosition)))
      // Where the bus's stream ends, as far as this relay knows: each batch must follow on from
      // it, so a relay that lost its lead (another took over) cannot append behind the new one.
      let lastSequence = Option.getOrUndefined(Option.map(last, (l) => l.sequence))
      let cursor = Option.match(published, {
        onNone: () => checkpoint,
        onSome: (p) => LogCursor.max(p, checkpoint),
      })
      // Where the saved checkpoint is, and whether a save is on its way. A checkpoint only says
      // where to start when the bus cannot (it forgot its events): one behind makes the relay
      // publish some events again, which the bus drops by id, so saves need not hold up reads
      // (under load a save was seen to take 30–50 ms, and every read waited for one).
      let saved = cursor
      let saving = false
      let lastSave = 0
      const saveCheckpoint = Effect.suspend(() => {
        if (saving || LogCursor.compare(cursor, saved) <= 0) return Effect.void
        const target = cursor
        saving = true
        lastSave = Date.now()
        return Checkpoints.save(checkpoints, checkpointName, target).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              saved = target
            }),
          ),
          Effect.catch((error) => Effect.logWarning(`outbox checkpoint not saved: ${error.message}`)),
          Effect.ensuring(
            Effect.sync(() => {
              saving = false
            }),
          ),
          Effect.forkScoped,
          Effect.asVoid,
        )
      })
      let lastCleanup = 0
      // After a signal, a commit may still hide behind an older running transaction: look again soon.
      let emptyLooks = 0

      while (true) {
        if (leader.lost()) return yield* Effect.fail(new Error("lost the relay lock's connection"))
        notified = false
        const events = yield* readAfter(postgres, cursor, batchSize)
        if (events.length === 0) {
          yield* saveCheckpoint
          emptyLooks++
          yield* sleep(Math.min(idlePollMs, 5 * emptyLooks))
        } else {
          emptyLooks = 0
          options.fault?.("after-read", events.length)
          // In the log's order, and all or a prefix of them: a relay that fails here starts again
          // after the last event the bus has, so none is skipped or published twice.
          const acks = yield* bus.publishAll(
            events.map((event) => ({
              contract: event.contract,
              id: event.eventId,
              payload: event.payload,
              logPosition: logPositionOf(event),
              meta: event.meta,
            })),
            { afterSequence: lastSequence },
          )
          // A duplicate says the stream had the event already, at a sequence that need not be its end.
          lastSequence = acks.some((ack) => ack.duplicate) ? undefined : acks.at(-1)!.sequence
          options.fault?.("after-publish", events.length)
          cursor = cursorOf(events.at(-1)!)
          if (Date.now() - lastSave >= checkpointEveryMs) yield* saveCheckpoint
          if (events.length < batchSize && gatherMs > 0) yield* Effect.sleep(gatherMs)
        }
        if (Date.now() - lastCleanup > 60_000) {
          lastCleanup = Date.now()
          yield* postgres.query("delete from reactor.command_log where expires_at < now()")
        }
      }
    }),
  )

  return relay.pipe(
    // A defect (a bug, an event the bus cannot carry) must not end the relay in silence: it is
    // logged and retried like any failure.
    Effect.catchDefect((defect) => Effect.fail(defect)),
    Effect.tapError((error) =>
      Effect.logWarning(`outbox relay stopped, restarting: ${String((error as Error)?.message ?? error)}`),
    ),
    Effect.retry(Schedule.spaced(1_000)),
    Effect.orDie,
    Effect.andThen(Effect.never),
  ) as Effect.Effect<never>
}
