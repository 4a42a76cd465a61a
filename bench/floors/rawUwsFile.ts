// A second floor for storage on disk, beside `cp`: uWS alone moving a body to and from one file,
// with nothing of Reactor's (no auth, no bus, no Postgres, no stream pipeline). POST /up writes
// the body as it arrives and fsyncs it before answering, as an upload is durable when answered;
// GET /down sends that file back as the socket takes it. How far Reactor is from this, next to
// how far it is from `cp`, says how much of the gap is HTTP over loopback itself.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs"
import { loadUws } from "../../gateway/uws.ts"

const port = Number(process.argv[2])
const file = process.argv[3]!
const uws = loadUws(false)

uws
  .App()
  .post("/up", (res) => {
    const fd = openSync(file, "w")
    let open = true
    const close = () => {
      if (open) closeSync(fd)
      open = false
    }
    res.onAborted(close)
    res.onData((chunk, isLast) => {
      if (!open) return
      // Written before the callback returns: uWS reuses the chunk's memory after it.
      writeSync(fd, new Uint8Array(chunk))
      if (!isLast) return
      fsyncSync(fd)
      close()
      res.cork(() => res.end("stored"))
    })
  })
  .get("/down", (res) => {
    const fd = openSync(file, "r")
    const size = fstatSync(fd).size
    const buffer = Buffer.allocUnsafe(1024 * 1024)
    let open = true
    const close = () => {
      if (open) closeSync(fd)
      open = false
    }
    res.onAborted(close)
    let position = 0
    // The chunk the socket took only in part, and the write offset it started at. One onWritable
    // handler serves every such wait and reads this: uWS puts back the handler it was running
    // after a call, so one registered from inside it would not replace it.
    let pending: { readonly chunk: Buffer; readonly offset: number } | undefined
    let waiting = false
    const onWritable = (at: number) => {
      if (pending === undefined) return true
      const { chunk, offset } = pending
      const [rest, finished] = res.tryEnd(chunk.subarray(at - offset), size)
      if (finished) close()
      if (finished || !rest) return rest || finished
      pending = undefined
      pump()
      return true
    }
    // Sends chunk after chunk until the socket takes one only in part; the buffer is read into
    // again only once that chunk is all sent.
    const pump = () => {
      while (open) {
        const read = readSync(fd, buffer, 0, buffer.length, position)
        position += read
        const chunk = buffer.subarray(0, read)
        const offset = res.getWriteOffset()
        const [sent, done] = res.tryEnd(chunk, size)
        if (done) return close()
        if (sent) continue
        pending = { chunk, offset }
        if (!waiting) res.onWritable(onWritable)
        waiting = true
        return
      }
    }
    res.cork(pump)
  })
  .listen("127.0.0.1", port, (socket) => {
    if (socket) process.stdout.write("listening\n")
  })
