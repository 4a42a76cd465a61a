// Events over JetStream: one EVENTS stream, fed by the outbox relay with the event id as the
// message id. A durable subscriber is a durable consumer; any other an ordered consumer.
import { AckPolicy, type Consumer, DeliverPolicy, type JsMsg, type PubAck } from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Effect, Exit, Option, type Scope } from "effect"
import * as Codec from "../../contracts/avro/Codec.ts"
import type { Event } from "../../contracts/Contract.ts"
import type { BusShape, Delivery, OutgoingEvent, PublishAck, StartAt, SubscribeOptions } from "../Bus.ts"
import { type BusError, BusProtocolError, BusTimeout, BusUnavailable } from "../BusError.ts"
import { eventFilter, retryDelay } from "../internal/subscription.ts"
import type { Connection } from "./Connection.ts"
import type { EventRegistry } from "./EventRegistry.ts"
import { describe, isNoResponders } from "./failures.ts"
import { Header, read, readMeta, withMeta } from "./Headers.ts"
import { type Names, safeName } from "./Names.ts"
import { type Publication, publish as publishToStream } from "./publish.ts"
import { pull } from "./pull.ts"
import { ensureConsumer, type Streams } from "./Streams.ts"

export interface EventSettings {
  readonly defaultTimeout: number
  readonly defaultAckWait: number
}

/** How many events a subscriber asks for at once; it still handles them one by one, in order. */
const batch = 64
/**
 * What an ordered subscriber asks for at once. It takes every event of its filter (a gateway
 * follows each row change), and each pull costs a round trip in which none arrive: with 64 a
 * gateway busy fanning out 1,000 changes a second fell a second behind; with 512 it kept up. At
 * most this many wait in memory for it.
 */
const orderedBatch = 512

const unavailable = (doing: string) => (error: unknown) =>
  new BusUnavailable({ reason: `${doing}: ${describe(error)}` })

/** The stream message an event becomes: its payload in Avro, what it is and where it is from in headers. */
const publication = (names: Names, registry: EventRegistry, event: OutgoingEvent) =>
  Effect.try({
    try: (): Publication => {
      const { contract } = event
      registry.add(contract)
      const data = Codec.event(contract).current.encode(event.payload)
      const headers = withMeta(event.meta)
      headers.set(Header.type, contract.type)
      headers.set(Header.version, String(contract.version))
      headers.set(Header.position, event.logPosition)
      headers.set(Header.eventId, event.id)
      return {
        stream: names.eventsStream,
        subject: names.subject(contract.subject),
        data,
        msgID: event.id,
        headers,
      }
    },
    catch: (error) =>
      new BusProtocolError({
        subject: event.contract.subject,
        reason: `payload does not fit: ${describe(error)}`,
      }),
  })

const ackOf = (ack: PubAck): PublishAck => ({ sequence: ack.seq, duplicate: ack.duplicate })

/** One encoded event, acknowledged or failed within the bus's timeout. */
const publishEncoded = (conn: Connection, streams: Streams, settings: EventSettings) => {
  const afterMs = settings.defaultTimeout
  return (event: OutgoingEvent, message: Publication) =>
    publishToStream(conn, streams, message).pipe(
      Effect.map(ackOf),
      Effect.timeoutOrElse({
        duration: afterMs,
        orElse: () => Effect.fail(new BusTimeout({ subject: event.contract.subject, afterMs })),
      }),
    )
}

export const publish = (
  conn: Connection,
  names: Names,
  streams: Streams,
  registry: EventRegistry,
  settings: EventSettings,
) => {
  const encoded = publishEncoded(conn, streams, settings)
  return (event: OutgoingEvent) =>
    Effect.flatMap(publication(names, registry, event), (message) => encoded(event, message))
}

type Encoded = ReturnType<typeof publishEncoded>
type Pipelined = (
  messages: ReadonlyArray<Publication>,
  after: number,
) => Effect.Effect<ReadonlyArray<PublishAck>, BusUnavailable>

