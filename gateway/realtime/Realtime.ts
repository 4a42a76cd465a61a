// Supabase Realtime on the gateway's uWS app: the `/realtime/v1/websocket` Phoenix socket, the REST
// broadcast routes, and the entry for row changes. Other gateways are reached through the relay.
import { randomBytes } from "node:crypto"
import { STATUS_CODES } from "node:http"
import type { HttpResponse, TemplatedApp, WebSocket } from "@trufflesuite/uws-js-unofficial"
import { Cause, Effect, Exit, type Scope } from "effect"
import type { Claims, InvalidJwt } from "../../platform/jwt/Jwt.ts"
import { QueryParams } from "../http/QueryParams.ts"
import type { Route } from "../Route.ts"
import * as BroadcastHistory from "./BroadcastHistory.ts"
import type { BroadcastRelay, RelayMessage } from "./BroadcastRelay.ts"
import type { ChangeAuthorizer } from "./ChangeAuthorizer.ts"
import type { ChangeHistory } from "./ChangeHistory.ts"
import { Connection, type SocketData } from "./Connection.ts"
import {
  type BroadcastMessage,
  broadcastTopic,
  defaultLimits,
  type Gateway,
  type Limits,
  presenceTopic,
  type Sender,
  type TopicAuthorizer,
  topicKey,
  topicOfKey,
  vsns,
} from "./Gateway.ts"
import { Hub } from "./Hub.ts"
import { isEmpty, Presence, type PresenceDiff } from "./Presence.ts"
import type { RowChange } from "./RowChange.ts"
import { broadcastRoutes } from "./routes.ts"
import { encode, encodeBroadcast, vsnOf } from "./Serializer.ts"

export interface RealtimeOptions {
  /** Checks the socket's apikey and the channels' access tokens. */
  readonly verifyJwt: (token: string) => Effect.Effect<Claims, InvalidJwt>
  readonly authorizer: ChangeAuthorizer
  readonly history: ChangeHistory
  readonly relay: BroadcastRelay
  readonly limits?: Partial<Limits>
  /**
   * Who may join (read) or broadcast to (write) a private channel. Without it only service_role
   * may, as on Supabase before any policy on realtime.messages exists.
   */
  readonly authorizeTopic?: TopicAuthorizer
  /** Broadcasts kept for `broadcast.replay` on private channels; none without it. */
  readonly broadcastHistory?: BroadcastHistory.BroadcastHistory
}

export interface Realtime {
  /** Registers the WebSocket route; the function it returns closes every socket normally (drain). */
  readonly attach: (app: TemplatedApp) => () => void
  /** The REST broadcast routes, for the server's route list. */
  readonly routes: ReadonlyArray<Route>
  /** Delivers row changes, in order; resolves once they are handed to the sockets. */
  readonly publishChanges: (changes: ReadonlyArray<RowChange>) => Effect.Effect<void>
  /**
   * A broadcast every gateway learns of by itself (one SQL sent, from the log): to this
   * gateway's members only, not through the relay.
   */
  readonly deliverBroadcast: (message: BroadcastMessage) => Effect.Effect<void>
  /** Who may see what changed (new policies or grants): every subscriber's audiences are decided again. */
  readonly reauthorize: Effect.Effect<void>
  readonly sockets: () => number
  /** Closes every socket normally and tells other gateways this one's presences are gone. */
  readonly close: Effect.Effect<void>
}

const serviceRoleOnly: TopicAuthorizer = (_topic, claims) => Effect.succeed(claims.role === "service_role")

const base64ToBytes = (text: string) => new Uint8Array(Buffer.from(text, "base64"))
const bytesToBase64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

