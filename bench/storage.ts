// The Storage workloads of `npm run bench`: large uploads and downloads through the gateway against
// the same bytes moved without it (a raw file copy on disk; a PUT and GET straight to the S3
// server), curl and cp moving every byte on both sides, the gateway process's peak RSS growth
// while they stream, and 4 KB uploads per second. On disk, also against bare uWS moving the body
// to and from a file (bench/floors/rawUwsFile.ts), for how much of the gap HTTP itself makes.
import { spawn } from "node:child_process"
import { accessSync, constants, writeFileSync } from "node:fs"
import { open, rm } from "node:fs/promises"
import { join } from "node:path"
import { reactorEnv, type S3Server, startS3rver } from "../platform/blobs/LocalS3.ts"
import { freePort } from "../platform/postgres/Embedded.ts"
import { dist, median, type Row, rssMiB, startNode, wrk } from "./support.ts"

export interface StorageBenchOptions {
  readonly tmp: string
  readonly seconds: number
  readonly rounds: number
  /** Starts Reactor (one process) with `env` added; returns its port, its pid and a stop. */
  readonly start: (
    env: Record<string, string>,
  ) => Promise<{ port: number; pid: number; output: () => string; stop: () => Promise<void> }>
  readonly serviceKey: string
  readonly record: (row: Row) => void
  readonly log: (line: string) => void
}

const mib = 1024 * 1024

/**
 * Runs a command (curl, cp) to its end; the seconds it took. Every big transfer, through the
 * gateway and around it, is made by the same C tools, so no floor or workload pays for a Node client.
 */
const timed = (command: string, args: ReadonlyArray<string>) =>
  new Promise<number>((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", reject)
    child.on("exit", (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - started) / 1e9)
        : reject(new Error(`${command} ${args.join(" ")} exited with ${code}: ${stderr}`)),
    )
  })

/** curl, failing on an HTTP error; `--fail-with-body` keeps the answer for the message. */
const curl = (args: ReadonlyArray<string>) =>
  timed("curl", ["--silent", "--show-error", "--fail-with-body", ...args])

/** `megabytes` MiB of a repeating pattern, read by the clients from the page cache. */
const sourceFile = async (tmp: string, megabytes: number) => {
  const path = join(tmp, `source-${megabytes}.bin`)
  const chunk = Buffer.alloc(mib)
  for (let i = 0; i < mib; i++) chunk[i] = (i * 31 + 7) & 0xff
  const handle = await open(path, "w")
  for (let i = 0; i < megabytes; i++) await handle.write(chunk)
  await handle.close()
  return path
}

/** Peak RSS above the level when it started, while `work` runs; sampled every 20 ms. */
const peakGrowth = async (pid: number, work: () => Promise<unknown>) => {
  const base = rssMiB(pid)
  let peak = base
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid))
  }, 20)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  return Math.max(0, Math.max(peak, rssMiB(pid)) - base)
}

const dropCaches = "/proc/sys/vm/drop_caches"

/** Whether this process may drop the page cache (root on Linux). */
const mayDropCaches = (() => {
  try {
    accessSync(dropCaches, constants.W_OK)
    return true
  } catch {
    return false
  }
})()

/**
 * Before every timed transfer, floor or workload: writes back every dirty page, since a copy or
 * upload that starts while the last one's gigabyte is still being written out is throttled by the
 * kernel, then drops the clean page cache where it may. This machine is a VM whose memory the host
 * backs only when first touched: a gigabyte copied into pages never used before ran anywhere from
 * 320 to 880 MiB/s, into pages just freed at ~930 (bench/results/2026-12-08a-adhoc.md), so without
 * the drop each transfer ran at the speed of whichever pages were left. After it, every transfer
 * reads its source from disk (4 GiB/s here) and writes into memory used before.
 */
const settle = async () => {
  await timed("sync", [])
  if (mayDropCaches) writeFileSync(dropCaches, "1")
}

const syncFile = async (path: string) => {
  const handle = await open(path, "r+")
  await handle.sync()
  await handle.close()
}

interface Floor {
  readonly name: string
  /** Seconds to store `file` without the gateway. */
  readonly put: (file: string) => Promise<number>
  /** Seconds to fetch it back. */
  readonly get: () => Promise<number>
  readonly stop: () => Promise<void>
}

