import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import { decode, encode, encodeBroadcast, encodeRaw, vsnOf } from "./Serializer.ts"

// realtime-js's own serializer: what the client really sends and how it reads what we send.
interface ClientSerializer {
  encode(msg: object, callback: (result: ArrayBuffer | string) => unknown): unknown
  decode(raw: ArrayBuffer | string, callback: (msg: Record<string, unknown>) => unknown): unknown
}
const require = createRequire(import.meta.url)
const ClientSerializer: new () => ClientSerializer =
  require("@supabase/realtime-js/dist/main/lib/serializer.js").default
const clientSerializer = new ClientSerializer()
const clientEncode = (msg: object) => clientSerializer.encode(msg, (r) => r) as ArrayBuffer | string
const clientDecode = (raw: ArrayBuffer | string) =>
  clientSerializer.decode(raw, (m) => m) as Record<string, unknown>

const bytes = (text: string) => new TextEncoder().encode(text).buffer as ArrayBuffer
const arrayBuffer = (data: string | Uint8Array) =>
  typeof data === "string"
    ? data
    : (data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer)

describe("the serializer", () => {
  it("picks the version from vsn, 1.0.0 when absent, and refuses others", () => {
    expect(vsnOf("2.0.0")).toBe("2.0.0")
    expect(vsnOf("1.0.0")).toBe("1.0.0")
    expect(vsnOf(null)).toBe("1.0.0")
    expect(vsnOf("3.0.0")).toBeUndefined()
  })

  it("reads vsn 2.0.0 frames as JSON arrays, and writes them back the same way", () => {
    const text = clientEncode({
      join_ref: "1",
      ref: "2",
      topic: "realtime:room",
      event: "phx_join",
      payload: { a: 1 },
    })
    expect(decode("2.0.0", bytes(text as string), false)).toEqual({
      _tag: "Frame",
      frame: { joinRef: "1", ref: "2", topic: "realtime:room", event: "phx_join", payload: { a: 1 } },
    })
    const reply = encode("2.0.0", {
      joinRef: "1",
      ref: "2",
      topic: "t",
      event: "phx_reply",
      payload: { status: "ok" },
    })
    expect(JSON.parse(reply)).toEqual(["1", "2", "t", "phx_reply", { status: "ok" }])
    expect(clientDecode(reply)).toMatchObject({ join_ref: "1", ref: "2", topic: "t", event: "phx_reply" })
  })

  it("reads vsn 1.0.0 frames as JSON objects, and writes objects", () => {
    const text = JSON.stringify({
      topic: "phoenix",
      event: "heartbeat",
      payload: {},
      ref: "7",
      join_ref: null,
    })
    expect(decode("1.0.0", bytes(text), false)).toEqual({
      _tag: "Frame",
      frame: { joinRef: null, ref: "7", topic: "phoenix", event: "heartbeat", payload: {} },
    })
    expect(
      JSON.parse(
        encode("1.0.0", { joinRef: null, ref: "7", topic: "phoenix", event: "phx_reply", payload: {} }),
      ),
    ).toEqual({ join_ref: null, ref: "7", topic: "phoenix", event: "phx_reply", payload: {} })
    // An array is not a 1.0.0 frame, nor an object a 2.0.0 one.
    expect(decode("1.0.0", bytes('[null,null,"t","e",{}]'), false)).toBeUndefined()
    expect(decode("2.0.0", bytes(text), false)).toBeUndefined()
  })

  it("decodes the client's binary user broadcast push (kind 3), JSON and raw payloads", () => {
    const json = clientEncode({
      join_ref: "3",
      ref: "4",
      topic: "realtime:room",
      event: "broadcast",
      payload: { type: "broadcast", event: "cursor", payload: { x: 1 } },
    })
    expect(json).toBeInstanceOf(ArrayBuffer)
    const decoded = decode("2.0.0", json as ArrayBuffer, true)
    expect(decoded).toMatchObject({
      _tag: "BroadcastPush",
      push: {
        joinRef: "3",
        ref: "4",
        topic: "realtime:room",
        event: "cursor",
        meta: "",
        payload: { json: '{"x":1}' },
      },
    })
    const raw = clientEncode({
      join_ref: "3",
      ref: null,
      topic: "realtime:room",
      event: "broadcast",
      payload: { type: "broadcast", event: "blob", payload: new Uint8Array([1, 2, 255]).buffer },
    })
    const push = decode("2.0.0", raw as ArrayBuffer, true)
    expect(push?._tag === "BroadcastPush" && push.push.ref).toBeNull()
    expect(push?._tag === "BroadcastPush" && push.push.payload).toEqual({
      binary: new Uint8Array([1, 2, 255]),
    })
  })

  it("drops binary frames on 1.0.0 and malformed ones", () => {
    const frame = clientEncode({
      join_ref: "1",
      ref: "1",
      topic: "t",
      event: "broadcast",
      payload: { type: "broadcast", event: "e", payload: {} },
    })
    expect(decode("1.0.0", frame as ArrayBuffer, true)).toBeUndefined()
    expect(decode("2.0.0", new Uint8Array([3, 200, 0, 0, 0, 0, 1]).buffer, true)).toBeUndefined()
    expect(decode("2.0.0", new Uint8Array([9]).buffer, true)).toBeUndefined()
    expect(decode("2.0.0", bytes("not json"), false)).toBeUndefined()
  })

  it("encodes broadcasts as binary user broadcasts (kind 4) that realtime-js decodes", () => {
    const json = encodeBroadcast("2.0.0", "realtime:room", "cursor", { json: '{"x":1}' })
    expect(json.binary).toBe(true)
    expect(clientDecode(arrayBuffer(json.data))).toEqual({
      join_ref: null,
      ref: null,
      topic: "realtime:room",
      event: "broadcast",
      payload: { type: "broadcast", event: "cursor", payload: { x: 1 } },
    })
    const raw = encodeBroadcast(
      "2.0.0",
      "realtime:room",
      "blob",
      { binary: new Uint8Array([7, 8]) },
      '{"id":"m1"}',
    )
    const decoded = clientDecode(arrayBuffer(raw.data)) as {
      payload: { payload: ArrayBuffer; meta: unknown }
    }
    expect(new Uint8Array(decoded.payload.payload)).toEqual(new Uint8Array([7, 8]))
    expect(decoded.payload.meta).toEqual({ id: "m1" })
  })

  it("encodes broadcasts for 1.0.0 clients as JSON, bytes in base64", () => {
    const { data, binary } = encodeBroadcast("1.0.0", "realtime:room", "e", { binary: new Uint8Array([1]) })
    expect(binary).toBe(false)
    expect(JSON.parse(data as string)).toEqual({
      join_ref: null,
      ref: null,
      topic: "realtime:room",
      event: "broadcast",
      payload: { type: "broadcast", event: "e", payload: "AQ==" },
    })
  })

  it("wraps pre-serialized payloads without parsing them", () => {
    expect(JSON.parse(encodeRaw("2.0.0", "t", "postgres_changes", '{"ids":[1]}'))).toEqual([
      null,
      null,
      "t",
      "postgres_changes",
      { ids: [1] },
    ])
    expect(JSON.parse(encodeRaw("1.0.0", "t", "e", "{}"))).toEqual({
      join_ref: null,
      ref: null,
      topic: "t",
      event: "e",
      payload: {},
    })
  })
})
