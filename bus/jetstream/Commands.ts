// Commands over JetStream: a work-queue stream per capability, one durable consumer per worker
// group. Replies to a client's key go through the REPLIES stream, so a second send of that key
// reads the first's. A command under a key the bus made is first handed straight to a worker of
// the group over core NATS, and goes to the stream only when no worker takes it or answers it.
import { randomUUID } from "node:crypto"
import { AckPolicy, DeliverPolicy, type JsMsg, PubHeaders } from "@nats-io/jetstream"
import { type Msg, nanos } from "@nats-io/transport-node"
import { Deferred, Effect, Exit, type Scope } from "effect"
import type { Command } from "../../contracts/Contract.ts"
import { InternalError } from "../../contracts/errors.ts"
import type { HandlerContext, RpcHandler, SendOptions } from "../Bus.ts"
import { BusTimeout, BusUnavailable } from "../BusError.ts"
import { runHandler } from "../internal/runHandler.ts"
import { retryDelay } from "../internal/subscription.ts"
import type { Connection } from "./Connection.ts"
import { describe, isNoResponders, isTimeout } from "./failures.ts"
import { Header, read, readMeta, withMeta } from "./Headers.ts"
import { commandToken, type Names, safeName } from "./Names.ts"
import { publish } from "./publish.ts"
import { pull } from "./pull.ts"
import { ensureConsumer, type Streams } from "./Streams.ts"
import {
  declinedFrame,
  decodePayload,
  encodePayload,
  type Frame,
  handedBack,
  type Incoming,
  malformedFrame,
  readReply,
  replyFrame,
  unfinishedFrame,
} from "./Wire.ts"
import type { Job, Workload } from "./Workload.ts"

export interface CommandSettings {
  readonly defaultTimeout: number
  /** Milliseconds a command with a key the bus made waits for its reply before its publish is confirmed. */
  readonly confirmAfterMs: number
  readonly defaultAckWait: number
  readonly maxDeliver: number
}

/** Unacknowledged commands one group may hold across all its workers. */
const maxAckPending = 10_000

/**
 * One subscription for the replies to every command this sender sends under a key the bus made,
 * told apart by their token: such a key is never sent twice, so its reply need not be kept, and a
 * subscription per command cost a SUB and an UNSUB on the server each. Made at the first send.
 */
class ReplyInbox {
  private readonly waiting = new Map<string, (message: Incoming) => void>()
  private readonly owner = randomUUID().replaceAll("-", "")
  private subscribed = false

  constructor(
    private readonly conn: Connection,
    private readonly names: Names,
  ) {}

  /** The subject `token`'s reply comes to, and how to stop waiting for it. */
  wait(token: string, onReply: (message: Incoming) => void): { subject: string; stop: () => void } {
    if (!this.subscribed) {
      this.subscribed = true
      this.conn.nc.subscribe(this.names.inboxSubjects(this.owner), {
        callback: (error, message) => {
          if (error !== null) return
          this.waiting.get(message.subject.slice(message.subject.lastIndexOf(".") + 1))?.(message)
        },
      })
    }
    this.waiting.set(token, onReply)
    return { subject: this.names.inboxSubject(this.owner, token), stop: () => this.waiting.delete(token) }
  }
}

/** What became of a command handed straight to a worker. */
type Handover =
  | { readonly _tag: "Answered"; readonly reply: Incoming }
  /** No worker took it: it never ran. */
  | { readonly _tag: "NotTaken" }
  /** Taken, but not finished, or no answer for a connection lost: it may have run. */
  | { readonly _tag: "Unanswered" }
  /** No answer within the wait: it may have run, or may still be running. */
  | { readonly _tag: "TimedOut" }

/**
 * Hands a command under a key the bus made to one worker of the group over core NATS: no stream
 * to store it, no consumer to deliver it, no acknowledgement (decomposed inserts went 12–19%
 * faster). It waits the ack wait, as long as the stream would let a worker hold the command
 * before giving it to another.
 */