/** `publishAll` with the bus's parts passed in. */
const publishAllWith = Effect.fnUntraced(function* (
  names: Names,
  registry: EventRegistry,
  encoded: Encoded,
  pipelined: Pipelined,
  events: ReadonlyArray<OutgoingEvent>,
  options: { readonly afterSequence?: number | undefined } | undefined,
): Effect.fn.Return<ReadonlyArray<PublishAck>, BusError> {
  if (events.length === 0) return []
  // Encoded first: an event that does not fit fails the batch before any of it is sent.
  const messages = yield* Effect.forEach(events, (event) => publication(names, registry, event))
  const after = options?.afterSequence
  if (after !== undefined) return yield* pipelined(messages, after)
  const first = yield* encoded(events[0]!, messages[0]!)
  // Already in the stream: so may the next ones be, whose sequences are not known. Rare (a
  // relay that resumes behind the stream), so simply one at a time.
  if (first.duplicate)
    return [
      first,
      ...(yield* Effect.forEach(events.slice(1), (event, i) => encoded(event, messages[i + 1]!))),
    ]
  if (events.length === 1) return [first]
  return [first, ...(yield* pipelined(messages.slice(1), first.sequence))]
})

/**
 * Events in order without a round trip each: they leave together, each expecting the stream's
 * last sequence to be the one before it. The relay is the stream's only publisher, so the
 * expectation holds unless one of them was not stored: then every later one is refused too, and
 * the stream holds a prefix of the events with no gap, as one-at-a-time publishing would leave
 * it. The caller publishes the rest again. Without `afterSequence` the first is published alone,
 * and its acknowledgement gives the sequence the others follow.
 */
export const publishAll = (
  conn: Connection,
  names: Names,
  streams: Streams,
  registry: EventRegistry,
  settings: EventSettings,
) => {
  const encoded = publishEncoded(conn, streams, settings)
  const timeout = settings.defaultTimeout
  const pipelined = (messages: ReadonlyArray<Publication>, after: number) =>
    Effect.tryPromise({
      // Sent in this loop's order, on one connection: the stream receives them in it.
      try: () =>
        Promise.all(
          messages.map(({ subject, data, msgID, headers }, i) =>
            conn.js.publish(subject, data, { msgID, headers, timeout, expect: { lastSequence: after + i } }),
          ),
        ),
      catch: (error) => {
        if (isNoResponders(error)) streams.repair(names.eventsStream)
        return new BusUnavailable({
          reason: `publishing ${messages.length} events to ${names.eventsStream}: ${describe(error)}`,
        })
      },
    }).pipe(
      Effect.map((acks) => acks.map(ackOf)),
      (sending) => Effect.andThen(conn.ready, sending),
    )

  return (
    events: ReadonlyArray<OutgoingEvent>,
    options?: { readonly afterSequence?: number | undefined },
  ): Effect.Effect<ReadonlyArray<PublishAck>, BusError> =>
    publishAllWith(names, registry, encoded, pipelined, events, options)
}

const readLastPublished = Effect.fnUntraced(function* (conn: Connection, names: Names) {
  yield* conn.ready
  const last = yield* Effect.tryPromise({
    try: () => conn.jsm.streams.getMessage(names.eventsStream, { last_by_subj: names.eventsSubjects }),
    catch: unavailable(`cannot read the last event of ${names.eventsStream}`),
  })
  if (last === null) return Option.none()
  const logPosition = read(last.header, Header.position)
  if (logPosition === undefined) {
    return yield* Effect.fail(
      new BusProtocolError({
        subject: last.subject,
        reason: `event ${last.seq} has no ${Header.position} header`,
      }),
    )
  }
  return Option.some({ sequence: last.seq, logPosition })
})

export const lastPublished = (
  conn: Connection,
  names: Names,
  settings: EventSettings,
): BusShape["lastPublished"] =>
  readLastPublished(conn, names).pipe(
    Effect.timeoutOrElse({
      duration: settings.defaultTimeout,
      orElse: () =>
        Effect.fail(new BusUnavailable({ reason: `${names.eventsStream} did not answer in time` })),
    }),
  )

