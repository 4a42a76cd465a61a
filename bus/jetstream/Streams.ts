// The streams and consumers the bus relies on, created when missing and updated when their
// settings changed. Every ensure is idempotent: it runs at start, on first use, after reconnects.
import {
  type ConsumerConfig,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Effect, Exit } from "effect"
import { BusUnavailable } from "../BusError.ts"
import type { Connection } from "./Connection.ts"
import { ApiCode, apiCode, describe } from "./failures.ts"
import type { Names } from "./Names.ts"

type StreamSpec = Partial<StreamConfig> & { readonly name: string }

export interface StreamSettings {
  /** Milliseconds a command key or event id is remembered, and a command's reply kept. */
  readonly dedupeWindow: number
  /** Milliseconds events are kept. */
  readonly eventRetention: number
}

export interface Streams {
  /** Makes sure the capability's command stream exists (once, then after every reconnect). */
  readonly command: (capability: string) => Effect.Effect<void, BusUnavailable>
  /** Makes sure a stream the bus set up before still exists, after something went wrong with it. */
  readonly restore: (stream: string) => Effect.Effect<void, BusUnavailable>
  /** `restore` in the background, after a publish found nothing capturing its subjects. */
  readonly repair: (stream: string) => void
}

const call = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (error) => error })

export const ensureStream = (jsm: JetStreamManager, spec: StreamSpec): Effect.Effect<void, unknown> =>
  call(() => jsm.streams.add(spec)).pipe(
    Effect.catchIf(
      (error) => apiCode(error) === ApiCode.streamNameInUse,
      () => call(() => jsm.streams.update(spec.name, spec)),
    ),
    Effect.asVoid,
  )

// Settings a running durable consumer may change; the rest (filter, start) are fixed at creation.
const mutable = ["ack_wait", "max_deliver", "max_ack_pending"] as const

/** Creates a durable consumer, or brings an existing one's mutable settings up to date. */
export const ensureConsumer = Effect.fnUntraced(function* (
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { readonly durable_name: string },
): Effect.fn.Return<void, unknown> {
  const name = config.durable_name
  const existing = yield* call(() => jsm.consumers.info(stream, name)).pipe(
    Effect.catchIf(
      (error) => apiCode(error) === ApiCode.consumerNotFound,
      () => Effect.succeed(undefined),
    ),
  )
  if (existing === undefined) {
    yield* call(() => jsm.consumers.add(stream, config))
    return
  }
  const changed = mutable.filter((key) => config[key] !== undefined && existing.config[key] !== config[key])
  if (changed.length === 0) return
  const update = Object.fromEntries(changed.map((key) => [key, config[key]]))
  yield* call(() => jsm.consumers.update(stream, name, update)).pipe(
    Effect.catch((error) =>
      Effect.logWarning(`could not update consumer ${stream}/${name}`).pipe(
        Effect.annotateLogs({ settings: changed.join(", "), cause: describe(error) }),
      ),
    ),
  )
})

export const specs = (names: Names, settings: StreamSettings) => {
  const dedupe = nanos(settings.dedupeWindow)
  return {
    events: {
      name: names.eventsStream,
      subjects: [names.eventsSubjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(settings.eventRetention),
      duplicate_window: nanos(Math.min(settings.dedupeWindow, settings.eventRetention)),
      allow_direct: true,
    },
    // A command's reply, kept as long as its key so a duplicate send can read it back.
    replies: {
      name: names.repliesStream,
      subjects: [names.repliesSubjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: dedupe,
      duplicate_window: dedupe,
      max_msgs_per_subject: 1,
      allow_direct: true,
    },
    command: (capability: string) => ({
      name: names.commandStream(capability),
      subjects: [names.commandSubjects(capability)],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: dedupe,
    }),
  } satisfies Record<string, StreamSpec | ((capability: string) => StreamSpec)>
}

/** Ensures the events and replies streams now, and command streams on first use. */
export const make = Effect.fnUntraced(function* (
  conn: Connection,
  names: Names,
  settings: StreamSettings,
): Effect.fn.Return<Streams, BusUnavailable> {
  const all = specs(names, settings)
  const ensure = (spec: StreamSpec) =>
    ensureStream(conn.jsm, spec).pipe(
      Effect.mapError(
        (error) =>
          new BusUnavailable({ reason: `cannot set up the stream ${spec.name}: ${describe(error)}` }),
      ),
    )
  const known = new Map<string, StreamSpec>()
  const register = (spec: StreamSpec) => {
    known.set(spec.name, spec)
    conn.restore(spec.name, ensure(spec))
  }
  for (const spec of [all.events, all.replies]) {
    yield* ensure(spec)
    register(spec)
  }
  const restore = (stream: string) =>
    Effect.suspend(() => {
      const spec = known.get(stream)
      return spec === undefined ? Effect.void : ensure(spec)
    })
  const commandStreams = new Map<string, Promise<Exit.Exit<void, BusUnavailable>>>()
  return {
    command: (capability) =>
      Effect.suspend(() => {
        const spec = all.command(capability)
        let ensured = commandStreams.get(spec.name)
        if (ensured === undefined) {
          ensured = Effect.runPromiseExit(ensure(spec)).then((exit) => {
            // A failure is not remembered: the next call tries again.
            if (Exit.isSuccess(exit)) register(spec)
            else commandStreams.delete(spec.name)
            return exit
          })
          commandStreams.set(spec.name, ensured)
        }
        const once = ensured
        return Effect.flatten(Effect.promise(() => once))
      }),
    restore,
    repair: (stream) =>
      void conn.fork(
        restore(stream).pipe(
          Effect.catch((error) =>
            Effect.logWarning(`could not restore the stream ${stream}: ${error.reason}`),
          ),
        ),
      ),
  } satisfies Streams
})