const handOver = (
  conn: Connection,
  names: Names,
  contract: Command,
  data: Uint8Array,
  options: SendOptions,
  key: string,
  waitMs: number,
): Effect.Effect<Handover> => {
  const headers = withMeta(options.meta)
  headers.set(Header.idempotencyKey, key)
  return Effect.tryPromise({
    try: () => conn.nc.request(names.directSubject(contract.subject), data, { timeout: waitMs, headers }),
    catch: (error) => error,
  }).pipe(
    Effect.map((reply): Handover => {
      const back = handedBack(reply)
      return back === undefined
        ? { _tag: "Answered", reply }
        : back === "declined"
          ? { _tag: "NotTaken" }
          : { _tag: "Unanswered" }
    }),
    // Any other failure (a connection lost, say) leaves it unknown whether a worker ran it.
    Effect.catch((error) =>
      Effect.succeed<Handover>(
        isNoResponders(error)
          ? { _tag: "NotTaken" }
          : isTimeout(error)
            ? { _tag: "TimedOut" }
            : { _tag: "Unanswered" },
      ),
    ),
  )
}

// Sends the command and waits for its reply, listening in the caller's scope.
const sendScoped = Effect.fnUntraced(function* (
  conn: Connection,
  names: Names,
  streams: Streams,
  settings: CommandSettings,
  inbox: ReplyInbox,
  contract: Command,
  payload: unknown,
  options: SendOptions,
  afterMs: number,
) {
  const key = options.idempotencyKey ?? randomUUID()
  const data = yield* encodePayload(contract, payload)
  const waitMs = Math.min(settings.defaultAckWait, afterMs)
  const handover =
    options.idempotencyKey === undefined
      ? yield* handOver(conn, names, contract, data, options, key, waitMs)
      : undefined
  if (handover?._tag === "Answered") return yield* readReply(contract, handover.reply)
  // The caller's whole wait is over: nobody would read a reply to a copy sent to the stream now.
  if (handover?._tag === "TimedOut" && waitMs === afterMs) {
    return yield* Effect.fail(new BusTimeout({ subject: contract.subject, afterMs }))
  }
  // To the stream, counted as a delivery when a worker may have run it: the next one then looks
  // up its reply, and a handler that keeps dying is still given up on after maxDeliver.
  const earlierAttempts = handover === undefined || handover._tag === "NotTaken" ? 0 : 1
  const token = commandToken(contract.subject, key)
  const replySubject = names.replySubject(contract.capability, token)
  yield* streams.command(contract.capability)
  const reply = yield* Deferred.make<Incoming>()
  const onReply = (message: Incoming) => Deferred.doneUnsafe(reply, Exit.succeed(message))
  // Listen before sending, so a reply that comes at once is not missed. A key the client chose
  // may come again: its reply is kept, on a subject of its own that a second sender can read.
  const listening = yield* Effect.acquireRelease(
    Effect.sync(() => {
      if (options.idempotencyKey === undefined) return inbox.wait(token, onReply)
      const subscription = conn.nc.subscribe(replySubject, {
        max: 1,
        callback: (error, message) => {
          if (error === null) onReply(message)
        },
      })
      return { subject: replySubject, stop: () => subscription.unsubscribe() }
    }),
    ({ stop }) => Effect.sync(stop),
  )
  const headers = withMeta(options.meta)
  headers.set(Header.idempotencyKey, key)
  if (options.idempotencyKey !== undefined) headers.set(Header.keyFromSender, "1")
  if (earlierAttempts > 0) headers.set(Header.earlierAttempts, String(earlierAttempts))
  headers.set(Header.replyTo, listening.subject)
  const publication = {
    stream: names.commandStream(contract.capability),
    subject: names.subject(contract.subject),
    data,
    msgID: token,
    headers,
  }
  if (options.idempotencyKey !== undefined) {
    const ack = yield* publish(conn, streams, publication)
    // Sent before with this key: its reply may already be stored; if not, it is still coming.
    if (ack.duplicate) yield* Effect.forkScoped(storedReply(conn, names, replySubject, reply))
    return yield* readReply(contract, yield* Deferred.await(reply))
  }
  // A key the bus made has never been sent: the command leaves without asking the stream to
  // acknowledge it (each acknowledgement cost decomposed writes several percent of their
  // throughput), and the reply is what says it was stored. Only a command not answered within
  // `confirmAfterMs` is published again, acknowledged, under the same message id: the stream
  // stores it once either way, and a publish that was lost (no stream, refused, a connection
  // gone) fails as it always did.
  headers.set(PubHeaders.MsgIdHdr, token)
  conn.nc.publish(publication.subject, data, { headers })
  // A duplicate here only says the first publish was stored: its reply comes to the inbox.
  const confirmLater = Effect.andThen(
    Effect.sleep(settings.confirmAfterMs),
    publish(conn, streams, publication),
  )
  const answer = yield* Effect.raceFirst(Deferred.await(reply), Effect.andThen(confirmLater, Effect.never))
  return yield* readReply(contract, answer)
})

