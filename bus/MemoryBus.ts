// The bus inside one process (sizes 1–2). Values pass through undecoded; the behaviour — durable
// commands, redelivery, deduplication, durable subscriptions — is JetStream's, proven by the same suite.
import { randomUUID } from "node:crypto"
import { Deferred, Effect, Exit, Fiber, Layer, Option } from "effect"
import type { Command, Event, Query } from "../contracts/Contract.ts"
import {
  Bus,
  type BusShape,
  type CallOptions,
  type Delivery,
  type HandlerContext,
  type LastPublished,
  type Meta,
  type OutgoingEvent,
  type RpcHandler,
  type SendOptions,
  type SubscribeOptions,
} from "./Bus.ts"
import { BusTimeout, BusUnavailable } from "./BusError.ts"
import { DedupeWindow } from "./internal/DedupeWindow.ts"
import * as Pending from "./internal/Pending.ts"
import { classify, type Outcome, reportDefect, runHandler } from "./internal/runHandler.ts"
import { eventFilter, retryDelay } from "./internal/subscription.ts"

export interface MemoryBusOptions {
  /** Replies this process may wait on at once (default 10,000). */
  readonly maxPending?: number
  /** Milliseconds a command's idempotency key and an event's id are remembered (default 120,000). */
  readonly dedupeWindow?: number
  /** Default milliseconds a command may run before another worker gets it (default 30,000). */
  readonly ackWait?: number
  /**
   * Deliveries of a command before it is given up (default 5): a handler that keeps dying gets the
   * sender an InternalError; one that keeps outlasting ackWait gets it a BusTimeout.
   */
  readonly maxDeliver?: number
  /** Default milliseconds to wait for a reply (default 15,000). */
  readonly timeout?: number
  /**
   * Events kept for subscribers that start from the past (default 100,000): at least this many,
   * trimmed in steps of an eighth of it, so a publish does not move the whole log each time.
   */
  readonly retention?: number
}

type Reply = Deferred.Deferred<unknown, unknown>

interface Envelope {
  readonly contract: Command
  readonly payload: unknown
  readonly meta: Meta
  readonly key: string
  readonly keyFromSender: boolean
  readonly reply: Reply
  delivery: number
}

interface Worker {
  readonly handlers: ReadonlyMap<string, RpcHandler>
  readonly concurrency: number
  readonly ackWait: number
  readonly inFlight: Set<Fiber.Fiber<unknown>>
  active: number
}

interface Durable {
  acked: number
  holder: Deferred.Deferred<void> | undefined
}

interface StoredEvent {
  readonly sequence: number
  readonly contract: Event
  readonly id: string
  readonly payload: unknown
  readonly logPosition: string
  readonly meta: Meta
}

// Queries get a fresh id for handlers that ask for one; unique is enough, so no entropy per call,
// and none is made for the handlers (most) that never ask.
const queryIds = { boot: randomUUID().slice(0, 8), next: 0 }

class QueryContext implements HandlerContext {
  readonly delivery = 1
  readonly mayHaveRun = false
  #id: string | undefined

  constructor(readonly meta: Meta) {}

  get idempotencyKey(): string {
    this.#id ??= `${queryIds.boot}-q${(++queryIds.next).toString(36)}`
    return this.#id
  }
}