// One filter subject only (nats-server 2.9): several contracts share their capability's wildcard,
// and the subscriber drops the rest itself.
const filterSubject = (names: Names, events: SubscribeOptions["events"]): string => {
  if ("capability" in events) return names.subject(`evt.${events.capability}.>`)
  const list = events as ReadonlyArray<Event>
  if (list.length === 1) return names.subject(list[0]!.subject)
  const capabilities = new Set(list.map((e) => e.capability))
  return capabilities.size === 1 ? names.subject(`evt.${[...capabilities][0]}.>`) : names.eventsSubjects
}

/** The first stream sequence a new subscription delivers. */
const firstSequence = (conn: Connection, names: Names, startAt: StartAt) => {
  if (startAt === "all") return Effect.succeed(1)
  if (startAt !== "new") return Effect.succeed(startAt.afterSequence + 1)
  // Not DeliverPolicy.New: an ordered consumer re-created after a restart would replay everything.
  return Effect.tryPromise({
    try: () => conn.jsm.streams.info(names.eventsStream),
    catch: unavailable(`cannot read ${names.eventsStream}`),
  }).pipe(Effect.map((info) => info.state.last_seq + 1))
}

type Handle = (delivery: Delivery) => Effect.Effect<void, unknown>

type ToDelivery = (message: JsMsg, attempt: number) => Effect.Effect<Delivery | undefined, BusProtocolError>

type Attempt = (message: JsMsg, n: number) => Effect.Effect<Exit.Exit<void, unknown>>

const attemptOnce = Effect.fnUntraced(function* (
  toDelivery: ToDelivery,
  handle: Handle,
  message: JsMsg,
  n: number,
) {
  const delivery = yield* toDelivery(message, n)
  if (delivery !== undefined) yield* handle(delivery)
})

// Attempts the message until it is handled, waiting longer after each failure, then moves the
// cursor past it.
const handleInOrder = Effect.fnUntraced(function* (
  attempt: Attempt,
  message: JsMsg,
  advance: (sequence: number) => void,
) {
  for (let n = 1; ; n++) {
    const exit = yield* attempt(message, n)
    if (Exit.isSuccess(exit)) break
    yield* Effect.sleep(retryDelay(n))
  }
  advance(message.seq)
})