export const send = (conn: Connection, names: Names, streams: Streams, settings: CommandSettings) => {
  const inbox = new ReplyInbox(conn, names)
  return (contract: Command, payload: unknown, options: SendOptions): Effect.Effect<unknown, unknown> => {
    const subject = contract.subject
    const afterMs = options.timeout ?? settings.defaultTimeout
    return sendScoped(conn, names, streams, settings, inbox, contract, payload, options, afterMs).pipe(
      Effect.scoped,
      Effect.timeoutOrElse({
        duration: afterMs,
        orElse: () => Effect.fail(new BusTimeout({ subject, afterMs })),
      }),
    )
  }
}

const storedReply = (
  conn: Connection,
  names: Names,
  replySubject: string,
  reply: Deferred.Deferred<Incoming>,
) =>
  Effect.tryPromise({
    try: () => conn.jsm.direct.getMessage(names.repliesStream, { last_by_subj: replySubject }),
    catch: (error) => error,
  }).pipe(
    Effect.flatMap((stored) =>
      stored === null ? Effect.void : Deferred.succeed(reply, { headers: stored.header, data: stored.data }),
    ),
    Effect.catch((error) => Effect.logDebug(`reading a stored reply failed: ${describe(error)}`)),
  )

/** Handles the group's commands until the scope closes. */
export const serve = Effect.fnUntraced(function* (
  conn: Connection,
  names: Names,
  streams: Streams,
  workload: Workload,
  settings: CommandSettings,
  options: { readonly group: string; readonly ackWait?: number | undefined },
  handlers: ReadonlyArray<RpcHandler>,
): Effect.fn.Return<void, BusUnavailable, Scope.Scope> {
  const capabilities = new Map<string, Map<string, RpcHandler>>()
  for (const handler of handlers) {
    const { capability, subject } = handler.contract
    const bySubject = capabilities.get(capability) ?? new Map<string, RpcHandler>()
    capabilities.set(capability, bySubject.set(subject, handler))
  }
  for (const [capability, bySubject] of capabilities) {
    yield* streams.command(capability)
    const stream = names.commandStream(capability)
    const name = safeName(options.group)
    const ackWait = options.ackWait ?? settings.defaultAckWait
    const consumer = ensureConsumer(conn.jsm, stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      // No `working()` while handling: a command not done within ackWait goes to another worker.
      ack_wait: nanos(ackWait),
      max_deliver: settings.maxDeliver,
      max_ack_pending: maxAckPending,
      filter_subject: names.commandSubjects(capability),
    }).pipe(
      Effect.andThen(
        Effect.tryPromise({ try: () => conn.js.consumers.get(stream, name), catch: (error) => error }),
      ),
    )
    // The first lookup fails `serve` itself: a worker that cannot consume should not start.
    const initial = yield* consumer.pipe(
      Effect.mapError(
        (error) => new BusUnavailable({ reason: `cannot consume ${stream} as ${name}: ${describe(error)}` }),
      ),
    )
    yield* Effect.forkScoped(
      pull({
        label: `${stream}/${name}`,
        initial,
        // After a failure the stream itself may be gone (deleted, say): put it back first.
        consumer: Effect.andThen(streams.restore(stream), consumer),
        ready: conn.ready,
        closed: () => conn.nc.isClosed(),
        // Asks for what is free now. Loops of one worker serving several capabilities each ask,
        // so together they may briefly take a little more than its concurrency.
        batch: workload.room,
        onMessage: (message) =>
          Effect.sync(() => workload.start(commandJob(conn, names, settings, bySubject, message))),
      }),
    )
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        conn.nc.subscribe(names.directSubjects(capability), {
          queue: name,
          callback: (error, message) => {
            if (error !== null) return
            // A worker with no room sends the command on to the stream, where it waits its turn;
            // a stopping one declines it too, as `start` drops the job.
            if (workload.free === 0) answerNow(message, declinedFrame())
            else workload.start(directJob(names, bySubject, message, ackWait))
          },
        }),
      ),
      (subscription) => Effect.sync(() => subscription.unsubscribe()),
    )
  }
})

