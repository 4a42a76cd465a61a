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
 * A body read from a stream, written as the client takes it: when uWS cannot take a chunk
 * (backpressure) the stream pauses until the socket drains, so memory holds one chunk at most.
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
  const finish = () => {
    done = true
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
  // A chunk uWS could not take yet: the stream waits (paused) until the socket drains.
  let pending = false
  let ended = false
  body.on("data", (data: Buffer | string) => {
    if (done) return
    const chunk = typeof data === "string" ? Buffer.from(data) : data
    const offset = res.getWriteOffset()
    const [ok, responded] = tryEnd(chunk)
    if (responded) return finish()
    if (ok) return
    pending = true
    body.pause()
    res.onWritable((at) => {
      if (done) return true
      const [retried, finished] = tryEnd(chunk.subarray(at - offset))
      if (finished) finish()
      else if (retried) {
        pending = false
        if (ended) broken()
        else body.resume()
      }
      return retried
    })
  })
  // A stream that ends short of its length, or fails, cannot be answered any more: close.
  const broken = () => {
    if (done) return
    finish()
    res.close()
  }
  // The last chunk may still wait for the socket when the stream ends: it finishes the answer.
  body.on("end", () => {
    ended = true
    if (!pending) broken()
  })
  body.on("error", (error: Error) => {
    Effect.runFork(Effect.logWarning(`response stream failed: ${error.message}`))
    broken()
  })
}
