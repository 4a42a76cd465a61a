// A pass-through stage of a put's pipeline: counts the bytes as they flow, and fails the pipeline
// on the first byte over the limit, so an oversized body is never read to its end. For a body of
// announced size the limit is that size, and ending short of it fails too.
import { Transform, type TransformCallback } from "node:stream"

export class OverLimit extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`)
  }
}

export class Meter extends Transform {
  size = 0

  /** `exact`: the body announced `limit` bytes, so fewer fail the put as more do. */
  constructor(
    private readonly limit: number,
    private readonly exact = false,
  ) {
    // As large a buffer as the sinks behind it, so the meter never turns one chunk into a wait.
    super({ highWaterMark: 4 * 1024 * 1024 })
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.size += chunk.length
    if (this.size > this.limit) return callback(new OverLimit(this.limit))
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback) {
    callback(
      !this.exact || this.size === this.limit
        ? null
        : new Error(`the body ended after ${this.size} of the ${this.limit} bytes it announced`),
    )
  }
}

/**
 * The meter for a put of at most `limit` bytes, exact when the body announced its `size`. An
 * announced size over the limit is refused before a byte is read: OverLimit, the body destroyed
 * as a failed pipeline would leave it.
 */
export const meterFor = (
  body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  limit: number,
  size: number | undefined,
): Meter => {
  if (size === undefined) return new Meter(limit)
  if (size > limit) {
    const stream = body as { destroy?: () => void }
    if (typeof stream.destroy === "function") stream.destroy()
    throw new OverLimit(limit)
  }
  return new Meter(size, true)
}
