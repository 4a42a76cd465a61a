// The Data API workloads of `npm run bench`: single-row inserts and primary-key reads through
// /rest/v1, each beside raw `pg` doing the same statement at the same concurrency, in one process
// and decomposed (gateway, data worker and auth worker as separate processes over NATS).
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import pg from "pg"
import { packageRoot } from "../platform/paths.ts"
import { closedLoop, median, type Row, type WrkResult, wrk } from "./support.ts"

export interface DataBenchOptions {
  readonly tmp: string
  readonly seconds: number
  readonly rounds: number
  readonly anonKey: string
  /** Starts Reactor in a topology against `databaseUrl`; returns its gateway's port and a stop. */
  readonly start: (
    topology: "single" | "decomposed",
    databaseUrl: string,
  ) => Promise<{ readonly port: number; readonly stop: () => Promise<void> }>
  readonly createDatabase: (name: string) => Promise<string>
  readonly record: (row: Row) => void
  readonly log: (line: string) => void
}

export const appMigrations = join(packageRoot, "bench", "fixtures", "migrations")

const pool = async (url: string, size: number) => {
  const clients = await Promise.all(
    Array.from({ length: size }, async () => {
      const client = new pg.Client(url)
      await client.connect()
      return client
    }),
  )
  return { clients, end: () => Promise.all(clients.map((c) => c.end())) }
}

/** Floor and workload alternately, `rounds` times; medians, and the median of pair ratios. */
const alternate = async (
  rounds: number,
  floor: () => Promise<number>,
  workload: () => WrkResult,
): Promise<{ floor: number; workload: WrkResult; ratio: number }> => {
  const floors: Array<number> = []
  const workloads: Array<WrkResult> = []
  for (let i = 0; i < rounds; i++) {
    floors.push(await floor())
    workloads.push(workload())
  }
  return {
    floor: median(floors),
    workload: [...workloads].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[
      Math.floor(workloads.length / 2)
    ]!,
    ratio: median(workloads.map((w, i) => w.requestsPerSecond / floors[i]!)),
  }
}

export const dataApi = async (options: DataBenchOptions) => {
  const { seconds, rounds, record, log } = options
  const postScript = join(options.tmp, "insert.lua")
  writeFileSync(
    postScript,
    `wrk.method = "POST"\nwrk.body = '{"note":"from wrk"}'\nwrk.headers["Content-Type"] = "application/json"\n`,
  )
  const headers = { apikey: options.anonKey, authorization: `Bearer ${options.anonKey}` }

  for (const topology of ["single", "decomposed"] as const) {
    log(`Data API, ${topology === "single" ? "one process" : "decomposed"} (floor: raw pg, same concurrency)`)
    const url = await options.createDatabase(`bench_data_${topology}`)
    const reactor = await options.start(topology, url)
    const base = `http://127.0.0.1:${reactor.port}/rest/v1/items`
    const raw = await pool(url, 32)
    try {
      for (const connections of [8, 32]) {
        const result = await alternate(
          rounds,
          () =>
            closedLoop(connections, seconds, (w, i) =>
              raw.clients[w]!.query({
                name: "bench-insert",
                text: "insert into public.items (note) values ($1)",
                values: [`raw ${i}`],
              }),
            ),
          () => wrk(base, { seconds, connections, script: postScript, headers }),
        )
        const target = topology === "single" ? 0.5 : 0.35
        record({
          workload: `(data a) single-row insert via /rest/v1, ${connections} connections, ${topology}`,
          result: `${result.workload.requestsPerSecond.toFixed(0)} req/s (raw pg ${result.floor.toFixed(0)}/s), p99 ${result.workload.p99Ms} ms, ${result.workload.errors} errors`,
          floor: "raw pg insert",
          ratio: result.ratio,
          target: `≥ ${target}`,
          met: result.ratio >= target,
        })
      }
      const connections = 32
      const read = await alternate(
        rounds,
        () =>
          closedLoop(connections, seconds, (w, i) =>
            raw.clients[w]!.query({
              name: "bench-select",
              text: "select * from public.items where id = $1",
              values: [(i % 1000) + 1],
            }),
          ),
        () => wrk(`${base}?id=eq.500&select=*`, { seconds, connections, headers }),
      )
      record({
        workload: `(data b) primary-key GET via /rest/v1, ${connections} connections, ${topology}`,
        result: `${read.workload.requestsPerSecond.toFixed(0)} req/s (raw pg ${read.floor.toFixed(0)}/s), p99 ${read.workload.p99Ms} ms, ${read.workload.errors} errors`,
        floor: "raw pg select",
        ratio: read.ratio,
        ...(topology === "single" ? { target: "≥ 0.6", met: read.ratio >= 0.6 } : {}),
      })
    } finally {
      await raw.end()
      await reactor.stop()
    }
  }
}
