import { createHash } from "node:crypto"
import { connect } from "node:net"
import { Readable } from "node:stream"
import { Context, Effect, Exit, Logger, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Bus, handler } from "../bus/Bus.ts"
import * as MemoryBus from "../bus/MemoryBus.ts"
import { Echo } from "../contracts/system.ts"
import { apiKey, makeVerifier } from "../platform/jwt/Jwt.ts"
import { json } from "./http/HttpResponse.ts"
import { readAheadHeld } from "./http/streamOut.ts"
import { route } from "./Route.ts"
import * as Server from "./Server.ts"

const secret = "a-test-secret-that-is-long-enough-for-hs256"
let anon: string
let base: string
let server: Server.Server
let scope: Scope.Closeable
const waiting: Array<() => void> = []
const release = () => waiting.shift()?.()
/** What the server logged, as "<level> <message>". */
const logged: Array<string> = []
const capture = Logger.make(({ logLevel, message }) => {
  logged.push(`${logLevel} ${[message].flat().join(" ")}`)
})

const echo = route({
  method: "post",
  path: "/auth/v1/echo",
  protocol: "gotrue",
  apiKey: true,
  body: "json",
  handle: (request) =>
    Effect.gen(function* () {
      const bus = yield* Bus
      const reply = yield* bus.request(
        Echo,
        { message: String((request.json as { message?: unknown }).message) },
        { meta: request.meta, timeout: 300 },
      )
      return json(200, { ...reply, requestId: request.meta.requestId, traceparent: request.meta.traceparent })
    }),
})

const slow = route({
  method: "get",
  path: "/plain/slow",
  protocol: "plain",
  apiKey: false,
  body: "none",
  handle: () =>
    Effect.callback<ReturnType<typeof json>>((resume) => {
      const done = () => resume(Effect.succeed(json(200, { done: true })))
      waiting.push(done)
      // An aborted request is interrupted: it no longer waits to be released.
      return Effect.sync(() => waiting.splice(waiting.indexOf(done), 1))
    }),
})

/** `size` bytes in `chunk`-byte pieces, each byte a function of its position, so any misplaced one shows. */
const patterned = (size: number, chunk: number) =>
  Readable.from(
    (function* () {
      for (let at = 0; at < size; at += chunk) {
        const piece = Buffer.allocUnsafe(Math.min(chunk, size - at))
        for (let i = 0; i < piece.length; i++) piece[i] = ((at + i) * 7 + ((at + i) >>> 11)) & 0xff
        yield piece
      }
    })(),
    { objectMode: false },
  )

const md5 = async (body: AsyncIterable<Buffer>) => {
  const hash = createHash("md5")
  for await (const part of body) hash.update(part)
  return hash.digest("hex")
}

const streamed = route({
  method: "get",
  path: "/plain/stream",
  protocol: "plain",
  apiKey: false,
  body: "none",
  handle: (request) => {
    const size = Number(request.query.get("size"))
    return Effect.succeed({ status: 200, stream: { body: patterned(size, 64 * 1024), length: size } })
  },
})

beforeAll(async () => {
  anon = await Effect.runPromise(apiKey(secret, "anon", "test"))
  scope = Effect.runSync(Scope.make())
  const bus = await Effect.runPromise(MemoryBus.make())
  await Effect.runPromise(
    Scope.provide(
      bus.serve({
        group: "system",
        handlers: [
          handler(Echo, ({ message }) =>
            message === "hang" ? Effect.never : Effect.succeed({ message: message.toUpperCase() }),
          ),
        ],
      }),
      scope,
    ),
  )
  server = await Effect.runPromise(
    Scope.provide(
      Server.start(
        [echo, slow, streamed],
        Context.make(Bus, bus).pipe(Context.add(Logger.CurrentLoggers, new Set([capture]))),
        {
          host: "127.0.0.1",
          port: 0,
          bodyLimit: 1024,
          maxInflight: 2,
          drainTimeoutMs: 2_000,
          corsOrigins: ["*"],
          trustProxy: false,
          allowSlowUws: false,
          verifyApiKey: makeVerifier(secret),
          ready: Effect.succeed({ ready: true, checks: { database: "ok", bus: "ok" } }),
        },
      ),
      scope,
    ),
  )
  base = `http://127.0.0.1:${server.port}`
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: "POST",
    body,
    headers: { apikey: anon, "content-type": "application/json", ...headers },
  })

