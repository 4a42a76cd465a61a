// One joined topic on one socket: its config, the claims it acts with (re-checked when the client
// sends a new token, and ended when they expire), its broadcasts, presence and change bindings.
import { randomUUID } from "node:crypto"
import { Cause, Effect, Exit } from "effect"
import type { Claims, InvalidJwt } from "../../platform/jwt/Jwt.ts"
import { type Binding, InvalidBinding, parseBindings } from "./bindings.ts"
import type { Connection } from "./Connection.ts"
import { broadcastTopic, type Gateway, presenceTopic, topicKey } from "./Gateway.ts"
import type { Subscriber } from "./Hub.ts"
import { encodeBroadcast, type Frame, type Payload } from "./Serializer.ts"

type Json = Readonly<Record<string, unknown>>

const objectOf = (value: unknown): Json =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {}

/** The seconds since a token's exp, read without verifying (it failed verification already). */
const expiredSecondsAgo = (token: string): number | undefined => {
  try {
    const exp = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")).exp
    return typeof exp === "number" ? Math.max(0, Math.floor(Date.now() / 1000 - exp)) : undefined
  } catch {
    return undefined
  }
}

/** Supabase's words for a token it refuses. */
const tokenProblem = (token: string, reason: string): string => {
  const ago = reason.includes("expired") ? expiredSecondsAgo(token) : undefined
  return ago === undefined
    ? `The token provided is invalid: ${reason}`
    : `Token has expired ${ago} seconds ago`
}

/** Why a token failed verification, in GoTrue's words. */
const reasonOf = (exit: Exit.Failure<unknown, InvalidJwt>): string => {
  const failure = Cause.findErrorOption(exit.cause)
  return failure._tag === "Some" ? failure.value.reason : "invalid token"
}

/** A client token, or the socket's apikey when it sent none (Supabase ignores `sb_` keys here). */
const usable = (token: unknown): token is string =>
  typeof token === "string" && token !== "" && !token.startsWith("sb_")

const maxTimer = 2 ** 31 - 1

/** Supabase's most replayed messages per join. */
const maxReplay = 25

const replayOf = (
  raw: unknown,
): { readonly since: number; readonly limit: number } | undefined | "invalid" => {
  if (raw === undefined || raw === null) return undefined
  const replay = objectOf(raw)
  const since = replay["since"]
  const limit = replay["limit"] ?? maxReplay
  if (typeof since !== "number" || !Number.isFinite(since)) return "invalid"
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > maxReplay)
    return "invalid"
  return { since, limit }
}

export class Channel {
  private timer: ReturnType<typeof setTimeout> | undefined
  private subscriber: Subscriber | undefined
  private writable: boolean | undefined
  private trackable: boolean | undefined
  /** The client's broadcasts and presence changes, handled one after another as sent. */
  private queue: Promise<void> = Promise.resolve()
  private closed = false
  readonly key: string
  readonly subTopic: string
  private readonly tracker = randomUUID()

  private constructor(
    private readonly connection: Connection,
    private readonly gateway: Gateway,
    readonly topic: string,
    readonly joinRef: string | null,
    private readonly isPrivate: boolean,
    private readonly self: boolean,
    private readonly ack: boolean,
    private readonly presenceKey: string,
    private readonly presenceEnabled: boolean,
    private claims: Claims,
  ) {
    this.key = topicKey(topic, isPrivate)
    this.subTopic = topic.replace(/^realtime:/, "")
  }