/**
 * A raw file copy: `cp` and an fsync for the upload's floor (an upload is durable when answered),
 * `cp` of that file for the download's (a download makes nothing durable; the copy still reads and
 * writes every byte, as the gateway reads the blob and writes the socket).
 */
const diskFloor = (tmp: string): Floor => {
  const stored = join(tmp, "floor.bin")
  const copied = join(tmp, "floor-copy.bin")
  return {
    name: `raw file copy (cp, + fsync for the upload)${mayDropCaches ? ", page cache dropped before each transfer" : ""}`,
    // Each copy goes to a new file, as each upload goes to a new blob: freeing the last one's
    // blocks is not timed. The download's copy is synced and removed after its timing, so its
    // write-back does not land in the next measurement.
    put: async (file) => {
      await rm(stored, { force: true })
      const started = process.hrtime.bigint()
      await timed("cp", [file, stored])
      await syncFile(stored)
      return Number(process.hrtime.bigint() - started) / 1e9
    },
    get: async () => {
      const seconds = await timed("cp", [stored, copied])
      await syncFile(copied)
      await rm(copied, { force: true })
      return seconds
    },
    stop: async () => {
      await rm(stored, { force: true })
      await rm(copied, { force: true })
    },
  }
}

/** One signed PUT and GET straight to the S3 server (curl's SigV4, payload unsigned). */
const s3Floor = (server: S3Server): Floor => {
  const sign = [
    "--aws-sigv4",
    "aws:amz:us-east-1:s3",
    "--user",
    `${server.accessKey}:${server.secretKey}`,
    "-H",
    "x-amz-content-sha256: UNSIGNED-PAYLOAD",
  ]
  const url = (path: string) => `http://${server.host}:${server.port}/${path}`
  return {
    name: "raw PUT and GET to s3rver (curl)",
    put: async (file) => {
      await curl([...sign, "-X", "PUT", "-o", "/dev/null", url("floor")]).catch(() => 0) // exists already
      return curl([...sign, "-T", file, "-o", "/dev/null", url("floor/floor.bin")])
    },
    get: () => curl([...sign, "-o", "/dev/null", url("floor/floor.bin")]),
    stop: async () => {},
  }
}

/** Bare uWS moving a body to and from one file (bench/floors/rawUwsFile.ts), on a port of its own. */
const bareUwsFile = async (tmp: string) => {
  const port = await freePort()
  const child = await startNode(
    [dist("bench", "floors", "rawUwsFile.js"), String(port), join(tmp, "bare.bin")],
    {
      ready: /listening/,
    },
  )
  return { url: `http://127.0.0.1:${port}`, stop: child.stop }
}