const answerNow = (message: Msg, frame: Frame) => message.respond(frame.data, { headers: frame.headers })

/**
 * A command handed straight to this worker: answered with the handler's answer, or handed back to
 * go to the stream, which retries a handler that died as it always does. Handed back too when it
 * runs past the ack wait, as the stream would then give it to another worker; it runs on here.
 */
const directJob = (
  names: Names,
  handlers: ReadonlyMap<string, RpcHandler>,
  message: Msg,
  ackWait: number,
): Job => {
  let answered = false
  const respond = (frame: Frame) => {
    if (answered) return
    answered = true
    clearTimeout(overdue)
    answerNow(message, frame)
  }
  const overdue = setTimeout(() => respond(unfinishedFrame()), ackWait)
  const run = runDirect(handlers, names.undirect(message.subject), message, respond).pipe(
    Effect.onInterrupt(() => Effect.sync(() => respond(unfinishedFrame()))),
  )
  return { run, drop: () => respond(declinedFrame()) }
}

// Decodes a command handed straight to this worker, runs its handler and answers how it ended.
const runDirect = Effect.fnUntraced(function* (
  handlers: ReadonlyMap<string, RpcHandler>,
  subject: string,
  message: Msg,
  respond: (frame: Frame) => void,
) {
  const handler = handlers.get(subject)
  // Another worker of the group (a newer version, say) may know it: the stream finds one.
  if (handler === undefined) return respond(declinedFrame())
  const payload = yield* Effect.result(decodePayload(handler.contract, message.data))
  if (payload._tag === "Failure") {
    yield* Effect.logError(payload.failure.reason).pipe(Effect.annotateLogs({ subject }))
    return respond(malformedFrame(payload.failure))
  }
  const context: HandlerContext = {
    meta: readMeta(message.headers),
    idempotencyKey: read(message.headers, Header.idempotencyKey) ?? randomUUID(),
    delivery: 1,
    mayHaveRun: false,
  }
  const outcome = yield* runHandler(handler, payload.success, context)
  if (outcome._tag !== "Replied") return respond(unfinishedFrame())
  respond(yield* replyFrame(handler.contract, outcome.exit))
})