  /** Answers a phx_join: checks the token and config, then starts broadcasts, presence and changes. */
  static async join(connection: Connection, gateway: Gateway, frame: Frame): Promise<void> {
    const payload = objectOf(frame.payload)
    const config = objectOf(payload["config"])
    const broadcast = objectOf(config["broadcast"])
    const presence = objectOf(config["presence"])
    const isPrivate = config["private"] === true
    const subTopic = frame.topic.replace(/^realtime:/, "")
    const refuse = (reason: string) => connection.reply(frame, "error", { reason })

    let bindings: ReadonlyArray<Binding>
    try {
      bindings = parseBindings(config["postgres_changes"])
    } catch (error) {
      if (error instanceof InvalidBinding) return refuse(`InvalidPostgresChanges: ${error.message}`)
      throw error
    }
    // realtime-js rebuilds `config` on subscribe, so a top-level key is what a client can set
    // (channel.updateJoinPayload); `config` is read too, for clients that build the join themselves.
    const sinceRaw =
      payload["postgres_changes_since"] !== undefined
        ? payload["postgres_changes_since"]
        : config["postgres_changes_since"]
    if (sinceRaw !== undefined && sinceRaw !== null && typeof sinceRaw !== "string")
      return refuse("InvalidPostgresChanges: postgres_changes_since must be a position string or null")

    const replay = replayOf(broadcast["replay"])
    if (replay === "invalid")
      return refuse("InvalidReplay: broadcast.replay must be {since: milliseconds, limit?: 1 to 25}")

    const token = payload["access_token"]
    let claims = connection.apiKeyClaims
    if (usable(token)) {
      const verified = await Effect.runPromiseExit(gateway.verifyJwt(token))
      if (Exit.isFailure(verified))
        return refuse(`InvalidJWTToken: ${tokenProblem(token, reasonOf(verified))}`)
      claims = verified.value
    }
    if (isPrivate && !(await Effect.runPromise(gateway.authorizeTopic(subTopic, claims, "read"))))
      return refuse(`Unauthorized: You do not have permissions to read from this Channel topic: ${subTopic}`)

    // A second join of a topic replaces the first, as Phoenix does.
    connection.channels.get(frame.topic)?.close()
    if (connection.channels.size >= gateway.limits.maxChannelsPerSocket)
      return refuse("ChannelRateLimitReached: Too many channels")
    if (connection.closed) return

    const presenceKey =
      typeof presence["key"] === "string" && presence["key"] !== "" ? presence["key"] : randomUUID()
    const channel = new Channel(
      connection,
      gateway,
      frame.topic,
      frame.joinRef ?? frame.ref,
      isPrivate,
      broadcast["self"] === true,
      broadcast["ack"] === true,
      presenceKey,
      presence["enabled"] === true,
      claims,
    )
    connection.channels.set(frame.topic, channel)
    channel.start(frame, bindings, sinceRaw as string | null | undefined)
    // Changes are captured in the writing transaction and followed from the log: a joined channel
    // receives every change committed from now on, so the answer to `replication_ready` is at once.
    if (broadcast["replication_ready"] === true)
      channel.push("system", {
        extension: "system",
        status: "ok",
        message: "Replication connection established",
        channel: subTopic,
      })
    // Supabase replays only on private channels: what a public one was sent is not kept for it.
    if (replay !== undefined && isPrivate) await channel.replay(replay)
  }

  /** Sends this member the kept broadcasts it asked for, marked `replayed`, before what comes live. */
  private async replay(replay: { readonly since: number; readonly limit: number }): Promise<void> {
    const kept = await Effect.runPromise(
      this.gateway.broadcastHistory.since(this.subTopic, this.isPrivate, replay.since, replay.limit),
    )
    if (this.closed) return
    for (const message of kept) {
      const { data, binary } = encodeBroadcast(
        this.connection.vsn,
        this.topic,
        message.event,
        { json: message.payload },
        JSON.stringify({ replayed: true, id: message.id }),
      )
      this.connection.send(data, binary)
    }
  }

  private start(frame: Frame, bindings: ReadonlyArray<Binding>, since: string | null | undefined) {
    const { connection, gateway } = this
    connection.subscribe(broadcastTopic(connection.vsn, this.key))
    connection.reply(frame, "ok", { postgres_changes: bindings.map((b) => b.reply) })
    if (this.presenceEnabled) {
      connection.subscribe(presenceTopic(connection.vsn, this.key))
      gateway.followPresence(this.key, true)
      this.push("presence_state", gateway.presence.state(this.key))
    }
    if (bindings.length > 0) {
      this.push("system", {
        extension: "postgres_changes",
        status: "ok",
        message: "Subscribed to PostgreSQL",
        channel: this.subTopic,
      })
      this.subscriber = {
        topic: this.topic,
        vsn: connection.vsn,
        bindings,
        resumable: since !== undefined,
        claims: () => this.claims,
        send: (text) => connection.send(text, false),
        subscribe: (uwsTopic) => connection.subscribe(uwsTopic),
        unsubscribe: (uwsTopic) => connection.unsubscribe(uwsTopic),
      }
      gateway.hub.join(this.subscriber, since ?? undefined)
    }
    this.arm()
  }

  /** A push on this join: carries its join_ref, so realtime-js drops it once the client rejoined. */
  push(event: string, payload: unknown, ref: string | null = null) {
    this.connection.sendFrame({ joinRef: this.joinRef, ref, topic: this.topic, event, payload })
  }

  async handle(frame: Frame): Promise<void> {
    const payload = objectOf(frame.payload)
    switch (frame.event) {
      case "phx_leave":
        this.connection.reply(frame, "ok", {})
        this.push("phx_close", {}, this.joinRef)
        return this.close()
      case "broadcast": {
        if (typeof payload["event"] !== "string") return
        const json = JSON.stringify(payload["payload"] ?? {})
        const event = payload["event"]
        return this.inOrder(() => this.broadcast(frame, event, { json }, ""))
      }
      case "presence":
        return this.inOrder(() => this.presence(frame, payload))
      case "access_token":
        return this.refresh(payload["access_token"])
      default:
        return
    }
  }