export const storageBench = async (options: StorageBenchOptions) => {
  const { record, log } = options
  for (const backend of ["disk", "s3"] as const) {
    // A gigabyte on disk, as the issue asks; s3rver (a test server in Node) is slower, so less.
    const megabytes = backend === "disk" ? 1024 : 256
    log(`Storage, ${backend} (one process; floor: the same bytes without the gateway)`)
    const server = backend === "s3" ? await startS3rver() : undefined
    const reactor = await options.start(server === undefined ? {} : reactorEnv(server, "reactor"))
    const floor = server === undefined ? diskFloor(options.tmp) : s3Floor(server)
    const base = `http://127.0.0.1:${reactor.port}/storage/v1`
    const auth = { authorization: `Bearer ${options.serviceKey}` }
    try {
      await fetch(`${base}/bucket`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ id: "bench", name: "bench", file_size_limit: null }),
      })
      const big = `${base}/object/bench/big.bin`
      const file = await sourceFile(options.tmp, megabytes)
      const bearer = ["-H", `authorization: Bearer ${options.serviceKey}`]
      // With its Content-Length, as storage-js sends a file; chunked from 1e9 bytes, because uWS
      // refuses a Content-Length of ten digits (see the README).
      const chunked = megabytes * mib >= 1e9 ? ["-H", "transfer-encoding: chunked"] : []
      const upload = () =>
        curl([
          ...bearer,
          ...["-H", "content-type: application/octet-stream", "-H", "x-upsert: true"],
          ...[...chunked, "-T", file, "-X", "POST", "-o", "/dev/null", big],
        ])
      const download = () => curl([...bearer, "-o", "/dev/null", big])
      const bare = backend === "disk" ? await bareUwsFile(options.tmp) : undefined
      const bareUp: Array<number> = []
      const bareDown: Array<number> = []
      const rounds = Math.max(1, Math.min(options.rounds, 3))
      const up: Array<number> = []
      const upFloor: Array<number> = []
      const down: Array<number> = []
      const downFloor: Array<number> = []
      const upGrowth: Array<number> = []
      const downGrowth: Array<number> = []
      for (let i = 0; i < rounds; i++) {
        await settle()
        upFloor.push(megabytes / (await floor.put(file)))
        await settle()
        let elapsed = 0
        upGrowth.push(await peakGrowth(reactor.pid, async () => (elapsed = await upload())))
        up.push(megabytes / elapsed)
        await settle()
        downFloor.push(megabytes / (await floor.get()))
        await settle()
        downGrowth.push(await peakGrowth(reactor.pid, async () => (elapsed = await download())))
        down.push(megabytes / elapsed)
        if (bare === undefined) continue
        await settle()
        bareUp.push(
          megabytes /
            (await curl([...chunked, "-T", file, "-X", "POST", "-o", "/dev/null", `${bare.url}/up`])),
        )
        await settle()
        bareDown.push(megabytes / (await curl(["-o", "/dev/null", `${bare.url}/down`])))
      }
      await bare?.stop()
      await rm(join(options.tmp, "bare.bin"), { force: true })
      await rm(file, { force: true })
      const size = megabytes >= 1024 ? `${megabytes / 1024} GiB` : `${megabytes} MiB`
      const transfer = (what: string, rates: Array<number>, floors: Array<number>, growth: Array<number>) => {
        const ratio = median(rates.map((x, i) => x / floors[i]!))
        record({
          workload: `(storage) ${size} ${what} through the gateway, ${backend}`,
          result: `${median(rates).toFixed(0)} MiB/s (floor ${median(floors).toFixed(0)} MiB/s), peak RSS growth ${median(growth).toFixed(0)} MiB`,
          floor: floor.name,
          ratio,
          target: "≥ 0.8",
          met: ratio >= 0.8,
        })
      }
      transfer("upload", up, upFloor, upGrowth)
      transfer("download", down, downFloor, downGrowth)
      const beside = (what: string, rates: Array<number>, bares: Array<number>) =>
        record({
          workload: `(storage) ${size} ${what} through the gateway, ${backend}, beside bare uWS to a file`,
          result: `${median(rates).toFixed(0)} MiB/s (bare uWS ${median(bares).toFixed(0)} MiB/s)`,
          floor: "bare uWS and a file, no Reactor",
          ratio: median(rates.map((x, i) => x / bares[i]!)),
        })
      if (bare !== undefined) {
        beside("upload", up, bareUp)
        beside("download", down, bareDown)
      }
      // Small objects: every request a new 4 KB object.
      const script = join(options.tmp, `small-${backend}.lua`)
      writeFileSync(
        script,
        // wrk runs the script twice, seconds apart (warm-up, then the measured run): each run names
        // its own objects from a seed of the time.
        `counter = 0
wrk.method = "POST"
wrk.body = string.rep("x", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
init = function()
  math.randomseed(os.time())
  run = math.random(1000000000)
end
request = function()
  counter = counter + 1
  return wrk.format(nil, "/storage/v1/object/bench/small/" .. run .. "-" .. counter .. ".bin")
end
`,
      )
      const probe = await fetch(`${base}/object/bench/small/probe.bin`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/octet-stream" },
        body: Buffer.alloc(4096, 0x78),
      })
      if (probe.status !== 200)
        throw new Error(`a 4 KB upload answered ${probe.status}: ${await probe.text()}`)
      const small = wrk(`${base}/object/bench/small`, {
        seconds: options.seconds,
        connections: 16,
        script,
        headers: auth,
      })
      if (small.errors > 0)
        log(`    Reactor's last output:\n${reactor.output().split("\n").slice(-15).join("\n")}`)
      record({
        workload: `(storage) 4 KB uploads, 16 connections, ${backend}`,
        result: `${small.requestsPerSecond.toFixed(0)} uploads/s, p99 ${small.p99Ms} ms, ${small.errors} errors`,
      })
    } finally {
      await floor.stop()
      await reactor.stop()
      await server?.stop()
    }
  }
}
