import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { keepFreedHeap } from "./keepFreedHeap.ts"

const run = promisify(execFile)

/**
 * A process that serves itself 256 MiB over HTTP, after a 128 MiB warm-up, and prints the minor
 * page faults of the second transfer: the fresh pages its buffers took from the kernel.
 */
const streamingProcess = (prelude: string) => `
${prelude}
const http = require("node:http")
const chunk = Buffer.alloc(64 * 1024, 1)
const server = http.createServer((req, res) => {
  const chunks = Number(req.url.slice(1))
  res.writeHead(200, { "content-length": String(chunks * chunk.length) })
  let sent = 0
  const pump = () => {
    while (sent < chunks) {
      sent++
      if (!res.write(chunk)) return res.once("drain", pump)
    }
    res.end()
  }
  pump()
})
const get = (chunks) =>
  new Promise((resolve, reject) =>
    http.get("http://127.0.0.1:" + server.address().port + "/" + chunks, (res) => {
      res.on("data", () => {})
      res.on("end", resolve)
    }).on("error", reject),
  )
server.listen(0, "127.0.0.1", async () => {
  await get(2048)
  const before = process.resourceUsage().minorPageFault
  await get(4096)
  process.stdout.write(String(process.resourceUsage().minorPageFault - before))
  server.close()
})`

const faultsWhileStreaming = async (prelude: string) => {
  const { stdout } = await run(process.execPath, ["-e", streamingProcess(prelude)])
  return Number(stdout)
}

describe("keeping freed heap", () => {
  it("lets a process stream 256 MiB over HTTP touching under 8 MiB of fresh pages", async () => {
    // 65,536 pages pass through its buffers. Without keepFreedHeap, glibc handed freed heap back
    // and the same transfer faulted 2,800 to 20,000 pages in.
    const faults = await faultsWhileStreaming(`(${keepFreedHeap})()`)
    expect(faults).toBeGreaterThan(0)
    expect(faults).toBeLessThan(2048)
  }, 60_000)
})
