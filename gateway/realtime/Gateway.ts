// What every connection and channel of one gateway shares: its ports, its limits, its hub and
// presence, and how a broadcast or a presence change leaves it.
import type { Effect } from "effect"
import type { Claims, InvalidJwt } from "../../platform/jwt/Jwt.ts"
import type { BroadcastHistory } from "./BroadcastHistory.ts"
import type { Hub } from "./Hub.ts"
import type { Presence, PresenceDiff } from "./Presence.ts"
import type { Payload, Vsn } from "./Serializer.ts"

export interface Limits {
  /** Largest frame a client may send; a larger one closes its socket (uWS). */
  readonly maxFrameBytes: number
  readonly maxChannelsPerSocket: number
  /** Bytes waiting to be written to one socket beyond which it is closed rather than buffered. */
  readonly maxBackpressureBytes: number
  /** Live changes held for one subscriber while its replay runs. */
  readonly replayBufferLimit: number
  /** A socket silent this long is closed; realtime-js sends a heartbeat every 25 s. */
  readonly idleTimeoutSeconds: number
  /** How often this gateway tells the others it is there (GatewayAlive). */
  readonly gatewayHeartbeatMs: number
  /** A gateway not heard from this long is taken for dead: its presences leave. */
  readonly gatewayExpiryMs: number
}

export const defaultLimits: Limits = {
  maxFrameBytes: 1024 * 1024,
  maxChannelsPerSocket: 100,
  maxBackpressureBytes: 4 * 1024 * 1024,
  replayBufferLimit: 10_000,
  idleTimeoutSeconds: 120,
  gatewayHeartbeatMs: 5_000,
  gatewayExpiryMs: 15_000,
}

/** May these claims read (join), write (broadcast to) or track their presence on a private channel? */
export type TopicAuthorizer = (
  subTopic: string,
  claims: Claims,
  action: "read" | "write" | "track",
) => Effect.Effect<boolean>

/** A broadcast as it travels: to this gateway's members and, through the relay, to the others'. */
export interface BroadcastMessage {
  /** `realtime:<name>`. */
  readonly topic: string
  readonly private: boolean
  readonly event: string
  readonly payload: Payload
  /** JSON object text, or "". */
  readonly meta: string
}

/** The socket a broadcast came from: skipped by the fan-out, sent a copy itself when `self`. */
export interface Sender {
  readonly publish: (uwsTopic: string, data: string | Uint8Array, binary: boolean) => void
  readonly send: (data: string | Uint8Array, binary: boolean) => void
  readonly vsn: Vsn
  readonly self: boolean
}

export interface Gateway {
  readonly id: string
  readonly limits: Limits
  readonly verifyJwt: (token: string) => Effect.Effect<Claims, InvalidJwt>
  readonly authorizeTopic: TopicAuthorizer
  readonly broadcastHistory: BroadcastHistory
  readonly hub: Hub
  readonly presence: Presence
  readonly broadcast: (message: BroadcastMessage, sender?: Sender) => void
  /** A local presence change: to local presence members, and to the other gateways. */
  readonly presenceChanged: (key: string, diff: PresenceDiff) => void
  /** Counts the local channels that follow presence on a topic (the first asks other gateways for theirs). */
  readonly followPresence: (key: string, follow: boolean) => void
}

/** Private and public channels of one name are different topics. */
export const topicKey = (topic: string, isPrivate: boolean) => (isPrivate ? `private|${topic}` : topic)
export const topicOfKey = (key: string) => (key.startsWith("private|") ? key.slice("private|".length) : key)

export const broadcastTopic = (vsn: Vsn, key: string) => `b:${vsn}:${key}`
export const presenceTopic = (vsn: Vsn, key: string) => `p:${vsn}:${key}`
export const vsns: ReadonlyArray<Vsn> = ["1.0.0", "2.0.0"]
