// Response bodies read from a stream and written as the client takes them (uWS's tryEnd and
// onWritable), so a large download never sits in memory.
import type { HttpResponse as UwsResponse } from "@trufflesuite/uws-js-unofficial"
import { Effect } from "effect"
import type { HttpResponse } from "./HttpResponse.ts"

/** Lets a streamed response hear that its client went away. */
export interface AbortHook {
  on: (() => void) | undefined
}

/**
 * Bytes a response reads ahead while its socket drains, before its source is paused: the source
 * (a file, an S3 server's answer) keeps moving while the client catches up, instead of stopping
 * at every chunk the socket could not take whole. On this machine the gain was within its noise
 * (see bench/results); the bound is what matters, and it is kept small.
 */
const readAhead = 8 * 1024 * 1024
/**
 * The read-ahead of all responses together: past it each one pauses as soon as it has a chunk
 * waiting, so a crowd of slow readers cannot make the gateway hold their files in memory.
 */
const readAheadTotal = 64 * 1024 * 1024
let readAheadInUse = 0

/** Bytes all responses hold read ahead now: what the limit above counts. */
export const readAheadHeld = () => readAheadInUse

/**
 * A body read from a stream, written as the client takes it: when uWS cannot take a chunk
 * (backpressure), later chunks queue until the socket drains, and past `readAhead` bytes queued
 * (or once all responses hold `readAheadTotal`) the stream pauses, so memory stays bounded.
 */
export const streamOut = (
  res: UwsResponse,
  source: NonNullable<HttpResponse["stream"]>,
  head: () => void,
  abort: AbortHook | undefined,
) => {
  const { body, length } = source
  let done = false
  let headWritten = false
  // Chunks read while an earlier one waits for the socket (see onWritable), and their bytes.
  const queued: Array<Buffer> = []
  let queuedBytes = 0
  const finish = () => {
    done = true
    readAheadInUse -= queuedBytes
    queued.length = 0
    queuedBytes = 0
    body.destroy()
  }
  if (abort !== undefined) abort.on = finish
  const tryEnd = (chunk: Buffer) => {
    let result: [boolean, boolean] = [false, false]
    res.cork(() => {
      if (!headWritten) {
        headWritten = true
        head()
      }
      result = res.tryEnd(chunk, length)
    })
    return result
  }
  // The chunk uWS could not take whole yet, and the write offset it started at: the chunks after
  // it wait in `queued` until the socket drains. One handler serves every such wait and reads this
  // state, because uWS may keep calling the handler it had when a newer one is registered from
  // inside it (it puts back the handler it was running after the call), so a handler holding its
  // own chunk would write that chunk's stale remainder into the middle of the next one.
  let pending: { readonly chunk: Buffer; readonly offset: number } | undefined
  let paused = false
  let ended = false
  /** Writes `chunk` after everything before it; false when uWS kept some back (now pending). */
  const send = (chunk: Buffer) => {
    const offset = res.getWriteOffset()
    const [ok, responded] = tryEnd(chunk)
    if (responded) {
      finish()
      return false
    }
    if (!ok) pending = { chunk, offset }
    return ok
  }
  const onWritable = (at: number) => {
    if (done || pending === undefined) return true
    const { chunk, offset } = pending
    const [retried, finished] = tryEnd(chunk.subarray(at - offset))
    if (finished) {
      finish()
      return true
    }
    if (!retried) return false
    pending = undefined
    while (queued.length > 0 && !done) {
      const next = queued.shift()!
      queuedBytes -= next.length
      readAheadInUse -= next.length
      if (!send(next)) break
    }
    if (done) return true
    if (pending === undefined && ended) broken()
    // An empty queue resumes whatever the others hold: this response has nothing left to send.
    else if (paused && (queuedBytes === 0 || (queuedBytes < readAhead && readAheadInUse < readAheadTotal))) {
      paused = false
      body.resume()
    }
    return true
  }
  body.on("data", (data: Buffer | string) => {
    if (done) return
    const chunk = typeof data === "string" ? Buffer.from(data) : data
    if (pending !== undefined) {
      queued.push(chunk)
      queuedBytes += chunk.length
      readAheadInUse += chunk.length
      if (!paused && (queuedBytes >= readAhead || readAheadInUse >= readAheadTotal)) {
        paused = true
        body.pause()
      }
      return
    }
    if (!send(chunk) && !done) res.onWritable(onWritable)
  })
  // A stream that ends short of its length, or fails, cannot be answered any more: close.
  const broken = () => {
    if (done) return
    finish()
    res.close()
  }
  // The last chunks may still wait for the socket when the stream ends: they finish the answer.
  body.on("end", () => {
    ended = true
    if (pending === undefined) broken()
  })
  body.on("error", (error: Error) => {
    Effect.runFork(Effect.logWarning(`response stream failed: ${error.message}`))
    broken()
  })
}
