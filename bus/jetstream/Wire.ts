// What payloads and replies look like on NATS: Avro bytes from the contract's codecs, and for a
// reply an outcome header naming which codec wrote the body (`ok`, an error tag, or the bus's own).
import { randomUUID } from "node:crypto"
import { headers, type MsgHdrs } from "@nats-io/transport-node"
import { Cause, Effect, Exit } from "effect"
import * as Codec from "../../contracts/avro/Codec.ts"
import type { AnyRpc } from "../../contracts/Contract.ts"
import { commonErrors, InternalError } from "../../contracts/errors.ts"
import { BusProtocolError, BusUnavailable } from "../BusError.ts"
import { describe } from "./failures.ts"
import { Header, read } from "./Headers.ts"

export interface Frame {
  readonly headers: MsgHdrs
  readonly data: Uint8Array
}

/** A message as the reply reader needs it: a live reply or one read back from the REPLIES stream. */
export interface Incoming {
  readonly headers?: MsgHdrs | undefined
  readonly data: Uint8Array
}

const ok = "ok"
/** The worker could not decode what it was sent: the two sides disagree on the contract. */
const malformed = "bus-malformed"
/** The worker stopped while handling the message. */
const stopped = "bus-stopped"
/** A command handed straight to a worker that had no room for it (or no handler): it never ran. */
const declined = "bus-declined"
/** A command handed straight to a worker that did not finish it (it died or stopped): it may have run. */
const unfinished = "bus-unfinished"

const commonCodecs: ReadonlyMap<string, Codec.Codec<unknown>> = new Map(
  commonErrors.map((schema) => [Codec.tagOf(schema), Codec.errorCodec(schema)] as const),
)

// A handler may fail with a common error its contract does not list (InternalError above all).
const errorCodec = (contract: AnyRpc, tag: string) =>
  Codec.rpc(contract).errors.get(tag) ?? commonCodecs.get(tag)

const frame = (outcome: string, data: Uint8Array): Frame => {
  const h = headers()
  h.set(Header.outcome, outcome)
  return { headers: h, data }
}

export const encodePayload = (
  contract: AnyRpc,
  payload: unknown,
): Effect.Effect<Uint8Array, BusProtocolError> =>
  Effect.try({
    try: () => Codec.rpc(contract).payload.encode(payload),
    catch: (error) =>
      new BusProtocolError({ subject: contract.subject, reason: `payload does not fit: ${describe(error)}` }),
  })

export const decodePayload = (contract: AnyRpc, data: Uint8Array): Effect.Effect<unknown, BusProtocolError> =>
  Effect.try({
    try: () => Codec.rpc(contract).payload.decode(data),
    catch: (error) =>
      new BusProtocolError({
        subject: contract.subject,
        reason: `cannot decode payload: ${describe(error)}`,
      }),
  })

// A frame, or why the answer cannot be encoded.
const encodeAnswer = (contract: AnyRpc, answer: Exit.Exit<unknown, unknown>): Frame | string => {
  try {
    if (Exit.isSuccess(answer)) return frame(ok, Codec.rpc(contract).success.encode(answer.value))
    const error = Cause.findErrorOption(answer.cause)
    if (error._tag === "None") return Cause.pretty(answer.cause)
    const tag = (error.value as { readonly _tag?: unknown })._tag
    const codec = typeof tag === "string" ? errorCodec(contract, tag) : undefined
    if (codec === undefined) return `no codec for the error ${String(tag)}`
    return frame(tag as string, codec.encode(error.value))
  } catch (cause) {
    return describe(cause)
  }
}

/** The reply to a handler's answer: its success value or contract error, as the caller will decode it. */
export const replyFrame = (contract: AnyRpc, answer: Exit.Exit<unknown, unknown>): Effect.Effect<Frame> =>
  Effect.suspend(() => {
    const encoded = encodeAnswer(contract, answer)
    if (typeof encoded !== "string") return Effect.succeed(encoded)
    // The handler answered with a value its contract does not allow: a bug in the handler.
    const incident = new InternalError({ incident: randomUUID() })
    return Effect.logError(`${contract.subject} replied with a value that does not fit its contract`).pipe(
      Effect.annotateLogs({ incident: incident.incident, cause: encoded }),
      Effect.as(frame(incident._tag, commonCodecs.get(incident._tag)!.encode(incident))),
    )
  })

export const malformedFrame = (why: BusProtocolError): Frame =>
  frame(malformed, new TextEncoder().encode(why.reason))

export const stoppedFrame = (): Frame => frame(stopped, new Uint8Array())

export const declinedFrame = (): Frame => frame(declined, new Uint8Array())

export const unfinishedFrame = (): Frame => frame(unfinished, new Uint8Array())

/** How a worker answered a command handed to it: with the handler's answer, or not at all. */
export const handedBack = (message: Incoming): "declined" | "unfinished" | undefined => {
  const outcome = read(message.headers, Header.outcome)
  return outcome === declined ? "declined" : outcome === unfinished ? "unfinished" : undefined
}

/** Turns a reply back into the handler's answer: its success value, its contract error, or a bus error. */
export const readReply = (contract: AnyRpc, message: Incoming): Effect.Effect<unknown, unknown> => {
  const subject = contract.subject
  const outcome = read(message.headers, Header.outcome)
  const decode = (codec: Codec.Codec<unknown>) =>
    Effect.try({
      try: () => codec.decode(message.data),
      catch: (error) =>
        new BusProtocolError({ subject, reason: `cannot decode the reply: ${describe(error)}` }),
    })
  switch (outcome) {
    case ok:
      return decode(Codec.rpc(contract).success)
    case malformed:
      return Effect.fail(new BusProtocolError({ subject, reason: new TextDecoder().decode(message.data) }))
    case stopped:
      return Effect.fail(new BusUnavailable({ reason: `the worker serving ${subject} stopped` }))
    case undefined:
      return Effect.fail(new BusProtocolError({ subject, reason: "the reply has no outcome" }))
    default: {
      const codec = errorCodec(contract, outcome)
      if (codec === undefined) {
        return Effect.fail(
          new BusProtocolError({ subject, reason: `the reply's outcome ${outcome} is unknown` }),
        )
      }
      return Effect.flatMap(decode(codec), Effect.fail)
    }
  }
}