const commandJob = (
  conn: Connection,
  names: Names,
  settings: CommandSettings,
  handlers: ReadonlyMap<string, RpcHandler>,
  message: JsMsg,
): Job => {
  let settled = false
  // A message is acknowledged, refused or put back once; later attempts are no-ops.
  const settle = (how: (message: JsMsg) => void) => {
    if (settled) return
    settled = true
    how(message)
  }
  const putBack = () => settle((m) => m.nak())
  const delivery = message.info.deliveryCount + earlierAttemptsOf(message)
  const replyTo = read(message.headers, Header.replyTo)
  const subject = names.unprefix(message.subject)

  // A reply to a key the bus made goes to its sender alone: that key is never sent again, so no
  // second sender will look for the reply.
  const kept = read(message.headers, Header.keyFromSender) === "1"
  const reply = (frame: Frame) =>
    replyTo === undefined
      ? Effect.void
      : !kept
        ? Effect.sync(() => conn.nc.publish(replyTo, frame.data, { headers: frame.headers }))
        : Effect.tryPromise({
            try: () => conn.js.publish(replyTo, frame.data, { headers: frame.headers }),
            catch: (error) => error,
          }).pipe(
            // Not stored, but a caller waiting now still gets it; re-running the command would not help.
            Effect.catch((error) =>
              Effect.andThen(
                Effect.logWarning(`storing the reply to ${subject} failed: ${describe(error)}`),
                Effect.sync(() => conn.nc.publish(replyTo, frame.data, { headers: frame.headers })),
              ),
            ),
          )

  // The reply is stored before the command is acknowledged; once begun, a stopping worker does not cut it short.
  const finish = (frame: Frame, how: (message: JsMsg) => void) =>
    Effect.uninterruptible(
      Effect.andThen(
        reply(frame),
        Effect.sync(() => settle(how)),
      ),
    )

  const defect = (incident: InternalError) =>
    delivery < settings.maxDeliver
      ? Effect.sync(() => settle((m) => m.nak(retryDelay(delivery))))
      : Effect.flatMap(replyFrame(handlersContract(handlers, subject), Exit.fail(incident)), (frame) =>
          // `term` without a reason: nats-server 2.9 ignores a term that carries one.
          finish(frame, (m) => m.term()),
        )

  // Counted with an attempt made before the stream had it, the stream delivers once too often
  // a command whose handler outlasted the ack wait every time: it is dropped, as the stream
  // itself drops one past maxDeliver. (A handler that died was answered at maxDeliver.)
  const tooMany = Effect.andThen(
    Effect.logWarning(`${subject} outlasted the ack wait on ${settings.maxDeliver} deliveries: dropped`),
    Effect.sync(() => settle((m) => m.term())),
  )

  // A handler interrupted because its worker stops leaves its command unacknowledged: it comes
  // again after the ack wait, counted. (Refused with no pull waiting, nats-server 2.9 would
  // redeliver it without counting the delivery.) One never started is refused at once.
  return {
    run:
      delivery > settings.maxDeliver
        ? tooMany
        : runCommand(handlers, subject, message, delivery, finish, defect),
    drop: putBack,
  }
}

const earlierAttemptsOf = (message: JsMsg): number => {
  const earlier = Number(read(message.headers, Header.earlierAttempts) ?? 0)
  return Number.isSafeInteger(earlier) && earlier > 0 ? earlier : 0
}

// Decodes the command, runs its handler and settles the message by how it ended.
const runCommand = Effect.fnUntraced(function* (
  handlers: ReadonlyMap<string, RpcHandler>,
  subject: string,
  message: JsMsg,
  delivery: number,
  finish: (frame: Frame, how: (message: JsMsg) => void) => Effect.Effect<void>,
  defect: (incident: InternalError) => Effect.Effect<void>,
) {
  const handler = handlers.get(subject)
  if (handler === undefined) {
    // Another worker of the group (a newer version, say) may know it.
    const incident = new InternalError({ incident: randomUUID() })
    yield* Effect.logError(`no handler for ${subject} in this worker`).pipe(
      Effect.annotateLogs({ incident: incident.incident, delivery }),
    )
    return yield* defect(incident)
  }
  const payload = yield* Effect.result(decodePayload(handler.contract, message.data))
  if (payload._tag === "Failure") {
    yield* Effect.logError(payload.failure.reason).pipe(Effect.annotateLogs({ subject }))
    return yield* finish(malformedFrame(payload.failure), (m) => m.term())
  }
  const context: HandlerContext = {
    meta: readMeta(message.headers),
    idempotencyKey: read(message.headers, Header.idempotencyKey) ?? "",
    delivery,
    mayHaveRun: delivery > 1 || read(message.headers, Header.keyFromSender) === "1",
  }
  const outcome = yield* runHandler(handler, payload.success, context)
  switch (outcome._tag) {
    case "Replied":
      return yield* Effect.flatMap(replyFrame(handler.contract, outcome.exit), (frame) =>
        finish(frame, (m) => m.ack()),
      )
    case "Defect":
      return yield* defect(outcome.incident)
    case "Interrupted":
      return
  }
})

// The contract to encode an InternalError with: any handler's will do, the error is common to all.
const handlersContract = (handlers: ReadonlyMap<string, RpcHandler>, subject: string) =>
  (handlers.get(subject) ?? handlers.values().next().value!).contract
