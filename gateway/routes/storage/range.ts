// The Range header of a download (RFC 9110 §14): one byte range, or none. A malformed header or
// several ranges are ignored (the whole object is served), as the RFC allows; a range that starts
// past the end cannot be served (416).
import type { ByteRange } from "../../../platform/blobs/BlobStore.ts"

export const byteRange = (header: string, size: number): ByteRange | "unsatisfiable" | undefined => {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (match === null) return undefined
  const [, first, last] = match as unknown as [string, string, string]
  if (first === "" && last === "") return undefined
  if (first === "") {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return "unsatisfiable"
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1)
  if (last !== "" && Number(last) < start) return undefined
  if (start >= size) return "unsatisfiable"
  return { start, end }
}
