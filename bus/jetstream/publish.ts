// Publishes to a stream and waits for its acknowledgement. Messages carry an id the stream
// dedupes, so a publish whose fate is unknown (timeout, lost connection) is simply sent again.
import { JetStreamApiError, type PubAck } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import { Effect } from "effect"
import { BusUnavailable } from "../BusError.ts"
import type { Connection } from "./Connection.ts"
import { describe, isClosed, isNoResponders } from "./failures.ts"
import type { Streams } from "./Streams.ts"

export interface Publication {
  readonly stream: string
  readonly subject: string
  readonly data: Uint8Array
  readonly msgID: string
  readonly headers: MsgHdrs
}

/** Sends until the stream acknowledges or fails for good; the caller bounds it with a timeout. */
export const publish = Effect.fnUntraced(function* (
  conn: Connection,
  streams: Streams,
  publication: Publication,
): Effect.fn.Return<PubAck, BusUnavailable> {
  const { stream, subject, data, msgID, headers } = publication
  for (let attempt = 1; ; attempt++) {
    yield* conn.ready
    const result = yield* Effect.result(
      Effect.tryPromise({
        try: () => conn.js.publish(subject, data, { msgID, headers }),
        catch: (error) => error,
      }),
    )
    if (result._tag === "Success") return result.success
    const error = result.failure
    if (isNoResponders(error)) {
      streams.repair(stream)
      return yield* Effect.fail(
        new BusUnavailable({
          reason: `no stream captures ${subject}: ${stream} is missing; the bus recreates it`,
        }),
      )
    }
    if (isClosed(error))
      return yield* Effect.fail(new BusUnavailable({ reason: "the NATS connection is closed" }))
    if (error instanceof JetStreamApiError) {
      return yield* Effect.fail(
        new BusUnavailable({ reason: `${stream} refused ${subject}: ${describe(error)}` }),
      )
    }
    yield* Effect.logDebug(`publishing to ${subject} failed; sending again`).pipe(
      Effect.annotateLogs({ cause: describe(error), attempt }),
    )
    yield* Effect.sleep(Math.min(1_000, 100 * attempt))
  }
})
