// One bus's NATS connection: connected within a bound at start, reconnecting forever after,
// restoring what a restarted server may have lost each time it comes back, drained at scope close.
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { type Context, Deferred, Effect, Exit, type Fiber, type Scope } from "effect"
import { BusUnavailable } from "../BusError.ts"
import { describe } from "./failures.ts"

export interface ConnectionOptions {
  readonly servers: string
  readonly name?: string | undefined
  /** Milliseconds to keep trying the first connection before giving up. */
  readonly connectTimeout: number
}

export interface Connection {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** Waits while the connection is down, until everything registered with `restore` is back. */
  readonly ready: Effect.Effect<void>
  /** Registers what to put back after every reconnect (a stream lost with a memory store, say). */
  readonly restore: (name: string, ensure: Effect.Effect<unknown, unknown>) => void
  /** Runs an effect from a NATS callback with the bus's services (its logger above all). */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
}

const attemptTimeout = 2_000
const reconnectTimeWait = 250

const firstConnection = Effect.fnUntraced(function* (options: ConnectionOptions) {
  const deadline = Date.now() + options.connectTimeout
  const servers = options.servers.split(",").map((s) => s.trim())
  let last: unknown
  while (Date.now() < deadline) {
    const attempt = yield* Effect.exit(
      Effect.tryPromise((signal) =>
        connect({
          servers,
          ...(options.name === undefined ? {} : { name: options.name }),
          maxReconnectAttempts: -1,
          reconnectTimeWait,
          timeout: attemptTimeout,
          // Otherwise every request builds an Error up front, in case it fails, to keep the
          // caller's stack: a tenth of a relay's time at 1,000 events a second. Bus errors
          // say what failed in their own words.
          noAsyncTraces: true,
        }).then((nc) => {
          // Interrupted while connecting: nobody will close this connection but us.
          if (signal.aborted) void nc.close()
          return nc
        }),
      ),
    )
    if (Exit.isSuccess(attempt)) return attempt.value
    last = attempt.cause
    yield* Effect.sleep(reconnectTimeWait)
  }
  return yield* Effect.fail(
    new BusUnavailable({ reason: `cannot connect to NATS at ${options.servers}: ${describe(last)}` }),
  )
})

const close = (nc: NatsConnection) =>
  Effect.promise(async () => {
    if (nc.isClosed()) return
    // Draining lets in-flight publishes and acks reach the server; a stuck drain must not hang shutdown.
    const drained = nc.drain().catch(() => undefined)
    const timer = new Promise((resolve) => setTimeout(resolve, 5_000).unref())
    await Promise.race([drained, timer])
    if (!nc.isClosed()) await nc.close().catch(() => undefined)
  })

export const make = Effect.fnUntraced(function* (
  options: ConnectionOptions,
): Effect.fn.Return<Connection, BusUnavailable, Scope.Scope> {
  const context: Context.Context<never> = yield* Effect.context<never>()
  const fork = <A, E>(effect: Effect.Effect<A, E>) => Effect.runForkWith(context)(effect)
  const nc = yield* Effect.acquireRelease(firstConnection(options), close)
  const jsm = yield* Effect.tryPromise({
    try: () => jetstreamManager(nc),
    catch: (error) =>
      new BusUnavailable({
        reason: `JetStream is not available at ${options.servers} (start nats-server with -js): ${describe(error)}`,
      }),
  })
  const js = jetstream(nc)

  const ensures = new Map<string, Effect.Effect<unknown, unknown>>()
  let ready = Deferred.makeUnsafe<void>()
  Deferred.doneUnsafe(ready, Exit.void)
  let generation = 0

  // Put back everything registered, retrying until it works or the connection goes down again.
  const restoreAll = Effect.fnUntraced(function* (gen: number) {
    for (let attempt = 1; gen === generation && !nc.isClosed(); attempt++) {
      const failures: Array<string> = []
      for (const [name, ensure] of ensures) {
        const exit = yield* Effect.exit(ensure)
        if (Exit.isFailure(exit)) failures.push(`${name}: ${describe(exit.cause)}`)
      }
      if (failures.length === 0) {
        if (gen === generation) Deferred.doneUnsafe(ready, Exit.void)
        return
      }
      yield* Effect.logWarning(`restoring the bus after a reconnect failed; retrying`).pipe(
        Effect.annotateLogs({ failures: failures.join("; ") }),
      )
      yield* Effect.sleep(Math.min(2_000, 100 * attempt))
    }
  })

  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        generation++
        if (Deferred.isDoneUnsafe(ready)) ready = Deferred.makeUnsafe<void>()
        fork(Effect.logWarning(`lost the NATS connection; reconnecting`))
      } else if (status.type === "reconnect") {
        generation++
        if (Deferred.isDoneUnsafe(ready)) ready = Deferred.makeUnsafe<void>()
        fork(Effect.andThen(Effect.logInfo(`reconnected to NATS`), restoreAll(generation)))
      }
    }
    // Closed: nothing will come back, so calls waiting for the connection go on and fail.
    Deferred.doneUnsafe(ready, Exit.void)
  })()

  return {
    nc,
    js,
    jsm,
    ready: Effect.suspend(() => Deferred.await(ready)),
    restore: (name, ensure) => void ensures.set(name, ensure),
    fork,
  } satisfies Connection
})
