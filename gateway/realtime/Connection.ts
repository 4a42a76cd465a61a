// One realtime WebSocket: decodes its frames, answers heartbeats, hands each topic's messages to
// its channel one at a time, and writes back — closing the socket instead of buffering without end
// when the client does not read.
import type { WebSocket } from "@trufflesuite/uws-js-unofficial"
import type { Claims } from "../../platform/jwt/Jwt.ts"
import { Channel } from "./Channel.ts"
import type { Gateway } from "./Gateway.ts"
import { decode, encode, type Frame, type Vsn } from "./Serializer.ts"

/** What uWS keeps on each socket: its connection, set when it opens. */
export interface SocketData {
  readonly vsn: Vsn
  readonly claims: Claims
  connection?: Connection
}

export class Connection {
  readonly channels = new Map<string, Channel>()
  closed = false
  private queue: Promise<void> = Promise.resolve()
  private overflowing = false

  constructor(
    private readonly ws: WebSocket<SocketData>,
    readonly vsn: Vsn,
    /** The socket's apikey: what a channel acts with when its join carries no access_token. */
    readonly apiKeyClaims: Claims,
    private readonly gateway: Gateway,
  ) {}

  receive(data: ArrayBuffer, isBinary: boolean): void {
    const incoming = decode(this.vsn, data, isBinary)
    // Frames this version cannot read are dropped, as Phoenix drops what it cannot decode.
    if (incoming === undefined) return
    if (incoming._tag === "Frame" && incoming.frame.topic === "phoenix") {
      if (incoming.frame.event === "heartbeat") this.reply(incoming.frame, "ok", {})
      return
    }
    // One message at a time per socket: a leave waits for the join before it, a broadcast for the join.
    this.queue = this.queue.then(() => this.dispatch(incoming)).catch(() => undefined)
  }

  private async dispatch(incoming: NonNullable<ReturnType<typeof decode>>): Promise<void> {
    if (this.closed) return
    if (incoming._tag === "BroadcastPush") {
      const push = incoming.push
      const channel = this.channels.get(push.topic)
      if (channel === undefined) return
      return this.guard(channel, () => channel.broadcast(push, push.event, push.payload, push.meta))
    }
    const frame = incoming.frame
    if (frame.event === "phx_join") {
      try {
        return await Channel.join(this, this.gateway, frame)
      } catch {
        // A join that crashed is Phoenix's phx_error for that join; realtime-js rejoins later.
        this.channels.get(frame.topic)?.close()
        return this.sendFrame({
          joinRef: frame.joinRef,
          ref: frame.ref,
          topic: frame.topic,
          event: "phx_error",
          payload: {},
        })
      }
    }
    const channel = this.channels.get(frame.topic)
    if (channel === undefined) {
      if (frame.event === "phx_leave") this.reply(frame, "ok", {})
      else if (frame.ref !== null) this.reply(frame, "error", { reason: "unmatched topic" })
      return
    }
    return this.guard(channel, () => channel.handle(frame))
  }

  private async guard(channel: Channel, run: () => Promise<void>): Promise<void> {
    try {
      await run()
    } catch {
      if (!this.closed) channel.crash()
    }
  }

  reply(frame: Pick<Frame, "joinRef" | "ref" | "topic">, status: "ok" | "error", response: unknown): void {
    this.sendFrame({
      joinRef: frame.joinRef,
      ref: frame.ref,
      topic: frame.topic,
      event: "phx_reply",
      payload: { status, response },
    })
  }

  sendFrame(frame: Frame): void {
    this.send(encode(this.vsn, frame), false)
  }

  send(data: string | Uint8Array, binary: boolean): void {
    if (this.closed) return
    // 2: dropped at uWS's own backpressure limit. Past ours, the client is not keeping up.
    if (
      this.ws.send(data, binary) === 2 ||
      this.ws.getBufferedAmount() > this.gateway.limits.maxBackpressureBytes
    )
      this.overflow()
  }

  /** To every socket on the topic but this one. */
  publish(uwsTopic: string, data: string | Uint8Array, binary: boolean): void {
    if (!this.closed) this.ws.publish(uwsTopic, data, binary)
  }

  subscribe(uwsTopic: string): void {
    if (!this.closed) this.ws.subscribe(uwsTopic)
  }

  unsubscribe(uwsTopic: string): void {
    if (!this.closed) this.ws.unsubscribe(uwsTopic)
  }

  /** A client that does not read is cut off, once, after the current send returns. */
  private overflow(): void {
    if (this.overflowing) return
    this.overflowing = true
    queueMicrotask(() => {
      if (!this.closed) this.ws.close()
    })
  }

  /** Closes the socket with a normal close: realtime-js reconnects (to another gateway, on a drain). */
  end(code: number, reason: string): void {
    if (!this.closed) this.ws.end(code, reason)
  }

  /** The socket is gone (uWS's close event): every channel leaves what it holds. */
  closedByPeer(): void {
    if (this.closed) return
    this.closed = true
    for (const channel of [...this.channels.values()]) channel.close()
  }
}
