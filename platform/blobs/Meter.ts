// A pass-through stage of a put's pipeline: counts the bytes as they flow, and fails the pipeline
// on the first byte over the limit, so an oversized body is never read to its end.
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
