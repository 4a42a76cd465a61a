// A WebSocket client that does only what the realtime bench needs, on a bare TCP socket. The
// instrument must cost less than what it measures: with `ws`, ten thousand sockets at 100,000
// messages a second took more of this machine than the server sending them, and the raw uWS
// floor fell behind at twice that rate because its clients did. What this leaves out, and the
// bench does not need: fragmented messages (uWS sends these frames whole), compression, TLS,
// close handshakes.
import { randomBytes } from "node:crypto"
import { connect } from "node:net"

export interface LeanSocket {
  readonly send: (text: string) => void
  readonly close: () => void
}

/** A client frame: masked, as RFC 6455 requires of every frame a client sends. */
const frame = (opcode: number, payload: Buffer): Buffer => {
  const length = payload.length
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const out = Buffer.allocUnsafe(head + 4 + length)
  out[0] = 0x80 | opcode
  if (length < 126) out[1] = 0x80 | length
  else if (length < 65_536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(length, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeBigUInt64BE(BigInt(length), 2)
  }
  const mask = randomBytes(4)
  mask.copy(out, head)
  for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i]! ^ mask[i & 3]!
  return out
}

/**
 * Where every socket's reads land (net's `onread`): no Buffer and no stream event per read, which
 * were most of this process's time. One is enough, as each read is handled before the next
 * begins; what a read leaves of a partial frame is copied out.
 */
const received = Buffer.allocUnsafe(256 * 1024)

/**
 * Opens `url` (ws://) and calls `onMessage` with each text or binary message's payload. The
 * payload is a view into the received bytes: read it before returning.
 */
export const openLeanSocket = (url: string, onMessage: (payload: Buffer) => void): Promise<LeanSocket> =>
  new Promise((resolve, reject) => {
    const target = new URL(url)
    const socket = connect({
      host: target.hostname,
      port: Number(target.port),
      noDelay: true,
      onread: {
        buffer: received,
        callback: (length) => {
          onData(received.subarray(0, length))
          return true
        },
      },
    })
    const lean: LeanSocket = {
      send: (text) => socket.write(frame(1, Buffer.from(text))),
      close: () => socket.destroy(),
    }
    let upgraded = false
    let pending: Buffer | undefined
    const frames = (buffer: Buffer) => {
      let at = 0
      while (buffer.length - at >= 2) {
        const opcode = buffer[at]! & 15
        let length = buffer[at + 1]! & 127
        let head = 2
        if (length === 126) {
          if (buffer.length - at < 4) break
          length = buffer.readUInt16BE(at + 2)
          head = 4
        } else if (length === 127) {
          if (buffer.length - at < 10) break
          length = Number(buffer.readBigUInt64BE(at + 2))
          head = 10
        }
        if (buffer.length - at < head + length) break
        const payload = buffer.subarray(at + head, at + head + length)
        if (opcode === 9) socket.write(frame(10, Buffer.from(payload)))
        else if (opcode === 8) socket.destroy()
        else if (opcode === 1 || opcode === 2) onMessage(payload)
        at += head + length
      }
      pending = at < buffer.length ? Buffer.from(buffer.subarray(at)) : undefined
    }
    const onData = (chunk: Buffer) => {
      const buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk])
      if (upgraded) return frames(buffer)
      const end = buffer.indexOf("\r\n\r\n")
      if (end < 0) {
        pending = Buffer.from(buffer)
        return
      }
      const status = buffer.subarray(0, buffer.indexOf("\r\n")).toString()
      if (!/^HTTP\/1\.1 101 /.test(status)) {
        socket.destroy()
        return reject(new Error(`${url}: ${status}`))
      }
      upgraded = true
      resolve(lean)
      frames(buffer.subarray(end + 4))
    }
    socket.on("error", reject)
    socket.on("connect", () =>
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      ),
    )
  })
