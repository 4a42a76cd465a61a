// Failures of the bus itself, as opposed to a handler's reply. The gateway renders them
// (504, 503) beside the contract errors.
import { Data } from "effect"

/** No reply arrived in time. A command may still be applied later; resend it with the same key. */
export class BusTimeout extends Data.TaggedError("BusTimeout")<{
  readonly subject: string
  readonly afterMs: number
}> {}

/** This process already waits on as many replies as it may; the caller should back off. */
export class BusOverloaded extends Data.TaggedError("BusOverloaded")<{
  readonly pending: number
}> {}

/** The bus cannot carry the message now: not connected, or no worker serves the subject. */
export class BusUnavailable extends Data.TaggedError("BusUnavailable")<{
  readonly reason: string
}> {}

/** A message arrived that this process cannot decode: a contract mismatch between processes. */
export class BusProtocolError extends Data.TaggedError("BusProtocolError")<{
  readonly subject: string
  readonly reason: string
}> {}

export type BusError = BusTimeout | BusOverloaded | BusUnavailable | BusProtocolError
