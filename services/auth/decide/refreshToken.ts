// Refresh tokens are HMACs of (session id, generation) under a key derived from the project
// secret, so none is ever stored: the session keeps only its current generation, and a token
// just rotated can be issued again to a concurrent refresh within the reuse interval.
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto"

const keys = new Map<string, Buffer>()
const keyFor = (secret: string) => {
  let key = keys.get(secret)
  if (key === undefined) {
    key = Buffer.from(hkdfSync("sha256", secret, "reactor", "refresh-token", 32))
    keys.set(secret, key)
  }
  return key
}

const mac = (secret: string, session: Buffer, generation: number) => {
  const g = Buffer.alloc(4)
  g.writeUInt32BE(generation)
  return createHmac("sha256", keyFor(secret)).update(session).update(g).digest().subarray(0, 16)
}

const uuidBytes = (uuid: string) => Buffer.from(uuid.replaceAll("-", ""), "hex")
const uuidText = (bytes: Buffer) => {
  const h = bytes.toString("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export const issue = (secret: string, sessionId: string, generation: number): string => {
  const session = uuidBytes(sessionId)
  const g = Buffer.alloc(4)
  g.writeUInt32BE(generation)
  return Buffer.concat([session, g, mac(secret, session, generation)]).toString("base64url")
}

export type Parsed =
  | { readonly _tag: "Valid"; readonly sessionId: string; readonly generation: number }
  | { readonly _tag: "Malformed" }
  | { readonly _tag: "Forged" }

export const parse = (secret: string, token: string): Parsed => {
  if (!/^[A-Za-z0-9_-]{48}$/.test(token)) return { _tag: "Malformed" }
  const bytes = Buffer.from(token, "base64url")
  if (bytes.length !== 36) return { _tag: "Malformed" }
  const session = bytes.subarray(0, 16)
  const generation = bytes.readUInt32BE(16)
  if (!timingSafeEqual(bytes.subarray(20), mac(secret, session, generation))) return { _tag: "Forged" }
  return { _tag: "Valid", sessionId: uuidText(session), generation }
}

export type Decision =
  /** The current token: spend it and issue its successor. */
  | { readonly _tag: "Rotate"; readonly next: number }
  /** The token spent a moment ago (a concurrent refresh): issue the current one again. */
  | { readonly _tag: "Reissue" }
  /** An older token presented again: it was stolen or leaked, so the session ends. */
  | { readonly _tag: "Reused" }
  | { readonly _tag: "Unknown" }

export const decide = (
  session: { readonly generation: number; readonly refreshedAt: Date | null },
  presented: number,
  now: Date,
  reuseIntervalSeconds: number,
): Decision => {
  if (presented === session.generation) return { _tag: "Rotate", next: session.generation + 1 }
  if (presented > session.generation) return { _tag: "Unknown" }
  const sinceRotation =
    session.refreshedAt === null ? Infinity : (now.getTime() - session.refreshedAt.getTime()) / 1000
  if (presented === session.generation - 1 && sinceRotation <= reuseIntervalSeconds)
    return { _tag: "Reissue" }
  return { _tag: "Reused" }
}
