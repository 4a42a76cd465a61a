// The Storage workloads of `npm run bench`: large uploads and downloads through the gateway against
// the same bytes moved without it (a file written and read on disk; a PUT and GET to the S3 server),
// the gateway process's peak RSS growth while they stream, and 4 KB uploads per second.
import { createReadStream, createWriteStream, writeFileSync } from "node:fs"
import { open, rm } from "node:fs/promises"
import { join } from "node:path"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Client } from "minio"
import { type S3rver, startS3rver } from "../platform/blobs/LocalS3.ts"
import { median, type Row, rssMiB, wrk } from "./support.ts"

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
const chunk = Buffer.alloc(mib, 0x5a)
/** `megabytes` MiB, generated as they are read: the client holds one chunk at a time. */
const source = (megabytes: number) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < megabytes; i++) yield chunk
    })(),
  )

const seconds = async (work: () => Promise<unknown>) => {
  const started = process.hrtime.bigint()
  await work()
  return Number(process.hrtime.bigint() - started) / 1e9
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

const drain = async (body: AsyncIterable<Uint8Array>) => {
  let bytes = 0
  for await (const part of body) bytes += part.length
  return bytes
}

interface Floor {
  readonly name: string
  readonly put: (megabytes: number) => Promise<void>
  readonly get: () => Promise<number>
  readonly stop: () => Promise<void>
}

const diskFloor = (tmp: string): Floor => {
  const file = join(tmp, "floor.bin")
  return {
    name: "raw file write (fsync) and read",
    put: async (megabytes) => {
      await pipeline(source(megabytes), createWriteStream(file))
      const handle = await open(file, "r+")
      await handle.sync()
      await handle.close()
    },
    get: () => drain(createReadStream(file)),
    stop: () => rm(file, { force: true }),
  }
}

const s3Floor = (server: S3rver): Floor => {
  // One streamed PUT per object (no multipart): the rawest write s3rver takes.
  const client = new Client({
    partSize: 5 * 1024 ** 3,
    endPoint: "127.0.0.1",
    port: server.port,
    useSSL: false,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    pathStyle: true,
    region: "us-east-1",
  })
  return {
    name: "raw PUT and GET to s3rver",
    put: async (megabytes) => {
      if (!(await client.bucketExists("floor"))) await client.makeBucket("floor", "us-east-1")
      await client.putObject("floor", "floor.bin", source(megabytes), megabytes * mib)
    },
    get: async () => drain(await client.getObject("floor", "floor.bin")),
    stop: async () => {},
  }
}

export const storageBench = async (options: StorageBenchOptions) => {
  const { record, log } = options
  for (const backend of ["disk", "s3"] as const) {
    // A gigabyte on disk, as the issue asks; s3rver (a test server in Node) is slower, so less.
    const megabytes = backend === "disk" ? 1024 : 256
    log(`Storage, ${backend} (one process; floor: the same bytes without the gateway)`)
    const server = backend === "s3" ? await startS3rver() : undefined
    const reactor = await options.start(
      server === undefined
        ? {}
        : {
            REACTOR_STORAGE_BACKEND: "s3",
            REACTOR_STORAGE_S3_ENDPOINT: `http://127.0.0.1:${server.port}`,
            REACTOR_STORAGE_S3_ACCESS_KEY: server.accessKey,
            REACTOR_STORAGE_S3_SECRET_KEY: server.secretKey,
          },
    )
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
      const upload = () =>
        fetch(big, {
          method: "POST",
          headers: { ...auth, "content-type": "application/octet-stream", "x-upsert": "true" },
          body: Readable.toWeb(source(megabytes)) as never,
          duplex: "half",
        } as RequestInit).then(async (r) => {
          if (r.status !== 200) throw new Error(`upload answered ${r.status}: ${await r.text()}`)
        })
      const download = async () => {
        const response = await fetch(big, { headers: auth })
        const bytes = await drain(response.body as unknown as AsyncIterable<Uint8Array>)
        if (bytes !== megabytes * mib) throw new Error(`downloaded ${bytes} bytes of ${megabytes * mib}`)
      }
      const rounds = Math.max(1, Math.min(options.rounds, 3))
      const up: Array<number> = []
      const upFloor: Array<number> = []
      const down: Array<number> = []
      const downFloor: Array<number> = []
      const upGrowth: Array<number> = []
      const downGrowth: Array<number> = []
      for (let i = 0; i < rounds; i++) {
        upFloor.push(megabytes / (await seconds(() => floor.put(megabytes))))
        let elapsed = 0
        upGrowth.push(await peakGrowth(reactor.pid, async () => (elapsed = await seconds(upload))))
        up.push(megabytes / elapsed)
        downFloor.push(megabytes / (await seconds(floor.get)))
        downGrowth.push(await peakGrowth(reactor.pid, async () => (elapsed = await seconds(download))))
        down.push(megabytes / elapsed)
      }
      const ratio = (a: Array<number>, b: Array<number>) => median(a.map((x, i) => x / b[i]!))
      const size = megabytes >= 1024 ? `${megabytes / 1024} GiB` : `${megabytes} MiB`
      const upRatio = ratio(up, upFloor)
      const downRatio = ratio(down, downFloor)
      record({
        workload: `(storage) ${size} upload through the gateway, ${backend}`,
        result: `${median(up).toFixed(0)} MiB/s (floor ${median(upFloor).toFixed(0)} MiB/s), peak RSS growth ${median(upGrowth).toFixed(0)} MiB`,
        floor: floor.name,
        ratio: upRatio,
        target: "≥ 0.8",
        met: upRatio >= 0.8,
      })
      record({
        workload: `(storage) ${size} download through the gateway, ${backend}`,
        result: `${median(down).toFixed(0)} MiB/s (floor ${median(downFloor).toFixed(0)} MiB/s), peak RSS growth ${median(downGrowth).toFixed(0)} MiB`,
        floor: floor.name,
        ratio: downRatio,
        target: "≥ 0.8",
        met: downRatio >= 0.8,
      })
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
