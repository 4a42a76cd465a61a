// Port: carries broadcasts and presence between gateways, so members of one topic connected to
// different gateways see each other. Messages are plain JSON; every gateway receives every
// message, its own included (it skips those by their origin).
import { Effect, type Scope } from "effect"

/** Presence as Phoenix shapes it: per key, the metas of every tracked connection. */
export type PresenceMap = Readonly<Record<string, { readonly metas: ReadonlyArray<PresenceMeta> }>>
export type PresenceMeta = Readonly<Record<string, unknown>> & { readonly phx_ref: string }

export type RelayMessage =
  | {
      readonly _tag: "Broadcast"
      /** The gateway that published it. */
      readonly origin: string
      /** `realtime:<name>`. */
      readonly topic: string
      readonly private: boolean
      readonly event: string
      /** JSON text, or raw bytes in base64. */
      readonly payload: { readonly json: string } | { readonly base64: string }
      /** JSON object text, or "". */
      readonly meta: string
    }
  | {
      readonly _tag: "PresenceDiff"
      readonly origin: string
      /** The topic's key: `realtime:<name>`, prefixed `private|` for private channels. */
      readonly topic: string
      readonly joins: PresenceMap
      readonly leaves: PresenceMap
    }
  | {
      /** A gateway that got its first member on a topic asks the others for their presences there. */
      readonly _tag: "PresenceSync"
      readonly origin: string
      readonly topic: string
    }
  | {
      /** A gateway's whole presence on a topic: the answer to PresenceSync. */
      readonly _tag: "PresenceState"
      readonly origin: string
      readonly topic: string
      readonly state: PresenceMap
    }
  | {
      /** A gateway shuts down: its presences leave everywhere. */
      readonly _tag: "GatewayGone"
      readonly origin: string
    }
  | {
      /**
       * A gateway is still there, said every `gatewayHeartbeatMs`: one not heard from for
       * `gatewayExpiryMs` (it died without a GatewayGone) has its presences dropped.
       */
      readonly _tag: "GatewayAlive"
      readonly origin: string
    }

export interface BroadcastRelay {
  readonly publish: (message: RelayMessage) => Effect.Effect<void>
  /** Delivers every message to `onMessage` until the scope closes. */
  readonly subscribe: (onMessage: (message: RelayMessage) => void) => Effect.Effect<void, never, Scope.Scope>
}

/** One process, several gateways (tests): a message reaches every subscriber on a later tick. */
export const memory = (): BroadcastRelay => {
  const subscribers = new Set<(message: RelayMessage) => void>()
  return {
    publish: (message) =>
      Effect.sync(() => {
        // A copy through JSON, as a real bus would deliver it.
        const text = JSON.stringify(message)
        for (const subscriber of subscribers) queueMicrotask(() => subscriber(JSON.parse(text)))
      }),
    subscribe: (onMessage) =>
      Effect.acquireRelease(
        Effect.sync(() => subscribers.add(onMessage)),
        () => Effect.sync(() => subscribers.delete(onMessage)),
      ).pipe(Effect.asVoid),
  }
}

/** A single gateway: nothing to relay. */
export const local: BroadcastRelay = {
  publish: () => Effect.void,
  subscribe: () => Effect.void,
}