  /**
   * Runs `step` after the steps before it. On a private channel the first broadcast or track waits
   * for the policies; what the client sent after it must not overtake it.
   */
  private inOrder(step: () => Promise<void> | void) {
    // A public channel asks no one: its steps finish at once, in order.
    if (!this.isPrivate) return void step()
    this.queue = this.queue.then(step).catch(() => undefined)
  }

  /** A client broadcast: to the other members here and on other gateways, to the sender too with `self`. */
  async broadcast(
    frame: { readonly ref: string | null; readonly joinRef: string | null },
    event: string,
    payload: Payload,
    meta: string,
  ): Promise<void> {
    if (this.isPrivate) {
      this.writable ??= await Effect.runPromise(
        this.gateway.authorizeTopic(this.subTopic, this.claims, "write"),
      )
      if (!this.writable) {
        if (this.ack)
          this.connection.reply({ ...frame, topic: this.topic }, "error", { reason: "Unauthorized" })
        return
      }
    }
    if (this.closed) return
    const connection = this.connection
    this.gateway.broadcast(
      { topic: this.topic, private: this.isPrivate, event, payload, meta },
      {
        publish: (uwsTopic, data, binary) => connection.publish(uwsTopic, data, binary),
        send: (data, binary) => connection.send(data, binary),
        vsn: connection.vsn,
        self: this.self,
      },
    )
    if (this.ack) this.connection.reply({ ...frame, topic: this.topic }, "ok", {})
  }

  private async presence(frame: Frame, payload: Json): Promise<void> {
    if (payload["event"] === "track") {
      if (this.isPrivate) {
        this.trackable ??= await Effect.runPromise(
          this.gateway.authorizeTopic(this.subTopic, this.claims, "track"),
        )
        if (this.closed) return
        if (!this.trackable) return this.connection.reply(frame, "error", { reason: "Unauthorized" })
      }
      const meta = objectOf(payload["payload"])
      this.gateway.presenceChanged(
        this.key,
        this.gateway.presence.track(this.key, this.tracker, this.presenceKey, meta),
      )
    } else if (payload["event"] === "untrack") {
      const untracked = this.gateway.presence.untrack(this.tracker)
      if (untracked !== undefined) this.gateway.presenceChanged(this.key, untracked.diff)
    } else return this.connection.reply(frame, "error", { reason: "unknown presence event" })
    this.connection.reply(frame, "ok", {})
  }

  /** A new token from the client: the channel now acts with its claims, or ends if it is not valid. */
  private async refresh(token: unknown): Promise<void> {
    if (!usable(token)) return
    const verified = await Effect.runPromiseExit(this.gateway.verifyJwt(token))
    if (this.closed) return
    if (Exit.isFailure(verified)) return this.fail(tokenProblem(token, reasonOf(verified)))
    const claims = verified.value
    if (
      this.isPrivate &&
      !(await Effect.runPromise(this.gateway.authorizeTopic(this.subTopic, claims, "read")))
    )
      return this.fail(`You do not have permissions to read from this Channel topic: ${this.subTopic}`)
    if (this.closed) return
    this.claims = claims
    this.writable = undefined
    this.trackable = undefined
    if (this.subscriber !== undefined) this.gateway.hub.reauthorize(this.subscriber)
    this.arm()
  }

  /** Ends the channel as Supabase does: a `system` error, then phx_close. */
  private fail(message: string) {
    this.push("system", { extension: "system", status: "error", message, channel: this.subTopic })
    this.push("phx_close", {}, this.joinRef)
    this.close()
  }

  /** Ends the channel when its claims expire. Node's timers hold at most ~24.8 days: re-armed until then. */
  private arm() {
    clearTimeout(this.timer)
    const left = this.claims.exp * 1000 - Date.now()
    this.timer = setTimeout(
      () =>
        left > maxTimer
          ? this.arm()
          : this.fail(
              `Token has expired ${Math.max(0, Math.floor((Date.now() - this.claims.exp * 1000) / 1000))} seconds ago`,
            ),
      Math.max(0, Math.min(left, maxTimer)),
    )
    this.timer.unref()
  }

  /** Leaves everything this join holds; sends nothing (the socket may be gone). */
  close() {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    if (this.connection.channels.get(this.topic) === this) this.connection.channels.delete(this.topic)
    this.connection.unsubscribe(broadcastTopic(this.connection.vsn, this.key))
    if (this.presenceEnabled) {
      this.connection.unsubscribe(presenceTopic(this.connection.vsn, this.key))
      this.gateway.followPresence(this.key, false)
    }
    const untracked = this.gateway.presence.untrack(this.tracker)
    if (untracked !== undefined) this.gateway.presenceChanged(this.key, untracked.diff)
    if (this.subscriber !== undefined) this.gateway.hub.leave(this.subscriber)
  }

  /** A defect while handling a message: Phoenix's phx_error, and the channel is gone. */
  crash() {
    this.push("phx_error", {}, this.joinRef)
    this.close()
  }
}
