// What names, types and sizes Storage accepts: pure rules, which the worker checks before
// anything is written (an upload's before any byte is stored, in PrepareUpload).
import { randomUUID } from "node:crypto"

/** As Supabase: letters, digits and a few punctuation marks, up to 100 characters. */
export const isBucketId = (id: string) =>
  id.length > 0 && id.length <= 100 && /^[\w!\-.*'() &$@=;:+,?]+$/.test(id)

/**
 * Object names are the app's own and may be any unicode; the bytes are stored under a key Reactor
 * makes up, so a name never becomes a path. Still refused: empty segments, `.` and `..` segments
 * (a client's path joining would resolve them), control characters, and names over 1024 bytes.
 */
export const isObjectName = (name: string) => {
  if (name.length === 0 || Buffer.byteLength(name) > 1024) return false
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\u0000-\u001f\u007f]/.test(name)) return false
  return name.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..")
}

/** `image/*` allows every image type; matching ignores parameters such as `;charset=utf-8`. */
export const mimeAllowed = (allowed: ReadonlyArray<string> | null, mimetype: string) => {
  if (allowed === null || allowed.length === 0) return true
  const type = mimetype.split(";")[0]!.trim().toLowerCase()
  return allowed.some((pattern) => {
    const p = pattern.trim().toLowerCase()
    return p.endsWith("/*") ? type.startsWith(p.slice(0, -1)) : p === type
  })
}

/** The bytes an upload may hold: the bucket's limit within the server's. */
export const uploadLimit = (bucketLimit: number | null, serverLimit: number) =>
  bucketLimit === null ? serverLimit : Math.min(bucketLimit, serverLimit)

/** A fresh key in the blob store, spread over 256 folders. */
export const newBlobKey = () => {
  const id = randomUUID()
  return `${id.slice(0, 2)}/${id}`
}
