// The bus for a fleet, on NATS JetStream: durable commands on work-queue streams, queries over
// request/reply, events on one stream. Same behaviour as MemoryBus, proven by the same suite.
import { Effect, Layer, type Scope } from "effect"
import { Bus, type BusShape, type ServeOptions } from "./Bus.ts"
import { BusUnavailable } from "./BusError.ts"
import * as Pending from "./internal/Pending.ts"
import * as Commands from "./jetstream/Commands.ts"
import * as Connection from "./jetstream/Connection.ts"
import { EventRegistry } from "./jetstream/EventRegistry.ts"
import * as Events from "./jetstream/Events.ts"
import { describe } from "./jetstream/failures.ts"
import * as Names from "./jetstream/Names.ts"
import * as Queries from "./jetstream/Queries.ts"
import * as Streams from "./jetstream/Streams.ts"
import { Workload } from "./jetstream/Workload.ts"

export interface JetStreamBusOptions {
  /** NATS server URLs, comma-separated. */
  readonly servers: string
  /** Put before every subject and stream name, so several Reactors can share one NATS. */
  readonly prefix?: string
  /** The connection's name, as NATS monitoring shows it. */
  readonly name?: string
  /** Replies this process may wait on at once (default 10,000). */
  readonly maxPending?: number
  /** Milliseconds a command's idempotency key and an event's id are remembered (default 120,000). */
  readonly dedupeWindow?: number
  /** Default milliseconds a command may run before another worker gets it (default 30,000). */
  readonly ackWait?: number
  /** Deliveries of a command whose handler keeps dying before it is answered with InternalError (default 5). */
  readonly maxDeliver?: number
  /** Default milliseconds to wait for a reply (default 15,000). */
  readonly timeout?: number
  /**
   * Milliseconds a command sent with a key the bus made waits for its reply before the stream is
   * asked to confirm it holds it (default 500): a lost publish fails this much later.
   */
  readonly confirmAfterMs?: number
  /** Milliseconds events are kept in the stream (default 7 days). */
  readonly eventRetention?: number
  /** Milliseconds `make` keeps trying to reach NATS before it fails (default 10,000). */
  readonly connectTimeout?: number
}
const pingTimeout = 2_000

export const make = Effect.fnUntraced(function* (
  options: JetStreamBusOptions,
): Effect.fn.Return<BusShape, BusUnavailable, Scope.Scope> {
  const settings = {
    defaultTimeout: options.timeout ?? 15_000,
    defaultAckWait: options.ackWait ?? 30_000,
    maxDeliver: options.maxDeliver ?? 5,
    confirmAfterMs: options.confirmAfterMs ?? 500,
  }
  const names = Names.make(options.prefix ?? "")
  const conn = yield* Connection.make({
    servers: options.servers,
    name: options.name,
    connectTimeout: options.connectTimeout ?? 10_000,
  })
  const streams = yield* Streams.make(conn, names, {
    dedupeWindow: options.dedupeWindow ?? 120_000,
    eventRetention: options.eventRetention ?? 7 * 24 * 3_600_000,
  })
  const pending = Pending.make(options.maxPending ?? 10_000)
  const registry = new EventRegistry()
  const request = Queries.request(conn, names, settings.defaultTimeout)
  const send = Commands.send(conn, names, streams, settings)
  const serve = Effect.fnUntraced(function* (serveOptions: ServeOptions) {
    const workload = new Workload(serveOptions.concurrency ?? 64, conn.fork)
    // Added first, so it runs last: intake stops before in-flight handlers are interrupted.
    yield* Effect.addFinalizer(() => workload.close)
    const queries = serveOptions.handlers.filter((h) => h.contract.kind === "query")
    const commands = serveOptions.handlers.filter((h) => h.contract.kind === "command")
    yield* Queries.serve(conn, names, workload, serveOptions.group, queries)
    yield* Commands.serve(conn, names, streams, workload, settings, serveOptions, commands)
  })

  return {
    request: (contract, payload, callOptions) =>
      pending.guard(request(contract, payload, callOptions)) as never,
    send: (contract, payload, sendOptions) => pending.guard(send(contract, payload, sendOptions)) as never,
    serve,
    publish: Events.publish(conn, names, streams, registry, settings),
    publishAll: Events.publishAll(conn, names, streams, registry, settings),
    lastPublished: Events.lastPublished(conn, names, settings),
    subscribe: Events.subscribe(conn, names, streams, registry, settings),
    signal: (topic, data) =>
      Effect.try({
        try: () => conn.nc.publish(names.signalSubject(topic), data),
        catch: (error) => new BusUnavailable({ reason: `cannot signal: ${describe(error)}` }),
      }),
    listen: (topic, onSignal) =>
      Effect.acquireRelease(
        Effect.try({
          try: () =>
            conn.nc.subscribe(names.signalSubject(topic), {
              callback: (error, message) => {
                if (error === null) onSignal(message.string())
              },
            }),
          catch: (error) => new BusUnavailable({ reason: `cannot listen: ${describe(error)}` }),
        }),
        (subscription) => Effect.sync(() => subscription.unsubscribe()),
      ).pipe(Effect.asVoid),
    ping: Effect.suspend(() =>
      conn.nc.isClosed()
        ? Effect.fail(new BusUnavailable({ reason: "the NATS connection is closed" }))
        : Effect.tryPromise({
            try: () => conn.nc.flush(),
            catch: (error) => new BusUnavailable({ reason: `NATS did not answer: ${describe(error)}` }),
          }).pipe(
            Effect.timeoutOrElse({
              duration: pingTimeout,
              orElse: () =>
                Effect.fail(new BusUnavailable({ reason: `NATS did not answer within ${pingTimeout} ms` })),
            }),
          ),
    ),
  } satisfies BusShape
})

export const layer = (options: JetStreamBusOptions) => Layer.effect(Bus, make(options))
