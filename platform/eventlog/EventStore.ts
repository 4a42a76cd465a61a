// Appending to and reading from the event log (reactor.events) inside a transaction.
import { randomUUID } from "node:crypto"
import { Data, Effect, Schema } from "effect"
import type { Meta } from "../../bus/Bus.ts"
import type { Event, PayloadOf } from "../../contracts/Contract.ts"
import { catalogues } from "../../contracts/index.ts"
import type { PgError, Tx } from "../postgres/Postgres.ts"
import { format, type LogCursor } from "./LogCursor.ts"

/** Someone else appended to the stream since it was read: decide again on fresh state. */
export class ConcurrencyConflict extends Data.TaggedError("ConcurrencyConflict")<{
  readonly streamId: string
  readonly expectedVersion: number
}> {}

/** The log holds an event this code does not know: written by a newer Reactor, or removed. */
export class UnknownEvent extends Data.TaggedError("UnknownEvent")<{
  readonly type: string
  readonly version: number
}> {}

export interface NewEvent<E extends Event = Event> {
  readonly contract: E
  readonly payload: PayloadOf<E>
}

/** Pairs an event contract with its payload, checking the payload's type against the contract. */
export const newEvent = <E extends Event>(contract: E, payload: PayloadOf<E>): NewEvent =>
  ({ contract, payload }) as NewEvent

export interface StoredEvent {
  readonly position: bigint
  readonly transactionId: bigint
  readonly streamId: string
  readonly streamVersion: number
  readonly eventId: string
  readonly contract: Event
  readonly payload: unknown
  readonly meta: Meta
  readonly recordedAt: Date
}

export const cursorOf = (event: StoredEvent): LogCursor => ({
  transactionId: event.transactionId,
  position: event.position,
})
export const logPositionOf = (event: StoredEvent): string => format(cursorOf(event))

const registry = new Map<string, Event>(
  catalogues.flatMap((c) => c.events.map((e) => [e.type, e as Event] as const)),
)

/** The contract for a stored type, so tests and future capabilities can add their own events. */
export const register = (events: ReadonlyArray<Event>) => {
  for (const event of events) registry.set(event.type, event)
}

type Codec = Schema.Codec<unknown, unknown, never, never>

export interface EventRow {
  readonly position: string
  readonly transaction_id: string
  readonly stream_id: string
  readonly stream_version: number
  readonly event_id: string
  readonly type: string
  readonly version: number
  readonly data: unknown
  readonly metadata: Meta
  readonly recorded_at: Date
}

/**
 * Selects transaction_id as text (a bigint overflows JS numbers), under its own name: so ORDER BY
 * must name events.transaction_id, or it sorts the text ("1000" before "997").
 */
export const eventColumns =
  "position, transaction_id::text, stream_id, stream_version, event_id, type, version, data, metadata, recorded_at"

/**
 * Decodes a row with the current contract. An older version's JSON decodes with the current
 * schema because versions only add fields with decoding defaults (see docs/architecture.md).
 */
export const decodeRow = (row: EventRow): Effect.Effect<StoredEvent, UnknownEvent> => {
  const contract = registry.get(row.type)
  if (contract === undefined || row.version > contract.version) {
    return Effect.fail(new UnknownEvent({ type: row.type, version: row.version }))
  }
  return Schema.decodeUnknownEffect(contract.payload as unknown as Codec)(row.data).pipe(
    Effect.mapError(() => new UnknownEvent({ type: row.type, version: row.version })),
    Effect.map((payload) => ({
      position: BigInt(row.position),
      transactionId: BigInt(row.transaction_id),
      streamId: row.stream_id,
      streamVersion: row.stream_version,
      eventId: row.event_id,
      contract,
      payload,
      // Changes captured from plain SQL carry no request: their event id stands in for it.
      meta:
        typeof row.metadata.requestId === "string"
          ? row.metadata
          : { ...row.metadata, requestId: row.event_id },
      recordedAt: row.recorded_at,
    })),
  )
}

const insertEvents = {
  name: "reactor.append",
  text: `insert into reactor.events (stream_id, stream_version, event_id, type, version, data, metadata)
         select $1, v, e, t, n, d, $7::jsonb
         from unnest($2::int[], $3::uuid[], $4::text[], $5::int[], $6::jsonb[]) as x(v, e, t, n, d)`,
}

/**
 * Appends events to a stream whose current version the caller read as `expectedVersion`
 * (0 for a new stream). Fails with ConcurrencyConflict when another transaction got there first.
 */
export const append = (
  tx: Tx,
  streamId: string,
  expectedVersion: number,
  events: ReadonlyArray<NewEvent>,
  meta: Meta & { readonly idempotencyKey?: string; readonly causation?: string },
): Effect.Effect<void, ConcurrencyConflict | PgError> => {
  if (events.length === 0) return Effect.void
  return Effect.suspend(() => {
    const encoded = events.map((e) =>
      JSON.stringify(Schema.encodeSync(e.contract.payload as unknown as Codec)(e.payload)),
    )
    return tx.query({
      ...insertEvents,
      values: [
        streamId,
        events.map((_, i) => expectedVersion + i + 1),
        events.map(() => randomUUID()),
        events.map((e) => e.contract.type),
        events.map((e) => e.contract.version),
        encoded,
        JSON.stringify(meta),
      ],
    })
  }).pipe(
    Effect.catchTag(
      "PgError",
      (error): Effect.Effect<never, ConcurrencyConflict | PgError> =>
        error.code === "23505" && error.constraint === "events_stream_version_key"
          ? Effect.fail(new ConcurrencyConflict({ streamId, expectedVersion }))
          : Effect.fail(error),
    ),
    Effect.asVoid,
  )
}

/** The stream's events in version order; its version is the last one's (0 when empty). */
export const readStream = (
  tx: Tx,
  streamId: string,
): Effect.Effect<
  { readonly version: number; readonly events: ReadonlyArray<StoredEvent> },
  PgError | UnknownEvent
> =>
  tx
    .query<EventRow>({
      name: "reactor.read-stream",
      text: `select ${eventColumns} from reactor.events where stream_id = $1 order by stream_version`,
      values: [streamId],
    })
    .pipe(
      Effect.flatMap(({ rows }) => Effect.forEach(rows, decodeRow)),
      Effect.map((events) => ({ version: events.at(-1)?.streamVersion ?? 0, events })),
    )

/** Just the stream's current version, for commands that decide on a projection instead. */
export const streamVersion = (tx: Tx, streamId: string): Effect.Effect<number, PgError> =>
  tx
    .query<{ version: number | null }>({
      name: "reactor.stream-version",
      text: "select max(stream_version) as version from reactor.events where stream_id = $1",
      values: [streamId],
    })
    .pipe(Effect.map(({ rows }) => rows[0]?.version ?? 0))
