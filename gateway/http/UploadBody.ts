// A request body handed to its route as it arrives, for routes that stream it (uploads): the
// socket pauses while the route falls behind and runs again as it reads, so a large body never
// sits in memory.
import { Readable } from "node:stream"
import type { HttpResponse as UwsResponse } from "@trufflesuite/uws-js-unofficial"

export class UploadBody {
  readonly stream: Readable
  /** Every byte has arrived. */
  ended = false
  private paused = false
  private aborted = false

  constructor(private readonly res: UwsResponse) {
    this.stream = new Readable({
      // Up to 1 MiB waits for the route before the socket pauses: fewer pauses, larger writes.
      highWaterMark: 1024 * 1024,
      read: () => this.resume(),
    })
    // The route may not read it yet (it asks the worker first): a client that goes away then
    // destroys an unread stream, which must not become an unhandled 'error' that ends the process.
    this.stream.on("error", () => {})
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

  private take(chunk: ArrayBuffer, isLast: boolean) {
    if (this.aborted || this.stream.destroyed) return
    // The chunk's memory belongs to uWS after this callback: copy it.
    const more = this.stream.push(Buffer.from(new Uint8Array(chunk)))
    if (isLast) {
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
}