const subscribeWith = Effect.fnUntraced(function* (
  conn: Connection,
  names: Names,
  streams: Streams,
  registry: EventRegistry,
  settings: EventSettings,
  options: SubscribeOptions,
  handle: Handle,
): Effect.fn.Return<void, BusUnavailable, Scope.Scope> {
  const listed = "capability" in options.events ? [] : (options.events as ReadonlyArray<Event>)
  for (const contract of listed) registry.add(contract)
  const bySubject = new Map(listed.map((e) => [e.subject, e] as const))
  const wanted = eventFilter(options.events)
  const filter = filterSubject(names, options.events)
  yield* conn.ready
  const start = yield* firstSequence(conn, names, options.startAt ?? "new")

  // The delivery a message stands for; none when this subscriber does not take it.
  const toDelivery: ToDelivery = (message, attempt) =>
    Effect.suspend((): Effect.Effect<Delivery | undefined, BusProtocolError> => {
      const type = read(message.headers, Header.type)
      const subject = names.unprefix(message.subject)
      const contract = bySubject.get(subject) ?? (type === undefined ? undefined : registry.get(type))
      if (contract === undefined) {
        return Effect.as(Effect.logWarning(`skipping ${subject}: no contract for ${type} here`), undefined)
      }
      if (!wanted(contract)) return Effect.succeed(undefined)
      const version = Number(read(message.headers, Header.version) ?? contract.version)
      return Effect.try({
        try: (): Delivery => ({
          contract,
          id: read(message.headers, Header.eventId) ?? "",
          payload: Codec.event(contract).decode(message.data, version),
          sequence: message.seq,
          logPosition: read(message.headers, Header.position) ?? "",
          meta: readMeta(message.headers),
          delivery: attempt,
        }),
        catch: (error) => new BusProtocolError({ subject, reason: `cannot decode: ${describe(error)}` }),
      })
    })

  // Handles one message; an undecodable event counts as a failed delivery, it is not skipped.
  const attempt: Attempt = (message, n) =>
    attemptOnce(toDelivery, handle, message, n).pipe(
      Effect.tapError((error) =>
        Effect.logWarning(`subscriber failed on ${names.unprefix(message.subject)}; delivering again`).pipe(
          Effect.annotateLogs({ cause: describe(error), sequence: message.seq, delivery: n }),
        ),
      ),
      Effect.exit,
    )

  if (options.durable !== undefined) {
    const name = safeName(options.durable)
    const consumer = ensureConsumer(conn.jsm, names.eventsStream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(options.ackWait ?? settings.defaultAckWait),
      // One unacknowledged event at a time: a failed one is delivered again before any later one.
      max_ack_pending: 1,
      max_deliver: -1,
      filter_subject: filter,
      ...(start === 1
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start }),
    }).pipe(
      Effect.andThen(
        Effect.tryPromise({
          try: () => conn.js.consumers.get(names.eventsStream, name),
          catch: (error) => error,
        }),
      ),
    )
    const initial = yield* Effect.mapError(consumer, unavailable(`cannot subscribe as ${name}`))
    yield* Effect.forkScoped(
      pull({
        label: `${names.eventsStream}/${name}`,
        initial,
        consumer: Effect.andThen(streams.restore(names.eventsStream), consumer),
        ready: conn.ready,
        closed: () => conn.nc.isClosed(),
        batch: Effect.succeed(batch),
        // Stopped mid-event, it is neither acknowledged nor refused: it comes again after the
        // ack wait. (A refusal with no pull waiting is redelivered by nats-server 2.9 without
        // counting the delivery, and sometimes twice.)
        onMessage: (message) =>
          Effect.flatMap(attempt(message, message.info.deliveryCount), (exit) =>
            Effect.sync(() =>
              Exit.isSuccess(exit) ? message.ack() : message.nak(retryDelay(message.info.deliveryCount)),
            ),
          ),
      }),
    )
    return
  }

  // An ordered consumer acknowledges nothing: retries happen here, and `cursor` is where a
  // consumer re-created after a failure starts again.
  let cursor = start - 1
  const advance = (sequence: number) => {
    cursor = sequence
  }
  let current: Consumer | undefined
  // Not awaited: a consumer left behind expires by itself (inactive_threshold), a slow delete
  // must not hold up a scope that closes.
  const dropCurrent = Effect.sync(() => {
    void current?.delete().catch(() => undefined)
    current = undefined
  })
  const consumer = Effect.andThen(
    dropCurrent,
    Effect.tryPromise({
      try: () =>
        conn.js.consumers.get(names.eventsStream, { filter_subjects: filter, opt_start_seq: cursor + 1 }),
      catch: (error) => error,
    }).pipe(
      Effect.tap((created) =>
        Effect.sync(() => {
          current = created
        }),
      ),
    ),
  )
  const initial = yield* Effect.mapError(consumer, unavailable(`cannot subscribe to ${filter}`))
  yield* Effect.addFinalizer(() => dropCurrent)
  yield* Effect.forkScoped(
    pull({
      label: `${names.eventsStream} ordered ${filter}`,
      initial,
      consumer: Effect.andThen(streams.restore(names.eventsStream), consumer),
      ready: conn.ready,
      closed: () => conn.nc.isClosed(),
      batch: Effect.succeed(orderedBatch),
      onMessage: (message) => handleInOrder(attempt, message, advance),
    }),
  )
})

export const subscribe =
  (conn: Connection, names: Names, streams: Streams, registry: EventRegistry, settings: EventSettings) =>
  (options: SubscribeOptions, handle: Handle): Effect.Effect<void, BusUnavailable, Scope.Scope> =>
    subscribeWith(conn, names, streams, registry, settings, options, handle)
