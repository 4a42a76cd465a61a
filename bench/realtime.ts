// The realtime workload of `npm run bench`: 10,000 WebSocket subscribers in 100 teams, an RLS
// policy that lets a user read only its team's rows, and rows committed at a steady rate spread over
// the teams (each change is for the 100 members of its team). Beside it, raw uWS publishing the
// same frames to the same clients. Deliveries per second and commit-to-client latency, at the
// offered rate and then at higher ones until Reactor falls behind.
import { spawn } from "node:child_process"
import { cpus } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import pg from "pg"
import { packageRoot } from "../platform/paths.ts"
import { freePort } from "../platform/postgres/Embedded.ts"
import { pace } from "./realtime/pace.ts"
import { type Child, coresBetween, cpuSeconds, dist, type Row, startNode } from "./support.ts"

export const realtimeMigrations = join(packageRoot, "bench", "fixtures", "realtime")

export interface RealtimeBenchOptions {
  readonly seconds: number
  readonly subscribers: number
  readonly teams: number
  /** Changes per second the target is set at; each reaches subscribers / teams members. */
  readonly rate: number
  readonly secret: string
  readonly anonKey: string
  readonly databaseUrl: string
  /** How Reactor runs, for the report. */
  readonly topology: "single" | "decomposed"
  readonly startReactor: () => Promise<{ readonly port: number; readonly stop: () => Promise<void> }>
  readonly record: (row: Row) => void
  readonly log: (line: string) => void
}

interface Window {
  readonly delivered: number
  readonly p50: number
  readonly p99: number
  /**
   * Cores the machine was busy; of them, the subscribers' process, this one (the writer), and the
   * rest: the server side (Reactor and its Postgres, or raw uWS). Stolen: by the hypervisor.
   */
  readonly cores: {
    readonly busy: number
    readonly clients: number
    readonly writer: number
    readonly server: number
    readonly stolen: number
  }
}

const coresText = ({ cores }: Window) =>
  `machine ${cores.busy.toFixed(2)} of ${cpus().length} cores busy: server ${cores.server.toFixed(2)}, subscribers ${cores.clients.toFixed(2)}, writer ${cores.writer.toFixed(2)}, stolen ${cores.stolen.toFixed(2)}`

/** The subscribers' process, driven by lines on its stdin. */
const subscribers = async (
  url: string,
  count: number,
  teams: number,
  mode: "reactor" | "raw",
  secret: string,
) => {
  const child = spawn(
    process.execPath,
    [dist("bench", "realtime", "subscribers.js"), url, String(count), String(teams), mode],
    {
      env: { ...process.env, BENCH_SECRET: secret },
      stdio: ["pipe", "pipe", "inherit"],
    },
  )
  const lines = createInterface({ input: child.stdout! })
  const next = () =>
    new Promise<Record<string, number>>((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))))
  const ready = await next()
  const measure = async (seconds: number): Promise<Window> => {
    child.stdin!.write("mark\n")
    const pids = [child.pid!, process.pid]
    const before = cpuSeconds(pids)
    const started = performance.now()
    await new Promise((r) => setTimeout(r, seconds * 1000))
    const cores = coresBetween(before, cpuSeconds(pids), (performance.now() - started) / 1000)
    const report = next()
    child.stdin!.write("report\n")
    const { delivered, p50, p99 } = await report
    const [clients = 0, writer = 0] = cores.processes
    return {
      delivered: delivered!,
      p50: p50!,
      p99: p99!,
      cores: {
        busy: cores.busy,
        clients,
        writer,
        server: cores.busy - clients - writer,
        stolen: cores.stolen,
      },
    }
  }
  return { ready, measure, stop: () => child.kill() }
}

/** A rate is held when nearly every offered delivery is made, and soon enough. */
const holds = (seconds: number, r: { readonly offered: number; readonly window: Window }) =>
  r.window.delivered / seconds >= 0.95 * r.offered && r.window.p99 <= 100