export const make = Effect.fnUntraced(function* (options: MemoryBusOptions = {}): Effect.fn.Return<BusShape> {
  const maxDeliver = options.maxDeliver ?? 5
  const defaultTimeout = options.timeout ?? 15_000
  const defaultAckWait = options.ackWait ?? 30_000
  const retention = options.retention ?? 100_000
  const trimStep = Math.max(1, Math.ceil(retention / 8))
  const pending = Pending.make(options.maxPending ?? 10_000)
  const replies = new DedupeWindow<Reply>(options.dedupeWindow ?? 120_000)
  const workers = new Map<string, Array<Worker>>()
  const queues = new Map<string, Array<Envelope>>()
  let turn = 0

  const workersFor = (subject: string) => workers.get(subject) ?? []

  /** The next worker in turn for `subject`; with `free`, only one with room for more work. */
  const pick = (subject: string, free: boolean): Worker | undefined => {
    const all = workersFor(subject)
    const candidates = free ? all.filter((w) => w.active < w.concurrency) : all
    if (candidates.length === 0) return undefined
    return candidates[turn++ % candidates.length]
  }

  const awaitReply = (reply: Reply, subject: string, timeout: number | undefined) => {
    const afterMs = timeout ?? defaultTimeout
    return Deferred.await(reply).pipe(
      Effect.timeoutOrElse({
        duration: afterMs,
        orElse: () => Effect.fail(new BusTimeout({ subject, afterMs })),
      }),
    )
  }

  // Commands: a queue per subject, drained into whichever worker has room.
  const dispatch = (subject: string) => {
    const queue = queues.get(subject)
    while (queue !== undefined && queue.length > 0) {
      const worker = pick(subject, true)
      if (worker === undefined) return
      const envelope = queue.shift()!
      if (Deferred.isDoneUnsafe(envelope.reply)) continue
      deliver(worker, envelope)
    }
  }

  const enqueue = (envelope: Envelope, delayMs = 0) => {
    const subject = envelope.contract.subject
    const push = () => {
      if (Deferred.isDoneUnsafe(envelope.reply)) return
      let queue = queues.get(subject)
      if (queue === undefined) {
        queue = []
        queues.set(subject, queue)
      }
      queue.push(envelope)
      dispatch(subject)
    }
    if (delayMs > 0) setTimeout(push, delayMs).unref()
    else push()
  }

  const deliver = (worker: Worker, envelope: Envelope) => {
    const handler = worker.handlers.get(envelope.contract.subject)!
    const context: HandlerContext = {
      meta: envelope.meta,
      idempotencyKey: envelope.key,
      delivery: envelope.delivery,
      mayHaveRun: envelope.keyFromSender || envelope.delivery > 1,
    }
    worker.active++
    let settled = false
    // A worker that neither answers nor dies within ackWait loses the command to another.
    const ackTimer = setTimeout(() => {
      if (settled || Deferred.isDoneUnsafe(envelope.reply)) return
      settled = true
      worker.active--
      // As JetStream's max_deliver: a command that outlasts ackWait on every delivery is given
      // up (its sender times out) rather than tried forever.
      if (envelope.delivery >= maxDeliver) {
        Effect.runFork(
          Effect.logWarning(`${envelope.contract.subject} given up after ${maxDeliver} deliveries`).pipe(
            Effect.annotateLogs({ requestId: envelope.meta.requestId }),
          ),
        )
        dispatch(envelope.contract.subject)
        return
      }
      enqueue({ ...envelope, delivery: envelope.delivery + 1 })
    }, worker.ackWait)
    ackTimer.unref()
    const onExit = (fiber: Fiber.Fiber<Outcome>) => (exit: Exit.Exit<Outcome>) => {
      worker.inFlight.delete(fiber)
      clearTimeout(ackTimer)
      const outcome = Exit.isSuccess(exit) ? exit.value : ({ _tag: "Interrupted" } as const)
      const first = !settled
      if (first) {
        settled = true
        worker.active--
      }
      switch (outcome._tag) {
        case "Replied":
          Deferred.doneUnsafe(envelope.reply, outcome.exit)
          break
        case "Defect":
          if (!first) break
          if (envelope.delivery >= maxDeliver)
            Deferred.doneUnsafe(envelope.reply, Exit.fail(outcome.incident))
          else enqueue({ ...envelope, delivery: envelope.delivery + 1 }, retryDelay(envelope.delivery))
          break
        case "Interrupted":
          if (first) enqueue({ ...envelope, delivery: envelope.delivery + 1 })
          break
      }
      if (first) dispatch(envelope.contract.subject)
    }
    // The handler starts on the next tick, after its fiber is registered: run at once, it could
    // complete, or wake a caller that stops this worker, before runFork returned.
    const fiber = Effect.runFork(
      Effect.andThen(Effect.yieldNow, runHandler(handler, envelope.payload, context)),
    )
    worker.inFlight.add(fiber)
    fiber.addObserver(onExit(fiber))
  }

  const request: BusShape["request"] = <C extends Query>(
    contract: C,
    payload: C["payload"]["Type"],
    options: CallOptions,
  ) =>
    // The hottest path in one process: one fiber for the handler, a timer only if it does not
    // answer at once, and the in-flight slot taken and released here rather than wrapped.
    Effect.callback<unknown, unknown>((resume) => {
      const worker = pick(contract.subject, false)
      if (worker === undefined) {
        return resume(Effect.fail(new BusUnavailable({ reason: `no worker serves ${contract.subject}` })))
      }
      if (!pending.take()) return resume(Effect.fail(pending.overloaded()))
      const handler = worker.handlers.get(contract.subject)!
      const context = new QueryContext(options.meta)
      const afterMs = options.timeout ?? defaultTimeout
      let settled = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const settle = () => {
        settled = true
        pending.release()
        if (timer !== undefined) clearTimeout(timer)
      }
      const fiber = Effect.runFork(Effect.suspend(() => handler.handle(payload as never, context)))
      fiber.addObserver((exit) => {
        if (settled) return
        settle()
        const outcome = classify(handler.contract, exit)
        if (outcome._tag === "Replied") return resume(outcome.exit)
        if (outcome._tag === "Interrupted") {
          return resume(
            Effect.fail(new BusUnavailable({ reason: `the worker serving ${contract.subject} stopped` })),
          )
        }
        resume(Effect.flatMap(reportDefect(handler.contract, outcome.cause, context), Effect.fail))
      })
      if (!settled) {
        timer = setTimeout(() => {
          if (settled) return
          settle()
          Effect.runFork(Fiber.interrupt(fiber))
          resume(Effect.fail(new BusTimeout({ subject: contract.subject, afterMs })))
        }, afterMs)
      }
      return Effect.sync(() => {
        if (settled) return
        settle()
        Effect.runFork(Fiber.interrupt(fiber))
      })
    }) as never

  const send: BusShape["send"] = <C extends Command>(
    contract: C,
    payload: C["payload"]["Type"],
    options: SendOptions,
  ) =>
    pending.guard(
      Effect.suspend(() => {
        const key = options.idempotencyKey ?? randomUUID()
        const dedupeKey = `${contract.subject}\u0000${key}`
        const existing = replies.get(dedupeKey)
        if (existing !== undefined) return awaitReply(existing, contract.subject, options.timeout)
        const reply = Deferred.makeUnsafe<unknown, unknown>()
        replies.set(dedupeKey, reply)
        enqueue({
          contract,
          payload,
          meta: options.meta,
          key,
          keyFromSender: options.idempotencyKey !== undefined,
          reply,
          delivery: 1,
        })
        return awaitReply(reply, contract.subject, options.timeout)
      }),
    ) as never

  const serve: BusShape["serve"] = (options) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const worker: Worker = {
          handlers: new Map(options.handlers.map((h) => [h.contract.subject, h] as const)),
          concurrency: options.concurrency ?? 64,
          ackWait: options.ackWait ?? defaultAckWait,
          inFlight: new Set(),
          active: 0,
        }
        for (const subject of worker.handlers.keys()) workers.set(subject, [...workersFor(subject), worker])
        for (const subject of worker.handlers.keys()) dispatch(subject)
        return worker
      }),
      (worker) =>
        Effect.suspend(() => {
          for (const subject of worker.handlers.keys()) {
            workers.set(
              subject,
              workersFor(subject).filter((w) => w !== worker),
            )
          }
          // In-flight commands are interrupted; their observers put them back in the queue.
          return Effect.forEach([...worker.inFlight], Fiber.interrupt, { discard: true })
        }),
    ).pipe(Effect.asVoid)

  // Events: one ordered log, trimmed to `retention`.
  const log: Array<StoredEvent> = []
  let lastSequence = 0
  const seenEvents = new DedupeWindow<number>(options.dedupeWindow ?? 120_000)
  const wakers = new Set<() => void>()
  const durables = new Map<string, Durable>()

  const publish: BusShape["publish"] = (event: OutgoingEvent) =>
    Effect.sync(() => {
      const seen = seenEvents.get(event.id)
      if (seen !== undefined) return { sequence: seen, duplicate: true }
      const sequence = ++lastSequence
      log.push({ sequence, ...event })
      if (log.length >= retention + trimStep) log.splice(0, log.length - retention)
      seenEvents.set(event.id, sequence)
      for (const wake of [...wakers]) wake()
      return { sequence, duplicate: false }
    })

  // In memory a publish waits for nothing: one after another is already as fast as it gets.
  const publishAll: BusShape["publishAll"] = (events, options) =>
    Effect.suspend(() =>
      options?.afterSequence === undefined || options.afterSequence === lastSequence
        ? Effect.forEach(events, publish)
        : Effect.fail(
            new BusUnavailable({
              reason: `the event log ends at ${lastSequence}, not ${options.afterSequence}: another publisher got in first`,
            }),
          ),
    )

  const lastPublished: BusShape["lastPublished"] = Effect.sync(() => {
    const last = log.at(-1)
    return last === undefined
      ? Option.none<LastPublished>()
      : Option.some({ sequence: last.sequence, logPosition: last.logPosition })
  })

  const nextAfter = (cursor: number, wanted: (event: Event) => boolean): StoredEvent | undefined => {
    // The log is ordered by sequence: find the first retained event past the cursor.
    const first = log[0]
    if (first === undefined) return undefined
    for (let i = Math.max(0, cursor - first.sequence + 1); i < log.length; i++) {
      const stored = log[i]!
      if (stored.sequence > cursor && wanted(stored.contract)) return stored
    }
    return undefined
  }

  const waitForEvent = Effect.callback<void>((resume) => {
    const wake = () => {
      wakers.delete(wake)
      resume(Effect.void)
    }
    wakers.add(wake)
    return Effect.sync(() => wakers.delete(wake))
  })

  // Delivers the events `wanted` takes, in order, from `initial` on (from where the durable
  // stopped, once it is claimed).
  const follow = Effect.fnUntraced(function* (
    initial: number,
    durable: Durable | undefined,
    claim: Effect.Effect<void>,
    wanted: (event: Event) => boolean,
    handle: (delivery: Delivery) => Effect.Effect<void, unknown>,
  ) {
    let cursor = initial
    yield* claim
    if (durable !== undefined) cursor = durable.acked
    while (true) {
      const next = nextAfter(cursor, wanted)
      if (next === undefined) {
        // Nothing it wants up to the end of the log: the next look starts there, so a
        // subscriber to rare events does not read the same others again on every publish.
        cursor = Math.max(cursor, lastSequence)
        yield* waitForEvent
        continue
      }
      for (let attempt = 1; ; attempt++) {
        const delivery: Delivery = {
          contract: next.contract,
          id: next.id,
          payload: next.payload,
          sequence: next.sequence,
          logPosition: next.logPosition,
          meta: next.meta,
          delivery: attempt,
        }
        const exit = yield* Effect.exit(handle(delivery))
        if (Exit.isSuccess(exit)) break
        yield* Effect.logWarning(`subscriber failed on ${next.contract.subject}; delivering again`)
        yield* Effect.sleep(retryDelay(attempt))
      }
      cursor = next.sequence
      if (durable !== undefined) durable.acked = cursor
    }
  })

  const subscribe: BusShape["subscribe"] = Effect.fnUntraced(function* (
    options: SubscribeOptions,
    handle: (delivery: Delivery) => Effect.Effect<void, unknown>,
  ) {
    const wanted = eventFilter(options.events)
    const startAt = options.startAt ?? "new"
    const initial = startAt === "all" ? 0 : startAt === "new" ? lastSequence : startAt.afterSequence
    const durable =
      options.durable === undefined
        ? undefined
        : (durables.get(options.durable) ??
          (() => {
            const state = { acked: initial, holder: undefined }
            durables.set(options.durable, state)
            return state
          })())
    // One active subscription per durable name; a second one waits until the first stops.
    const claim = Effect.suspend(function loop(): Effect.Effect<void> {
      if (durable === undefined) return Effect.void
      if (durable.holder === undefined) {
        durable.holder = Deferred.makeUnsafe<void>()
        return Effect.void
      }
      return Effect.andThen(Deferred.await(durable.holder), Effect.suspend(loop))
    })
    const release = Effect.sync(() => {
      if (durable?.holder !== undefined) {
        const holder = durable.holder
        durable.holder = undefined
        Deferred.doneUnsafe(holder, Exit.void)
      }
    })
    yield* Effect.forkScoped(follow(initial, durable, claim, wanted, handle).pipe(Effect.ensuring(release)))
  })

  const listeners = new Map<string, Set<(data: string) => void>>()
  const signal = (topic: string, data: string) =>
    Effect.sync(() => {
      const forTopic = listeners.get(topic)
      if (forTopic === undefined) return
      // Later, as over a network: a listener never runs inside its sender's call.
      for (const listener of forTopic) queueMicrotask(() => listener(data))
    })
  const listen = (topic: string, onSignal: (data: string) => void) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        let forTopic = listeners.get(topic)
        if (forTopic === undefined) {
          forTopic = new Set()
          listeners.set(topic, forTopic)
        }
        forTopic.add(onSignal)
        return forTopic
      }),
      (forTopic) => Effect.sync(() => forTopic.delete(onSignal)),
    ).pipe(Effect.asVoid)

  return {
    request,
    send,
    serve,
    publish,
    publishAll,
    lastPublished,
    subscribe,
    signal,
    listen,
    ping: Effect.void,
  } satisfies BusShape
})

export const layer = (options: MemoryBusOptions = {}) => Layer.effect(Bus, make(options))
