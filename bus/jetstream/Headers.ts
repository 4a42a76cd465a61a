// The headers Reactor puts on NATS messages. Lookups are case-sensitive, so every name is lower case.
import { headers, type MsgHdrs } from "@nats-io/transport-node"
import type { Meta } from "../Bus.ts"

export const Header = {
  requestId: "reactor-request-id",
  traceparent: "traceparent",
  idempotencyKey: "reactor-idempotency-key",
  /** "1" when the sender chose the idempotency key; absent when the bus made it. */
  keyFromSender: "reactor-key-from-sender",
  /** Attempts at a command before it went to the stream, which the stream's delivery count leaves out. */
  earlierAttempts: "reactor-earlier-attempts",
  /** Where a command's worker publishes the reply. */
  replyTo: "reactor-reply-to",
  /** `ok`, an error tag, or one of the bus's own outcomes (see Wire). */
  outcome: "reactor-outcome",
  type: "reactor-type",
  version: "reactor-version",
  position: "reactor-position",
  eventId: "reactor-event-id",
} as const

export const withMeta = (meta: Meta, into: MsgHdrs = headers()): MsgHdrs => {
  into.set(Header.requestId, meta.requestId)
  if (meta.traceparent !== undefined) into.set(Header.traceparent, meta.traceparent)
  return into
}

export const readMeta = (from: MsgHdrs | undefined): Meta => {
  const traceparent = from?.get(Header.traceparent) ?? ""
  const requestId = from?.get(Header.requestId) ?? ""
  return traceparent === "" ? { requestId } : { requestId, traceparent }
}

/** A header's value, or undefined when it is missing or empty. */
export const read = (from: MsgHdrs | undefined, name: string): string | undefined => {
  const value = from?.get(name)
  return value === undefined || value === "" ? undefined : value
}
