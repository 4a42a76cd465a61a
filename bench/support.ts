// What the benchmark workloads share: child processes, wrk runs, memory readings, the machine.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { cpus, freemem, release, totalmem } from "node:os"
import { join } from "node:path"
import { packageRoot } from "../platform/paths.ts"

export const dist = (...parts: Array<string>) => join(packageRoot, "dist", ...parts)

/** One line of the results table: a workload, and how it compares with its floor. */
export interface Row {
  readonly workload: string
  readonly result: string
  readonly floor?: string
  readonly ratio?: number
  readonly target?: string
  readonly met?: boolean
}

export interface Child {
  readonly process: ChildProcess
  readonly output: () => string
  readonly stop: () => Promise<void>
}

/** Starts `node <script> ...args` and waits until its output matches `ready`. */
export const startNode = async (
  args: ReadonlyArray<string>,
  options: {
    readonly env?: Record<string, string>
    readonly ready: RegExp
    readonly timeoutMs?: number
    /** Keep a pipe to the child's stdin (for floors driven by commands). */
    readonly stdin?: boolean
  },
): Promise<Child> => {
  let output = ""
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
  })
  child.stdout!.on("data", (d) => {
    output += d.toString()
  })
  child.stderr!.on("data", (d) => {
    output += d.toString()
  })
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  while (!options.ready.test(output)) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited:\n${output}`)
    if (Date.now() > deadline) throw new Error(`${args.join(" ")} did not get ready:\n${output}`)
    await new Promise((r) => setTimeout(r, 10))
  }
  return {
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
}

export interface WrkResult {
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
}

const toMs = (value: string) => {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value)
  if (!match) return Number.NaN
  const n = Number(match[1])
  return match[2] === "us" ? n / 1000 : match[2] === "s" ? n * 1000 : n
}

/** wrk with one thread (the other core serves), after a short warm-up. */
export const wrk = (
  url: string,
  options: {
    headers?: Record<string, string>
    seconds?: number
    connections?: number
    /** A wrk Lua script, e.g. one that makes every request a POST with a body. */
    script?: string
  } = {},
): WrkResult => {
  const headers = Object.entries(options.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`])
  const script = options.script === undefined ? [] : ["-s", options.script]
  const run = (seconds: number) =>
    execFileSync(
      "wrk",
      ["-t1", `-c${options.connections ?? 64}`, `-d${seconds}s`, "--latency", ...script, ...headers, url],
      {
        encoding: "utf8",
      },
    )
  run(2)
  const out = run(options.seconds ?? 8)
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "")
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "")
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((s, n) => s + Number(n), 0) : 0)
  return { requestsPerSecond: rps, p50Ms: p50, p99Ms: p99, errors }
}

/** Resident memory of a process, in MiB, from /proc. */
export const rssMiB = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

/** The postmaster serving `clusterDir` and its children (backends, writer, walwriter, ...). */
export const postgresPids = (clusterDir: string): Array<number> => {
  const pids = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
  const cmdline = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
    } catch {
      return ""
    }
  }
  const parent = (pid: number) => {
    try {
      return Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1])
    } catch {
      return -1
    }
  }
  const postmaster = pids.find(
    (pid) => cmdline(pid).includes(`-D ${clusterDir}`) && cmdline(pid).includes("postgres"),
  )
  return postmaster === undefined ? [] : [postmaster, ...pids.filter((pid) => parent(pid) === postmaster)]
}

/**
 * CPU time so far, in seconds: the machine's busy and stolen time over all cores (/proc/stat;
 * "stolen" is time the hypervisor gave other guests while this one wanted to run), and each of
 * `pids`' (/proc/<pid>/stat). Read twice around a window, it says how loaded the machine was.
 */
export const cpuSeconds = (pids: ReadonlyArray<number>) => {
  const tick = 100 // USER_HZ on Linux
  const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const own = (pid: number) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
      return (Number(fields[11]) + Number(fields[12])) / tick
    } catch {
      return 0
    }
  }
  return {
    busy: (user! + nice! + system! + irq! + softirq!) / tick,
    stolen: (steal ?? 0) / tick,
    processes: pids.map(own),
  }
}

/** Cores in use, on average, between two readings `seconds` apart. */
export const coresBetween = (
  before: ReturnType<typeof cpuSeconds>,
  after: ReturnType<typeof cpuSeconds>,
  seconds: number,
) => ({
  busy: (after.busy - before.busy) / seconds,
  stolen: (after.stolen - before.stolen) / seconds,
  processes: after.processes.map((p, i) => (p - before.processes[i]!) / seconds),
})

export const machine = () => ({
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  freeMemoryGiB: Math.round(freemem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  // wrk prints its version with its usage and exits 1.
  wrk: spawnSync("wrk", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]?.trim() ?? "wrk",
  natsServer:
    existsSync("/usr/bin/nats-server") || existsSync("/usr/sbin/nats-server")
      ? execFileSync("nats-server", ["--version"], { encoding: "utf8" }).trim()
      : "missing",
})

/** Runs `workers` copies of `step` back to back for `seconds`; returns completed steps per second. */
export const closedLoop = async (
  workers: number,
  seconds: number,
  step: (worker: number, i: number) => Promise<unknown>,
) => {
  const deadline = Date.now() + seconds * 1000
  let done = 0
  const started = Date.now()
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; Date.now() < deadline; i++) {
        await step(worker, i)
        done++
      }
    }),
  )
  return done / ((Date.now() - started) / 1000)
}

export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** A nats-server with JetStream on a free loopback port, its store under `storeDir`. */
export const startNatsServer = async (storeDir: string) => {
  const { freePort } = await import("../platform/postgres/Embedded.ts")
  const port = await freePort()
  let output = ""
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  child.on("error", () => {})
  child.stderr!.on("data", (d) => {
    output += d.toString()
  })
  const deadline = Date.now() + 10_000
  while (!/Server is ready/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`nats-server did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      await exited
    },
  }
}

export interface Paired {
  readonly floor: WrkResult
  readonly workload: WrkResult
  /** Median over rounds of workload/floor, each pair measured back to back. */
  readonly ratio: number
  readonly rounds: number
}

/**
 * Measures a floor and a workload alternately, round after round. This machine's speed drifts by
 * more than 10% from minute to minute; paired runs back to back see the same drift, so the median
 * of their ratios says how the two compare, which one run of each does not.
 */
export const paired = (rounds: number, floor: () => WrkResult, workload: () => WrkResult): Paired => {
  const floors: Array<WrkResult> = []
  const workloads: Array<WrkResult> = []
  for (let i = 0; i < rounds; i++) {
    floors.push(floor())
    workloads.push(workload())
  }
  const byRate = (results: Array<WrkResult>) =>
    [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(results.length / 2)]!
  return {
    floor: byRate(floors),
    workload: byRate(workloads),
    ratio: median(workloads.map((w, i) => w.requestsPerSecond / floors[i]!.requestsPerSecond)),
    rounds,
  }
}
