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
  // The chunk uWS could not take whole yet, and the write offset it started at: the stream waits
  // (paused) until the socket drains. One handler serves every such wait and reads this state,
  // because uWS may keep calling the handler it had when a newer one is registered from inside it
  // (it puts back the handler it was running after the call), so a handler holding its own chunk
  // would write that chunk's stale remainder into the middle of the next one.
  let pending: { readonly chunk: Buffer; readonly offset: number } | undefined
  let ended = false
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
    if (ended) broken()
    else body.resume()
    return true
  }
  body.on("data", (data: Buffer | string) => {
    if (done) return
    const chunk = typeof data === "string" ? Buffer.from(data) : data
    const offset = res.getWriteOffset()
    const [ok, responded] = tryEnd(chunk)
    if (responded) return finish()
    if (ok) return
    pending = { chunk, offset }
    body.pause()
    res.onWritable(onWritable)
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
    if (pending === undefined) broken()
  })
  body.on("error", (error: Error) => {
    Effect.runFork(Effect.logWarning(`response stream failed: ${error.message}`))
    broken()
  })
}
