// The bus port: how gateways and workers exchange commands, queries and events. Two adapters
// (MemoryBus for one process, JetStreamBus for a fleet) pass one contract suite unchanged.
import { Context, type Effect, type Option, type Scope } from "effect"
import type { AnyRpc, Command, ErrorOf, Event, PayloadOf, Query, SuccessOf } from "../contracts/Contract.ts"
import type { BusError } from "./BusError.ts"

/** What travels in headers beside every message, for logs and traces. */
export interface Meta {
  /** Correlates everything one HTTP request caused; echoed as the response's x-request-id. */
  readonly requestId: string
  /** W3C trace context of the caller, when there is one. */
  readonly traceparent?: string
}

export interface CallOptions {
  readonly meta: Meta
  /** Milliseconds to wait for the reply before failing with BusTimeout. */
  readonly timeout?: number
}

export interface SendOptions extends CallOptions {
  /**
   * Commands sent twice with the same key within the dedupe window take effect once, and both
   * senders get the same reply. Defaults to a fresh UUID (no deduplication).
   */
  readonly idempotencyKey?: string
}

/** What a handler learns about the message besides its payload. */
export interface HandlerContext {
  readonly meta: Meta
  /** The command's idempotency key (for queries, a fresh id). */
  readonly idempotencyKey: string
  /** 1 on first delivery; more when a worker died or timed out before acknowledging. */
  readonly delivery: number
  /**
   * An earlier attempt may have handled this command under the same key: the sender chose the key
   * (a client's Idempotency-Key), or this is a delivery after one that went unanswered. False only
   * for the first attempt of a key the bus made, which is surely new.
   */
  readonly mayHaveRun: boolean
}

export interface RpcHandler<C extends AnyRpc = AnyRpc> {
  readonly contract: C
  readonly handle: (payload: PayloadOf<C>, context: HandlerContext) => Effect.Effect<SuccessOf<C>, ErrorOf<C>>
}

/** Pairs a contract with its handler, checking the handler's types against the contract. */
export const handler = <C extends AnyRpc>(
  contract: C,
  handle: (payload: PayloadOf<C>, context: HandlerContext) => Effect.Effect<SuccessOf<C>, ErrorOf<C>>,
): RpcHandler => ({ contract, handle }) as unknown as RpcHandler

export interface ServeOptions {
  /** Workers of one group share the work: each command is handled by exactly one of them. */
  readonly group: string
  readonly handlers: ReadonlyArray<RpcHandler>
  /** Most messages this worker handles at once; the rest wait in the bus, not in memory here. */
  readonly concurrency?: number
  /** Milliseconds a command may run before it is redelivered to another worker. */
  readonly ackWait?: number
}

/** An event on its way from the outbox relay to the bus. */
export interface OutgoingEvent {
  readonly contract: Event
  /** The event's id in the log; the bus drops a second publish of the same id. */
  readonly id: string
  readonly payload: unknown
  /** The event's position in the Postgres log, kept so the relay can find where it stopped. */
  readonly logPosition: string
  readonly meta: Meta
}

export interface PublishAck {
  /** Position in the bus's event stream. */
  readonly sequence: number
  /** True when the bus already had an event with this id and dropped this one. */
  readonly duplicate: boolean
}

/** An event as a subscriber receives it. */
export interface Delivery {
  readonly contract: Event
  readonly id: string
  readonly payload: unknown
  readonly sequence: number
  readonly logPosition: string
  readonly meta: Meta
  /** 1 on first delivery; more when an earlier attempt failed or was not acknowledged. */
  readonly delivery: number
}

export type StartAt = "all" | "new" | { readonly afterSequence: number }

export interface SubscribeOptions {
  /** The events to receive: a list of contracts, or every event of a capability. */
  readonly events: ReadonlyArray<Event> | { readonly capability: string }
  /**
   * A durable subscription keeps its place under this name: stopped and started again, it resumes
   * after the last event it acknowledged. Without a name the subscription lives as long as its scope.
   */
  readonly durable?: string
  /** Where a new subscription starts (a durable one that already exists ignores it). Default "new". */
  readonly startAt?: StartAt
  /** Milliseconds a delivery may take before it is delivered again. */
  readonly ackWait?: number
}

export interface LastPublished {
  readonly sequence: number
  readonly logPosition: string
}

export interface BusShape {
  /** Asks a query and waits for its reply. Not durable: with no worker listening it fails at once. */
  readonly request: <C extends Query>(
    contract: C,
    payload: PayloadOf<C>,
    options: CallOptions,
  ) => Effect.Effect<SuccessOf<C>, ErrorOf<C> | BusError>
  /** Sends a command durably and waits for its reply; the command outlives a worker that dies on it. */
  readonly send: <C extends Command>(
    contract: C,
    payload: PayloadOf<C>,
    options: SendOptions,
  ) => Effect.Effect<SuccessOf<C>, ErrorOf<C> | BusError>
  /** Handles commands and queries until the scope closes. */
  readonly serve: (options: ServeOptions) => Effect.Effect<void, BusError, Scope.Scope>
  /** Appends an event to the bus's event stream. Only the outbox relay publishes. */
  readonly publish: (event: OutgoingEvent) => Effect.Effect<PublishAck, BusError>
  /**
   * Appends events in order, as `publish` of each in turn would, without waiting for each
   * acknowledgement before sending the next. On failure the stream holds a prefix of them, in
   * order and without a gap: publish again from the last one the stream has (`lastPublished`).
   * With `afterSequence` (the sequence of the last event the caller knows the stream holds) none
   * is appended unless the stream still ends there: BusUnavailable when another got in first.
   */
  readonly publishAll: (
    events: ReadonlyArray<OutgoingEvent>,
    options?: { readonly afterSequence?: number | undefined },
  ) => Effect.Effect<ReadonlyArray<PublishAck>, BusError>
  /** The last event in the stream, so a relay that restarts knows what was already published. */
  readonly lastPublished: Effect.Effect<Option.Option<LastPublished>, BusError>
  /**
   * Delivers events to `handle` in stream order until the scope closes. An event is acknowledged
   * when `handle` succeeds and delivered again when it fails.
   */
  readonly subscribe: (
    options: SubscribeOptions,
    handle: (delivery: Delivery) => Effect.Effect<void, unknown>,
  ) => Effect.Effect<void, BusError, Scope.Scope>
  /**
   * Fire and forget: `data` reaches every listener of `topic` in every process connected now. Not
   * stored, not retried, and lost when nobody listens — for what is stale a moment later
   * (realtime broadcasts and presence between gateways). `topic` is letters, digits, `_` and `-`.
   */
  readonly signal: (topic: string, data: string) => Effect.Effect<void, BusError>
  /** Calls `onSignal` with each signal on `topic`, in the order sent by each sender, until the scope closes. */
  readonly listen: (
    topic: string,
    onSignal: (data: string) => void,
  ) => Effect.Effect<void, BusError, Scope.Scope>
  /** Succeeds when the bus can carry messages now. */
  readonly ping: Effect.Effect<void, BusError>
}

export class Bus extends Context.Service<Bus, BusShape>()("reactor/Bus") {}