export const make = Effect.fnUntraced(function* (
  options: RealtimeOptions,
): Effect.fn.Return<Realtime, never, Scope.Scope> {
  const limits: Limits = { ...defaultLimits, ...options.limits }
  const id = randomBytes(6).toString("base64url")
  const authorizeTopic = options.authorizeTopic ?? serviceRoleOnly
  const connections = new Set<Connection>()
  const following = new Map<string, number>()
  let app: TemplatedApp | undefined
  let closing = false

  const publishRelay = (message: RelayMessage) => Effect.runFork(options.relay.publish(message))

  /** To this gateway's members of the topic, in each one's serializer, skipping the sender. */
  const deliver = (message: BroadcastMessage, sender?: Sender) => {
    const key = topicKey(message.topic, message.private)
    for (const vsn of vsns) {
      const uwsTopic = broadcastTopic(vsn, key)
      if (app === undefined || app.numSubscribers(uwsTopic) === 0) continue
      const { data, binary } = encodeBroadcast(
        vsn,
        message.topic,
        message.event,
        message.payload,
        message.meta,
      )
      if (sender === undefined) app.publish(uwsTopic, data, binary)
      else sender.publish(uwsTopic, data, binary)
    }
    if (sender?.self === true) {
      const { data, binary } = encodeBroadcast(
        sender.vsn,
        message.topic,
        message.event,
        message.payload,
        message.meta,
      )
      sender.send(data, binary)
    }
  }

  const broadcast = (message: BroadcastMessage, sender?: Sender) => {
    deliver(message, sender)
    publishRelay({
      _tag: "Broadcast",
      origin: id,
      topic: message.topic,
      private: message.private,
      event: message.event,
      payload:
        "json" in message.payload ? message.payload : { base64: bytesToBase64(message.payload.binary) },
      meta: message.meta,
    })
  }

  const deliverPresence = (key: string, diff: PresenceDiff) => {
    if (isEmpty(diff)) return
    for (const vsn of vsns) {
      const uwsTopic = presenceTopic(vsn, key)
      if (app === undefined || app.numSubscribers(uwsTopic) === 0) continue
      app.publish(
        uwsTopic,
        encode(vsn, {
          joinRef: null,
          ref: null,
          topic: topicOfKey(key),
          event: "presence_diff",
          payload: diff,
        }),
        false,
      )
    }
  }

  const presence = new Presence(id)
  const hub = new Hub({
    authorizer: options.authorizer,
    history: options.history,
    publish: (uwsTopic, text) => app?.publish(uwsTopic, text, false),
    replayBufferLimit: limits.replayBufferLimit,
  })

  const gateway: Gateway = {
    id,
    limits,
    verifyJwt: options.verifyJwt,
    authorizeTopic,
    broadcastHistory: options.broadcastHistory ?? BroadcastHistory.none,
    hub,
    presence,
    broadcast,
    presenceChanged: (key, diff) => {
      if (isEmpty(diff)) return
      deliverPresence(key, diff)
      publishRelay({ _tag: "PresenceDiff", origin: id, topic: key, joins: diff.joins, leaves: diff.leaves })
    },
    followPresence: (key, follow) => {
      const count = (following.get(key) ?? 0) + (follow ? 1 : -1)
      if (count > 0) following.set(key, count)
      else {
        following.delete(key)
        presence.forgetRemote(key)
      }
      if (follow && count === 1) publishRelay({ _tag: "PresenceSync", origin: id, topic: key })
    },
  }

  // When each other gateway was last heard from. One heard again after it was taken for dead
  // (a network split, a stall) is asked for its presences on the topics followed here.
  const heard = new Map<string, number>()
  const expired = new Set<string>()
  const hear = (origin: string) => {
    heard.set(origin, Date.now())
    if (!expired.delete(origin)) return
    for (const topic of following.keys()) publishRelay({ _tag: "PresenceSync", origin: id, topic })
  }
  const expire = () => {
    const before = Date.now() - limits.gatewayExpiryMs
    for (const [origin, at] of heard) {
      if (at >= before) continue
      heard.delete(origin)
      expired.add(origin)
      for (const { topic, diff } of presence.dropRemote(origin)) deliverPresence(topic, diff)
    }
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const timer = setInterval(() => {
        publishRelay({ _tag: "GatewayAlive", origin: id })
        expire()
      }, limits.gatewayHeartbeatMs)
      timer.unref()
      return timer
    }),
    (timer) => Effect.sync(() => clearInterval(timer)),
  )

  const onRelay = (message: RelayMessage) => {
    if (message.origin === id) return
    if (message._tag === "GatewayGone") {
      heard.delete(message.origin)
      expired.delete(message.origin)
    } else hear(message.origin)
    switch (message._tag) {
      case "Broadcast":
        return deliver({
          topic: message.topic,
          private: message.private,
          event: message.event,
          payload:
            "json" in message.payload ? message.payload : { binary: base64ToBytes(message.payload.base64) },
          meta: message.meta,
        })
      case "PresenceDiff":
        if (!following.has(message.topic)) return
        return deliverPresence(message.topic, presence.applyRemote(message.topic, message.origin, message))
      case "PresenceSync": {
        const state = presence.localState(message.topic)
        if (Object.keys(state).length > 0)
          publishRelay({ _tag: "PresenceState", origin: id, topic: message.topic, state })
        return
      }
      case "PresenceState":
        if (!following.has(message.topic)) return
        return deliverPresence(
          message.topic,
          presence.replaceRemote(message.topic, message.origin, message.state),
        )
      case "GatewayGone":
        for (const { topic, diff } of presence.dropRemote(message.origin)) deliverPresence(topic, diff)
    }
  }
  yield* options.relay.subscribe(onRelay)

  const endAll = () => {
    closing = true
    for (const connection of [...connections]) connection.end(1000, "server shutting down")
  }

  const attach = (target: TemplatedApp) => {
    app = target
    target.ws<SocketData>("/realtime/v1/websocket", {
      maxPayloadLength: limits.maxFrameBytes,
      idleTimeout: limits.idleTimeoutSeconds,
      maxBackpressure: limits.maxBackpressureBytes,
      // Typed as a number, read as a flag: a subscriber past maxBackpressure is closed, not skipped.
      closeOnBackpressureLimit: 1,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        const query = new QueryParams(req.getQuery() ?? "")
        const key = req.getHeader("sec-websocket-key")
        const protocol = req.getHeader("sec-websocket-protocol")
        const extensions = req.getHeader("sec-websocket-extensions")
        const apikey = query.get("apikey") || req.getHeader("x-api-key") || req.getHeader("apikey")
        const vsn = vsnOf(query.get("vsn"))
        if (closing) return reject(res, 503, "Server is shutting down", false)
        if (vsn === undefined) return reject(res, 400, "Unsupported serializer version", false)
        if (!apikey) return reject(res, 401, "No API key found in request", false)
        let aborted = false
        res.onAborted(() => {
          aborted = true
        })
        Effect.runPromiseExit(options.verifyJwt(apikey)).then((exit) => {
          if (aborted) return
          if (Exit.isFailure(exit)) {
            const failure = Cause.findErrorOption(exit.cause)
            const reason = failure._tag === "Some" ? failure.value.reason : "invalid token"
            return reject(res, 401, `Invalid API key: ${reason}`, true)
          }
          res.cork(() =>
            res.upgrade<SocketData>({ vsn, claims: exit.value }, key, protocol, extensions, context),
          )
        })
      },
      open: (ws: WebSocket<SocketData>) => {
        const data = ws.getUserData()
        const connection = new Connection(ws, data.vsn, data.claims, gateway)
        data.connection = connection
        connections.add(connection)
      },
      message: (ws, message, isBinary) => ws.getUserData().connection?.receive(message, isBinary),
      close: (ws) => {
        const connection = ws.getUserData().connection
        if (connection === undefined) return
        connections.delete(connection)
        connection.closedByPeer()
      },
    })
    return endAll
  }

  let closed = false
  const close = Effect.suspend(() => {
    if (closed) return Effect.void
    closed = true
    endAll()
    return options.relay.publish({ _tag: "GatewayGone", origin: id })
  })
  yield* Effect.addFinalizer(() => close)

  return {
    attach,
    routes: broadcastRoutes({
      verifyJwt: options.verifyJwt,
      authorizeTopic,
      broadcast: (m) => broadcast(m),
    }),
    publishChanges: (changes) => hub.publishChanges(changes),
    deliverBroadcast: (message) => Effect.sync(() => deliver(message)),
    reauthorize: Effect.sync(() => hub.reauthorizeAll()),
    sockets: () => connections.size,
    close,
  } satisfies Realtime
})

/** Refuses an upgrade with Supabase's `{"error": ...}` body. */
const reject = (res: HttpResponse, status: number, error: string, later: boolean) => {
  const write = () =>
    res
      .writeStatus(`${status} ${STATUS_CODES[status] ?? ""}`)
      .writeHeader("content-type", "application/json")
      .end(JSON.stringify({ error }))
  if (later) res.cork(write)
  else write()
}
