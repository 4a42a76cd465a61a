// Pulls messages from a JetStream consumer in batches the caller sizes, until interrupted.
// `consume()` asks the server for more as soon as messages arrive, however slowly they are
// handled; pulling batch by batch lets a worker ask only for what it has room for.
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream"
import { Cause, Effect, Exit } from "effect"
import { describe } from "./failures.ts"

export interface PullOptions {
  /** What the loop is, for logs. */
  readonly label: string
  /** The consumer to pull from first, when the caller already has it. */
  readonly initial?: Consumer | undefined
  /** The consumer to pull from; obtained again (and so re-created if it vanished) after a failure. */
  readonly consumer: Effect.Effect<Consumer, unknown>
  /** How many messages to ask for next; may wait until there is room. */
  readonly batch: Effect.Effect<number>
  /** True once the connection is closed for good: the loop then ends instead of retrying. */
  readonly closed: () => boolean
  /** Waits while the connection is down, so lookups are not sent into the void to time out. */
  readonly ready: Effect.Effect<void>
  /** Takes one message; the next one is not taken before this completes. */
  readonly onMessage: (message: JsMsg) => Effect.Effect<void>
}

/** The server ends an unanswered pull after this long, and the loop asks again. */
const expires = 5_000

// Takes the batch's messages one after another until the server says it is done.
const takeAll = Effect.fnUntraced(function* (batch: ConsumerMessages, onMessage: PullOptions["onMessage"]) {
  const messages = batch[Symbol.asyncIterator]()
  while (true) {
    const next = yield* Effect.tryPromise({ try: () => messages.next(), catch: (error) => error })
    if (next.done === true) return
    yield* onMessage(next.value)
  }
})

const drain = (consumer: Consumer, size: number, onMessage: PullOptions["onMessage"]) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => consumer.fetch({ max_messages: size, expires }),
      catch: (error) => error,
    }),
    (batch) => takeAll(batch, onMessage),
    // Stopping unsubscribes: what the server still sends is redelivered after its ack wait.
    (batch) => Effect.sync(() => batch.stop()),
  )

// One batch, from `consumer` or, when there is none, from one looked up once the connection is
// up. Succeeds with the consumer it pulled from, for the next batch.
const pullBatch = Effect.fnUntraced(function* (
  options: PullOptions,
  consumer: Consumer | undefined,
  size: number,
) {
  let from = consumer
  if (from === undefined) {
    yield* options.ready
    from = yield* options.consumer
  }
  yield* drain(from, size, options.onMessage)
  return from
})

export const pull = Effect.fnUntraced(function* (options: PullOptions): Effect.fn.Return<void> {
  let consumer: Consumer | undefined = options.initial
  for (let failures = 0; ; ) {
    const size = yield* options.batch
    const exit = yield* Effect.exit(pullBatch(options, consumer, size))
    if (Exit.isSuccess(exit)) {
      consumer = exit.value
      failures = 0
      continue
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
    if (options.closed()) return yield* Effect.logDebug(`${options.label}: the connection closed; stopping`)
    // A restarted server, a deleted consumer, missed heartbeats: look the consumer up again.
    consumer = undefined
    failures++
    yield* Effect.logWarning(`${options.label}: pulling failed; trying again`).pipe(
      Effect.annotateLogs({ cause: describe(exit.cause), failures }),
    )
    // The server says it shuts down before the connection reports the disconnect: give it time.
    yield* Effect.sleep(Math.min(2_000, 250 * 2 ** Math.min(failures - 1, 3)))
  }
})
