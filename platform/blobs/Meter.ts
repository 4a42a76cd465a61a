// Pass-through stages of a put's pipeline: Meter counts the bytes as they flow and fails the
// pipeline on the first byte over the limit, so an oversized body is never read to its end;
// ExactLength does the same for a body of announced size, and fails one that ends short.
import { Transform, type TransformCallback } from "node:stream"

export class OverLimit extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`)
  }
}

export class Meter extends Transform {
  size = 0

  constructor(private readonly limit: number) {
    // As large a buffer as the sinks behind it, so the meter never turns one chunk into a wait.
    super({ highWaterMark: 4 * 1024 * 1024 })
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.size += chunk.length
    if (this.size > this.limit) return callback(new OverLimit(this.limit))
    callback(null, chunk)
  }
}

/**
 * A pass-through that fails a body longer or shorter than it said: a put of known size stores
 * exactly that many bytes or nothing.
 */
export class ExactLength extends Transform {
  size = 0

  constructor(private readonly expected: number) {
    super({ highWaterMark: 4 * 1024 * 1024 })
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.size += chunk.length
    if (this.size > this.expected) return callback(new OverLimit(this.expected))
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback) {
    callback(
      this.size === this.expected
        ? null
        : new Error(`the body ended after ${this.size} of the ${this.expected} bytes it announced`),
    )
  }
}

/** A body a put refuses before reading it: destroyed, as a failed pipeline would leave it. */
export const discard = (body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>) => {
  const stream = body as { destroy?: () => void }
  if (typeof stream.destroy === "function") stream.destroy()
}