describe("the gateway", () => {
  it("routes a request through the bus and answers with its reply and a request id", async () => {
    const response = await post("/auth/v1/echo", JSON.stringify({ message: "hi" }), {
      "x-request-id": "client-chosen-1",
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("x-request-id")).toBe("client-chosen-1")
    const body = (await response.json()) as { traceparent: string }
    expect(body).toMatchObject({ message: "HI", requestId: "client-chosen-1" })
    expect(body.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  })

  it("passes a caller's trace context to the worker and makes up request ids that are not given", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    const response = await post("/auth/v1/echo", JSON.stringify({ message: "x" }), {
      traceparent,
      "x-request-id": "bad id!",
    })
    const body = (await response.json()) as { traceparent: string }
    expect(body.traceparent).toBe(traceparent)
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/)
  })

  it("refuses a body over the limit with 413 in the route's protocol", async () => {
    const response = await post("/auth/v1/echo", JSON.stringify({ message: "x".repeat(2000) }), {
      "x-supabase-api-version": "2024-01-01",
    })
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({
      code: "request_entity_too_large",
      message: "Request body too large (max 1024 bytes)",
    })
  })

  it("refuses malformed JSON with 400", async () => {
    const response = await post("/auth/v1/echo", "{nope")
    expect(response.status).toBe(400)
    const body = (await response.json()) as { msg: string }
    expect(body).toMatchObject({ code: 400, error_code: "bad_json" })
    expect(body.msg).toMatch(/^Could not parse request body as JSON: /)
    expect(response.headers.get("x-sb-error-code")).toBe("bad_json")
  })

  it("answers 404 for an unknown route and 405 for a known one asked the wrong way", async () => {
    const unknown = await fetch(`${base}/nowhere`)
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toEqual({ message: "no Route matched with those values" })
    const wrongMethod = await fetch(`${base}/auth/v1/echo`, { headers: { apikey: anon } })
    expect(wrongMethod.status).toBe(405)
  })

  it("requires an API key like Supabase's gateway, and refuses a forged one", async () => {
    const missing = await fetch(`${base}/auth/v1/echo`, { method: "POST", body: "{}" })
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({ msg: "No API key found in request" })
    const forged = await post("/auth/v1/echo", "{}", {
      apikey: await Effect.runPromise(apiKey("another-secret-another-secret-xx", "anon", "x")),
    })
    expect(forged.status).toBe(401)
    expect(await forged.json()).toMatchObject({ msg: "Invalid API key" })
  })

  it("answers 504 when the worker does not reply in time, and logs why", async () => {
    const response = await post("/auth/v1/echo", JSON.stringify({ message: "hang" }))
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error_code: "request_timeout" })
    expect(logged).toContainEqual(
      expect.stringMatching(/^Warn answered 5xx: no reply to \S*Echo\S* within 300 ms$/),
    )
  })

  it("answers CORS preflights as supabase-js in a browser needs", async () => {
    const response = await fetch(`${base}/auth/v1/token?grant_type=password`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get("access-control-allow-origin")).toBe("*")
    const allowed = response.headers.get("access-control-allow-headers")!.split(", ")
    for (const header of [
      "authorization",
      "apikey",
      "content-type",
      "x-client-info",
      "x-supabase-api-version",
      "prefer",
    ]) {
      expect(allowed).toContain(header)
    }
    const actual = await post("/auth/v1/echo", JSON.stringify({ message: "x" }), {
      origin: "https://app.example",
    })
    expect(actual.headers.get("access-control-expose-headers")).toContain("x-supabase-api-version")
  })

  it("reports liveness and readiness", async () => {
    expect((await fetch(`${base}/health`)).status).toBe(200)
    const ready = await fetch(`${base}/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ ready: true, checks: { database: "ok", bus: "ok" } })
  })

  it("survives a client that disconnects mid-request and keeps counting in-flight work right", async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(server.port, "127.0.0.1", () => {
        socket.write("GET /plain/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        setTimeout(() => {
          socket.destroy()
          resolve()
        }, 100)
      })
    })
    await new Promise((r) => setTimeout(r, 100))
    expect(server.inflight()).toBe(0)
    const ok = await post("/auth/v1/echo", JSON.stringify({ message: "still" }))
    expect(ok.status).toBe(200)
  })

  it("answers 503 at once past its in-flight limit rather than queueing", async () => {
    const first = fetch(`${base}/plain/slow`)
    const second = fetch(`${base}/plain/slow`)
    await new Promise((r) => setTimeout(r, 100))
    const third = await fetch(`${base}/plain/slow`)
    expect(third.status).toBe(503)
    expect(third.headers.get("retry-after")).toBe("1")
    release()
    await new Promise((r) => setTimeout(r, 20))
    release()
    expect((await first).status).toBe(200)
    expect((await second).status).toBe(200)
  })

  it("streams a body to a client that reads slowly, every byte in its place", async () => {
    const size = 24 * 1024 * 1024 + 123
    const expected = await md5(patterned(size, 1000))
    // A raw socket read in bursts with pauses, so the gateway's writes keep meeting a full socket
    // and chunks queue behind the one uWS could not take.
    const received = await new Promise<{ head: string; digest: string; bytes: number }>((resolve, reject) => {
      const socket = connect(server.port, "127.0.0.1", () =>
        socket.write(`GET /plain/stream?size=${size} HTTP/1.1\r\nHost: x\r\n\r\n`),
      )
      const hash = createHash("md5")
      let head = ""
      let bytes = 0
      let buffered = Buffer.alloc(0)
      socket.on("data", (data: Buffer) => {
        if (head === "") {
          buffered = Buffer.concat([buffered, data])
          const end = buffered.indexOf("\r\n\r\n")
          if (end < 0) return
          head = buffered.subarray(0, end).toString()
          data = buffered.subarray(end + 4)
        }
        hash.update(data)
        bytes += data.length
        if (bytes >= size) {
          socket.destroy()
          resolve({ head, digest: hash.digest("hex"), bytes })
        } else if (Math.random() < 0.05) {
          socket.pause()
          setTimeout(() => socket.resume(), 5)
        }
      })
      socket.on("error", reject)
    })
    expect(received.head.toLowerCase()).toContain(`content-length: ${size}`)
    expect(received.bytes).toBe(size)
    expect(received.digest).toBe(expected)
    await new Promise((r) => setTimeout(r, 50))
    expect(readAheadHeld()).toBe(0)
  })

  it("lets go of what it read ahead when a client leaves in the middle of a download", async () => {
    const sockets = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const socket = connect(server.port, "127.0.0.1", () => {
              socket.write(`GET /plain/stream?size=${64 * 1024 * 1024} HTTP/1.1\r\nHost: x\r\n\r\n`)
              // Reads a little and then nothing: the gateway fills its read-ahead and pauses.
              socket.once("data", () => {
                socket.pause()
                resolve(socket)
              })
            })
          }),
      ),
    )
    await new Promise((r) => setTimeout(r, 300))
    expect(readAheadHeld()).toBeGreaterThan(0)
    expect(readAheadHeld()).toBeLessThanOrEqual(64 * 1024 * 1024 + 4 * 64 * 1024)
    for (const socket of sockets) socket.destroy()
    await new Promise((r) => setTimeout(r, 200))
    expect(readAheadHeld()).toBe(0)
    const ok = await post("/auth/v1/echo", JSON.stringify({ message: "after" }))
    expect(ok.status).toBe(200)
  })

  it("drains on shutdown: finishes what is in flight, then stops listening", async () => {
    const pending = fetch(`${base}/plain/slow`)
    await new Promise((r) => setTimeout(r, 100))
    const drained = Effect.runPromise(server.drain)
    await new Promise((r) => setTimeout(r, 100))
    release()
    const response = await pending
    expect(response.status).toBe(200)
    expect(response.headers.get("connection")).toBe("close")
    await drained
    await expect(fetch(`${base}/health`)).rejects.toThrow()
  })
})
