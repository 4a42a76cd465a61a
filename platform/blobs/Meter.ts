// A pass-through stage of a put's pipeline: counts and hashes the bytes as they flow, and fails
// the pipeline on the first byte over the limit, so an oversized body is never read to its end.
import { createHash } from "node:crypto"
import { Transform, type TransformCallback } from "node:stream"

export class OverLimit extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`)
  }
}

export class Meter extends Transform {
  size = 0
  private readonly hash = createHash("md5")

  constructor(private readonly limit: number) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.size += chunk.length
    if (this.size > this.limit) return callback(new OverLimit(this.limit))
    this.hash.update(chunk)
    callback(null, chunk)
  }

  /** Hex MD5 of everything that passed; call once, after the pipeline finished. */
  md5(): string {
    return this.hash.digest("hex")
  }
}