const ramp = async (
  label: string,
  options: RealtimeBenchOptions,
  setRate: (rate: number) => void,
  measure: (seconds: number) => Promise<Window>,
) => {
  const perChange = options.subscribers / options.teams
  const results: Array<{ rate: number; offered: number; window: Window }> = []
  const at = async (rate: number) => {
    setRate(rate)
    await new Promise((r) => setTimeout(r, 1_000))
    const window = await measure(options.seconds)
    const offered = rate * perChange
    results.push({ rate, offered, window })
    options.log(
      `  ${label} at ${rate} changes/s: ${(window.delivered / options.seconds).toFixed(0)} of ${offered} deliveries/s, p50 ${window.p50} ms, p99 ${window.p99} ms; ${coresText(window)}`,
    )
    return holds(options.seconds, results.at(-1)!)
  }
  // Up from the target rate while it holds; when the target itself does not, down until a rate
  // does, so the result says how much this machine carries.
  // A rate that did not hold leaves a backlog: the next, lower one is measured once it has drained
  // (nothing delivered for a second, within 30 s), not while the clients still catch up.
  const drained = async () => {
    setRate(0)
    for (let i = 0; i < 30 && (await measure(1)).delivered > 0; i++);
  }
  if (await at(options.rate)) {
    for (const rate of [options.rate * 2, options.rate * 4]) if (!(await at(rate))) break
  } else {
    for (const rate of [options.rate * 0.75, options.rate / 2, options.rate / 4]) {
      await drained()
      if (await at(rate)) break
    }
  }
  setRate(0)
  await new Promise((r) => setTimeout(r, 2_000))
  return results
}

export const realtimeFanOut = async (options: RealtimeBenchOptions) => {
  const { log, record } = options
  log(`Realtime: ${options.subscribers} subscribers in ${options.teams} teams, RLS by team claim`)
  // The floor: raw uWS pub/sub, the same clients and frames.
  const rawPort = await freePort()
  const raw: Child = await startNode([dist("bench", "floors", "rawUwsRealtime.js"), String(rawPort)], {
    ready: /listening/,
    stdin: true,
  })
  const rawClients = await subscribers(
    `ws://127.0.0.1:${rawPort}/`,
    options.subscribers,
    options.teams,
    "raw",
    options.secret,
  )
  const floor = await ramp(
    "raw uWS",
    options,
    (rate) => raw.process.stdin?.write(`rate ${rate} ${options.teams}\n`),
    rawClients.measure,
  )
  rawClients.stop()
  await raw.stop()

  const reactor = await options.startReactor()
  const clients = await subscribers(
    `ws://127.0.0.1:${reactor.port}/realtime/v1/websocket?apikey=${options.anonKey}&vsn=1.0.0`,
    options.subscribers,
    options.teams,
    "reactor",
    options.secret,
  )
  log(`  reactor subscribers: ${JSON.stringify(clients.ready)}`)
  const writer = new pg.Client(options.databaseUrl)
  await writer.connect()
  let stop = () => {}
  let n = 0
  let writing = Promise.resolve()
  const setRate = (rate: number) => {
    stop()
    stop = pace(rate, (due) => {
      const teams = Array.from({ length: due }, () => n++ % options.teams)
      // One statement per tick, its rows committed together; sent_at is stamped just before.
      writing = writing.then(() =>
        writer
          .query(
            "insert into team_items (team_id, note, sent_at) select t, 'x', $2 from unnest($1::int[]) t",
            [teams, Date.now()],
          )
          .then(() => undefined),
      )
    })
  }
  const ours = await ramp("Reactor", options, setRate, clients.measure)
  clients.stop()
  await writer.end()
  await reactor.stop()

  const mine = ours[0]!
  const theirs = floor[0]!
  const offered = mine.offered
  const achieved = mine.window.delivered / options.seconds
  record({
    workload: `(rt c) realtime: ${options.subscribers} subscribers, ${options.teams} teams, ${options.rate} changes/s (${offered} authorized deliveries/s offered), ${options.topology}`,
    result: `${achieved.toFixed(0)} deliveries/s, commit-to-client p50 ${mine.window.p50} ms, p99 ${mine.window.p99} ms, ${coresText(mine.window)} (raw uWS: ${(theirs.window.delivered / options.seconds).toFixed(0)}/s, p99 ${theirs.window.p99} ms, ${coresText(theirs.window)})`,
    floor: "raw uWS publish",
    ratio: achieved / (theirs.window.delivered / options.seconds),
    target: "all offered, p99 < 100 ms",
    met: achieved >= 0.99 * offered && mine.window.p99 < 100,
  })
  const held = ours.filter((r) => holds(options.seconds, r)).sort((a, b) => a.rate - b.rate)
  record({
    workload: `(rt c) highest rate held (≥ 95% delivered, p99 ≤ 100 ms), ${options.topology}`,
    result:
      held.length === 0
        ? "none of the rates tried"
        : `${held.at(-1)!.rate} changes/s (${held.at(-1)!.offered} deliveries/s)`,
  })
}
