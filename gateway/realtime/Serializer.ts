// Phoenix frames as realtime-js speaks them: vsn 1.0.0 sends JSON objects, vsn 2.0.0 JSON arrays
// plus two binary kinds for broadcasts (3: a client's push, 4: the server's delivery).
export type Vsn = "1.0.0" | "2.0.0"

export const vsnOf = (value: string | null | undefined): Vsn | undefined =>
  value === "2.0.0"
    ? "2.0.0"
    : value === "1.0.0" || value === undefined || value === null
      ? "1.0.0"
      : undefined

export interface Frame {
  readonly joinRef: string | null
  readonly ref: string | null
  readonly topic: string
  readonly event: string
  readonly payload: unknown
}

/** A broadcast's user payload: JSON text as the sender encoded it, or raw bytes. */
export type Payload = { readonly json: string } | { readonly binary: Uint8Array }

/** A client's binary "user broadcast push" (kind 3). */
export interface BroadcastPush {
  readonly joinRef: string | null
  readonly ref: string | null
  readonly topic: string
  readonly event: string
  /** JSON object text, or "" when the client sent none. */
  readonly meta: string
  readonly payload: Payload
}

export type Incoming =
  | { readonly _tag: "Frame"; readonly frame: Frame }
  | { readonly _tag: "BroadcastPush"; readonly push: BroadcastPush }

const userBroadcastPush = 3
const userBroadcast = 4
const binaryEncoding = 0
const jsonEncoding = 1

const utf8 = new TextDecoder("utf-8", { fatal: true })
const encoder = new TextEncoder()

const refOf = (value: unknown): string | null =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : null

const frameOf = (joinRef: unknown, ref: unknown, topic: unknown, event: unknown, payload: unknown) =>
  typeof topic === "string" && typeof event === "string"
    ? ({ joinRef: refOf(joinRef), ref: refOf(ref), topic, event, payload: payload ?? {} } satisfies Frame)
    : undefined

const decodeBroadcastPush = (bytes: Uint8Array): BroadcastPush | undefined => {
  if (bytes.length < 7 || bytes[0] !== userBroadcastPush) return undefined
  const [, joinRefSize, refSize, topicSize, eventSize, metaSize, encoding] = bytes as unknown as Array<number>
  let offset = 7
  const take = (size: number) => {
    const part = bytes.subarray(offset, offset + size)
    offset += size
    return utf8.decode(part)
  }
  if (7 + joinRefSize! + refSize! + topicSize! + eventSize! + metaSize! > bytes.length) return undefined
  const joinRef = take(joinRefSize!)
  const ref = take(refSize!)
  const topic = take(topicSize!)
  const event = take(eventSize!)
  const meta = take(metaSize!)
  const body = bytes.slice(offset)
  if (encoding === jsonEncoding) {
    const json = utf8.decode(body)
    JSON.parse(json)
    return { joinRef: joinRef || null, ref: ref || null, topic, event, meta, payload: { json } }
  }
  if (encoding !== binaryEncoding) return undefined
  return { joinRef: joinRef || null, ref: ref || null, topic, event, meta, payload: { binary: body } }
}

/** Reads one client frame; undefined when it is not one this version understands. */
export const decode = (vsn: Vsn, data: ArrayBuffer, isBinary: boolean): Incoming | undefined => {
  try {
    if (isBinary) {
      if (vsn !== "2.0.0") return undefined
      const push = decodeBroadcastPush(new Uint8Array(data))
      return push === undefined ? undefined : { _tag: "BroadcastPush", push }
    }
    const value: unknown = JSON.parse(utf8.decode(new Uint8Array(data)))
    const frame =
      vsn === "2.0.0"
        ? Array.isArray(value) && value.length === 5
          ? frameOf(value[0], value[1], value[2], value[3], value[4])
          : undefined
        : typeof value === "object" && value !== null && !Array.isArray(value)
          ? frameOf(
              (value as Record<string, unknown>)["join_ref"],
              (value as Record<string, unknown>)["ref"],
              (value as Record<string, unknown>)["topic"],
              (value as Record<string, unknown>)["event"],
              (value as Record<string, unknown>)["payload"],
            )
          : undefined
    return frame === undefined ? undefined : { _tag: "Frame", frame }
  } catch {
    return undefined
  }
}

export const encode = (vsn: Vsn, frame: Frame): string =>
  vsn === "2.0.0"
    ? JSON.stringify([frame.joinRef, frame.ref, frame.topic, frame.event, frame.payload])
    : JSON.stringify({
        join_ref: frame.joinRef,
        ref: frame.ref,
        topic: frame.topic,
        event: frame.event,
        payload: frame.payload,
      })

/**
 * A server push whose payload is already JSON text, so text shared by many frames (a row change)
 * is serialized once.
 */
export const encodeRaw = (vsn: Vsn, topic: string, event: string, payloadJson: string): string =>
  vsn === "2.0.0"
    ? `[null,null,${JSON.stringify(topic)},${JSON.stringify(event)},${payloadJson}]`
    : `{"join_ref":null,"ref":null,"topic":${JSON.stringify(topic)},"event":${JSON.stringify(event)},"payload":${payloadJson}}`

export interface Encoded {
  readonly data: string | Uint8Array
  readonly binary: boolean
}

const base64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/**
 * A broadcast as its receivers get it: vsn 2.0.0 as a binary "user broadcast" (kind 4), unless a
 * name is too long for its one-byte length; vsn 1.0.0 as JSON, where raw bytes travel as base64
 * (1.0.0 has no binary frames).
 */
export const encodeBroadcast = (
  vsn: Vsn,
  topic: string,
  event: string,
  payload: Payload,
  meta = "",
): Encoded => {
  if (vsn === "2.0.0") {
    const topicBytes = encoder.encode(topic)
    const eventBytes = encoder.encode(event)
    const metaBytes = encoder.encode(meta)
    if (topicBytes.length <= 255 && eventBytes.length <= 255 && metaBytes.length <= 255) {
      const body = "json" in payload ? encoder.encode(payload.json) : payload.binary
      const header = 5
      const out = new Uint8Array(
        header + topicBytes.length + eventBytes.length + metaBytes.length + body.length,
      )
      out[0] = userBroadcast
      out[1] = topicBytes.length
      out[2] = eventBytes.length
      out[3] = metaBytes.length
      out[4] = "json" in payload ? jsonEncoding : binaryEncoding
      let offset = header
      for (const part of [topicBytes, eventBytes, metaBytes, body]) {
        out.set(part, offset)
        offset += part.length
      }
      return { data: out, binary: true }
    }
  }
  const body = "json" in payload ? payload.json : JSON.stringify(base64(payload.binary))
  const metaPart = meta === "" ? "" : `,"meta":${meta}`
  return {
    data: encodeRaw(
      vsn,
      topic,
      "broadcast",
      `{"type":"broadcast","event":${JSON.stringify(event)},"payload":${body}${metaPart}}`,
    ),
    binary: false,
  }
}
