// How the NATS client's failures are recognised and told, so each becomes the right bus error.
import { JetStreamApiError } from "@nats-io/jetstream"
import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node"
import { Cause } from "effect"

export const describe = (error: unknown): string => {
  if (Cause.isCause(error)) return describe(Cause.squash(error))
  if (Cause.isUnknownError(error) && error.cause !== undefined) return describe(error.cause)
  if (error instanceof Error) return error.message
  return String(error)
}

/** Nobody listens on the subject: no worker for a query, no stream for a JetStream publish. */
export const isNoResponders = (error: unknown): boolean =>
  (error instanceof RequestError && error.isNoResponders()) ||
  error instanceof NoRespondersError ||
  // js.publish turns "no responders" into JetStreamNotEnabled, which the package does not export.
  (error instanceof Error && error.name === "JetStreamNotEnabled")

export const isTimeout = (error: unknown): boolean => error instanceof TimeoutError

export const isClosed = (error: unknown): boolean =>
  error instanceof ClosedConnectionError || error instanceof DrainingConnectionError

/** JetStream API error codes the bus reacts to. */
export const ApiCode = {
  streamNameInUse: 10058,
  consumerNotFound: 10014,
  streamNotFound: 10059,
} as const

export const apiCode = (error: unknown): number | undefined =>
  error instanceof JetStreamApiError ? error.code : undefined
