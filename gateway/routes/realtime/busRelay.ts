// Broadcasts and presence between gateways, over the bus's signals: stale a moment later, so
// neither stored nor retried.
import { Effect } from "effect"
import type { BusShape } from "../../../bus/Bus.ts"
import type { BroadcastRelay, RelayMessage } from "../../realtime/BroadcastRelay.ts"

const topic = "realtime"

export const busRelay = (bus: BusShape): BroadcastRelay => ({
  publish: (message) =>
    bus.signal(topic, JSON.stringify(message)).pipe(
      // A lost broadcast is what a broadcast may be; the sender is not failed for it.
      Effect.catch((error) => Effect.logWarning(`realtime relay: ${error._tag}`)),
    ),
  subscribe: (onMessage) =>
    bus
      .listen(topic, (data) => {
        let message: RelayMessage
        try {
          message = JSON.parse(data) as RelayMessage
        } catch {
          return
        }
        onMessage(message)
      })
      .pipe(Effect.orDie),
})
