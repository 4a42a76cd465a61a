import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { anonKey, eventually, type Gateway, startGateway, userToken } from "./test/harness.ts"

let gateway: Gateway
let anon: string
beforeAll(async () => {
  anon = await anonKey()
  gateway = await startGateway({ limits: { maxChannelsPerSocket: 2, maxFrameBytes: 64 * 1024 } })
})
afterAll(() => gateway.stop())

const socketUrl = (query: string) => `ws://127.0.0.1:${gateway.port}/realtime/v1/websocket?${query}`

/** A raw Phoenix client: every frame it receives, decoded, in order. */
const open = async (query: string) => {
  const ws = new WebSocket(socketUrl(query))
  ws.binaryType = "arraybuffer"
  const frames: Array<unknown> = []
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  ws.on("message", (data, isBinary) =>
    frames.push(isBinary ? new Uint8Array(data as ArrayBuffer) : JSON.parse(String(data))),
  )
  await new Promise((resolve, reject) => {
    ws.once("open", resolve)
    ws.once("error", reject)
  })
  return { ws, frames, closed }
}

/** The status and body of a refused upgrade. */
const refused = (url: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.on("open", () => reject(new Error("upgraded")))
    ws.on("error", () => undefined)
    ws.on("unexpected-response", (_req, res) => {
      let body = ""
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString()
      })
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }))
    })
  })

