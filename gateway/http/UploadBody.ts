// A request body handed to its route as it arrives, for routes that stream it (uploads): the
// socket pauses while the route falls behind and runs again as it reads, so a large body never
// sits in memory.
import { Readable } from "node:stream"
import type { HttpResponse as UwsResponse } from "@trufflesuite/uws-js-unofficial"
import { recycle } from "../../platform/blobs/Recycling.ts"

const slabSize = 1024 * 1024

/**
 * Slabs given back by the sinks that wrote them (see Recycling.ts), for the next ones to fill:
 * shared by every upload, and at most 32 MiB of them kept.
 */
const spareSlabs: Array<Buffer> = []
const maxSpareSlabs = 32

const takeBack = (chunk: Buffer) => {
  // Only a whole slab of this pool's size, by its own memory: a chunk it did not make is left alone.
  if (chunk.buffer.byteLength !== slabSize || chunk.byteOffset !== 0 || spareSlabs.length >= maxSpareSlabs)
    return
  spareSlabs.push(chunk.length === slabSize ? chunk : Buffer.from(chunk.buffer, 0, slabSize))
}

export class UploadBody {
  readonly stream: Readable
  /** Every byte has arrived. */
  ended = false
  private paused = false
  private aborted = false

  constructor(private readonly res: UwsResponse) {
    this.stream = new Readable({
      // Up to 4 MiB (four slabs) waits for the route before the socket pauses: fewer pauses,
      // larger writes.
      highWaterMark: 4 * slabSize,
      read: () => this.resume(),
    })
    // The route may not read it yet (it asks the worker first): a client that goes away then
    // destroys an unread stream, which must not become an unhandled 'error' that ends the process.
    this.stream.on("error", () => {})
    Object.defineProperty(this.stream, recycle, { value: takeBack })
    res.onData((chunk, isLast) => this.take(chunk, isLast))
  }

  /** The client went away: the route's reading fails. */
  abort() {
    this.aborted = true
    this.stream.destroy(new Error("the client went away"))
  }

  /**
   * The route answered. What it did not read is not wanted, and a paused socket must run again for
   * the answer to leave; answers true when some of the body was left unread (close the connection).
   */
  settle(): boolean {
    const unread = !this.ended
    if (unread) this.stream.destroy()
    this.resume()
    return unread
  }

  private resume() {
    if (!this.paused || this.aborted) return
    this.paused = false
    this.res.resume()
  }

  /**
   * Where chunks gather until a slab's worth is pushed: uWS hands over tens of KB at a time, and
   * a copy of each as its own Buffer costs the garbage collector and every stage downstream (meter,
   * file writes) one trip per chunk.
   */
  private slab: Buffer | undefined
  private filled = 0

  private take(chunk: ArrayBuffer, isLast: boolean) {
    if (this.aborted || this.stream.destroyed) return
    // The chunk's memory belongs to uWS after this callback: copy it, into the slab.
    const bytes = new Uint8Array(chunk)
    let more = true
    for (let offset = 0; offset < bytes.length; ) {
      if (this.slab === undefined) {
        // A body that arrives whole (most small uploads) is pushed as one copy of itself.
        if (isLast && offset === 0) {
          more = this.stream.push(Buffer.from(bytes))
          break
        }
        this.slab = spareSlabs.pop() ?? Buffer.allocUnsafe(slabSize)
        this.filled = 0
      }
      const copied = Math.min(bytes.length - offset, slabSize - this.filled)
      this.slab.set(bytes.subarray(offset, offset + copied), this.filled)
      this.filled += copied
      offset += copied
      if (this.filled === slabSize) more = this.flush()
    }
    if (isLast) {
      this.flush()
      this.ended = true
      // uWS hands over what it had read even while paused: the last chunk may come so, and the
      // socket must run again for the next request on this connection.
      this.resume()
      this.stream.push(null)
    } else if (!more && !this.paused) {
      this.paused = true
      this.res.pause()
    }
  }

  /** Pushes what the slab holds; answers whether the stream wants more. */
  private flush(): boolean {
    const slab = this.slab
    if (slab === undefined) return true
    this.slab = undefined
    return this.stream.push(this.filled === slab.length ? slab : slab.subarray(0, this.filled))
  }
}