describe("the realtime socket", () => {
  it("refuses an upgrade without an apikey or with an invalid one, with a JSON error", async () => {
    expect(await refused(socketUrl("vsn=2.0.0"))).toEqual({
      status: 401,
      body: { error: "No API key found in request" },
    })
    const bad = await refused(socketUrl("vsn=2.0.0&apikey=not.a.jwt"))
    expect(bad.status).toBe(401)
    expect(bad.body).toEqual({ error: expect.stringContaining("Invalid API key") })
    expect((await refused(socketUrl(`vsn=9.9.9&apikey=${anon}`))).status).toBe(400)
  })

  it("accepts the apikey from the x-api-key header", async () => {
    const ws = new WebSocket(socketUrl("vsn=2.0.0"), { headers: { "x-api-key": anon } })
    await new Promise((resolve, reject) => {
      ws.once("open", resolve)
      ws.once("error", reject)
    })
    ws.close()
  })

  it("answers heartbeats on the phoenix topic, in both serializers", async () => {
    const v2 = await open(`apikey=${anon}&vsn=2.0.0`)
    v2.ws.send(JSON.stringify([null, "5", "phoenix", "heartbeat", {}]))
    await eventually(() => v2.frames.length === 1, "heartbeat reply")
    expect(v2.frames[0]).toEqual([null, "5", "phoenix", "phx_reply", { status: "ok", response: {} }])
    const v1 = await open(`apikey=${anon}&vsn=1.0.0`)
    v1.ws.send(
      JSON.stringify({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "6", join_ref: null }),
    )
    await eventually(() => v1.frames.length === 1, "heartbeat reply")
    expect(v1.frames[0]).toEqual({
      join_ref: null,
      ref: "6",
      topic: "phoenix",
      event: "phx_reply",
      payload: { status: "ok", response: {} },
    })
    v1.ws.close()
    v2.ws.close()
  })

  it("answers a message for a topic never joined with an error", async () => {
    const { ws, frames } = await open(`apikey=${anon}&vsn=2.0.0`)
    ws.send(JSON.stringify(["1", "2", "realtime:nowhere", "broadcast", {}]))
    await eventually(() => frames.length === 1, "reply")
    expect(frames[0]).toEqual([
      "1",
      "2",
      "realtime:nowhere",
      "phx_reply",
      { status: "error", response: { reason: "unmatched topic" } },
    ])
    ws.close()
  })

  it("refuses a join beyond the channels a socket may hold", async () => {
    const { ws, frames } = await open(`apikey=${anon}&vsn=2.0.0`)
    for (const [i, name] of ["a", "b", "c"].entries())
      ws.send(JSON.stringify([`${i}`, `${i}`, `realtime:${name}`, "phx_join", { config: {} }]))
    await eventually(() => frames.length === 3, "three replies")
    expect(
      frames.map((f) => (f as [unknown, unknown, unknown, unknown, { status: string }])[4].status),
    ).toEqual(["ok", "ok", "error"])
    expect(frames[2]).toMatchObject([
      "2",
      "2",
      "realtime:c",
      "phx_reply",
      { response: { reason: "ChannelRateLimitReached: Too many channels" } },
    ])
    ws.close()
  })

  it("closes a socket that sends a frame over the size limit", async () => {
    const { ws, closed } = await open(`apikey=${anon}&vsn=2.0.0`)
    ws.send(JSON.stringify([null, "1", "phoenix", "heartbeat", { pad: "x".repeat(70 * 1024) }]))
    // uWS drops such a client at once, without a close frame.
    expect([1006, 1009]).toContain((await closed).code)
  })

  it("refuses a join whose access token is invalid, as Supabase words it", async () => {
    const { ws, frames } = await open(`apikey=${anon}&vsn=2.0.0`)
    const expired = await userToken("u1", -10)
    ws.send(JSON.stringify(["1", "1", "realtime:x", "phx_join", { config: {}, access_token: expired }]))
    await eventually(() => frames.length === 1, "reply")
    expect(frames[0]).toMatchObject([
      "1",
      "1",
      "realtime:x",
      "phx_reply",
      {
        status: "error",
        response: { reason: expect.stringMatching(/^InvalidJWTToken: Token has expired 1\d seconds ago$/) },
      },
    ])
    ws.close()
  })

  it("replies to phx_leave, then closes the channel with phx_close", async () => {
    const { ws, frames } = await open(`apikey=${anon}&vsn=2.0.0`)
    ws.send(JSON.stringify(["1", "1", "realtime:x", "phx_join", { config: {} }]))
    ws.send(JSON.stringify(["1", "2", "realtime:x", "phx_leave", {}]))
    await eventually(() => frames.length === 3, "replies")
    expect(frames.slice(1)).toEqual([
      ["1", "2", "realtime:x", "phx_reply", { status: "ok", response: {} }],
      ["1", "1", "realtime:x", "phx_close", {}],
    ])
    ws.close()
  })

  it("closes a client that does not read instead of buffering for it", async () => {
    const small = await startGateway({ limits: { maxBackpressureBytes: 256 * 1024 } })
    try {
      const url = `ws://127.0.0.1:${small.port}/realtime/v1/websocket?apikey=${anon}&vsn=2.0.0`
      const reader = new WebSocket(url)
      const closed = new Promise<void>((resolve) => reader.on("close", () => resolve()))
      await new Promise((resolve) => reader.once("open", resolve))
      reader.send(JSON.stringify(["1", "1", "realtime:flood", "phx_join", { config: {} }]))
      await new Promise((resolve) => reader.once("message", resolve))
      // Stop reading: the kernel buffers fill, then uWS's, then the server gives up on it.
      ;(reader as unknown as { _socket: { pause: () => void } })._socket.pause()
      const writer = new WebSocket(url)
      await new Promise((resolve) => writer.once("open", resolve))
      writer.send(JSON.stringify(["1", "1", "realtime:flood", "phx_join", { config: {} }]))
      const payload = { blob: "y".repeat(60 * 1024) }
      for (let i = 0; i < 400; i++)
        writer.send(
          JSON.stringify([
            "1",
            null,
            "realtime:flood",
            "broadcast",
            { type: "broadcast", event: "e", payload },
          ]),
        )
      await eventually(() => small.realtime.sockets() === 1, "the slow reader to be closed", 10_000)
      writer.close()
      ;(reader as unknown as { _socket: { resume: () => void } })._socket.resume()
      await closed
    } finally {
      await small.stop()
    }
  })

  it("closes every socket with a normal close when the server drains", async () => {
    const other = await startGateway()
    const ws = new WebSocket(`ws://127.0.0.1:${other.port}/realtime/v1/websocket?apikey=${anon}&vsn=2.0.0`)
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)))
    await new Promise((resolve) => ws.once("open", resolve))
    await other.drain()
    expect(await closed).toBe(1000)
    await other.stop()
  })
})
