// `npm run bench`: every workload beside the floor it is compared with, measured in one run on this
// machine, written to bench/results/. Ratios matter, not absolute numbers: load generator and
// server share the machine's cores.
import { randomBytes, randomUUID } from "node:crypto"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Exit, Layer, Scope } from "effect"
import pg from "pg"
import { Bus } from "../bus/Bus.ts"
import * as MemoryBus from "../bus/MemoryBus.ts"
import * as System from "../contracts/system.ts"
import { apiKey } from "../platform/jwt/Jwt.ts"
import { migrate } from "../platform/migrate/Migrations.ts"
import { packageRoot } from "../platform/paths.ts"
import * as Embedded from "../platform/postgres/Embedded.ts"
import * as Postgres from "../platform/postgres/Postgres.ts"
import * as SystemWorker from "../services/system/Worker.ts"
import { appMigrations, dataApi } from "./data.ts"
import { realtimeFanOut, realtimeMigrations } from "./realtime.ts"
import { storageBench } from "./storage.ts"
import {
  type Child,
  closedLoop,
  dist,
  machine,
  median,
  paired,
  postgresPids,
  type Row,
  rssMiB,
  startNatsServer,
  startNode,
  wrk,
} from "./support.ts"

const tmp = join(packageRoot, "bench", ".tmp")
const seconds = Number(process.env["BENCH_SECONDS"] ?? 5)
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 5)
/** BENCH_ONLY=data,realtime runs only those parts (http, auth, eventlog, data, realtime, storage, size1). */
const only = process.env["BENCH_ONLY"]?.split(",")
const runs = (part: string) => only === undefined || only.includes(part)
const adminToken = randomBytes(16).toString("hex")
const secret = randomBytes(32).toString("base64url")
const log = (line: string) => process.stdout.write(`${line}\n`)

const rows: Array<Row> = []
const record = (row: Row) => {
  rows.push(row)
  log(
    `  ${row.workload}: ${row.result}${row.ratio === undefined ? "" : ` — ${row.ratio.toFixed(2)}× ${row.floor}`}${row.met === undefined ? "" : row.met ? " (target met)" : " (TARGET MISSED)"}`,
  )
}

const reactorEnv = (databaseUrl: string, extra: Record<string, string> = {}) => ({
  REACTOR_SERVER_BIND: "127.0.0.1:0",
  REACTOR_SERVER_DATA_DIR: join(tmp, `data-${randomUUID()}`),
  REACTOR_DATABASE_URL: databaseUrl,
  REACTOR_AUTH_JWT_SECRET: secret,
  REACTOR_ADMIN_TOKEN: adminToken,
  REACTOR_AUTH_RATE_LIMIT_SIGN_UPS: "0",
  REACTOR_AUTH_RATE_LIMIT_TOKEN: "0",
  ...extra,
})

/**
 * BENCH_CPU_PROF=<dir>: every Reactor process writes a V8 CPU profile there when it stops (Node
 * refuses --cpu-prof in NODE_OPTIONS). What uWS sends outside a JS call (its pub/sub drains) shows
 * there as idle.
 */
const profileDir = process.env["BENCH_CPU_PROF"]
const profileArgs =
  profileDir === undefined || profileDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]

const startReactor = (role: string, env: Record<string, string>) =>
  startNode([...profileArgs, join(packageRoot, "bin", "reactor.js"), "start", "--role", role], {
    env,
    ready:
      role === "gateway" || role === "all"
        ? /listening on http:\/\/[^:]+:\d+/
        : new RegExp(`${role} running`),
  })

const portOf = (child: Child) => Number(/listening on http:\/\/[^:]+:(\d+)/.exec(child.output())![1])

const createDatabase = async (adminUrl: string, name: string) => {
  const client = new pg.Client(adminUrl)
  await client.connect()
  await client.query(`drop database if exists ${name} with (force)`)
  await client.query(`create database ${name}`)
  await client.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

const echoUrl = (port: number) => `http://127.0.0.1:${port}/_admin/echo?message=hi`
const adminHeaders = { authorization: `Bearer ${adminToken}` }

const httpPaths = async (clusterUrl: string, nats: { url: string }) => {
  log(`HTTP request path (wrk, 1 thread, 64 connections; floor and workload alternated ${rounds} times)`)
  const rawPort = await Embedded.freePort()
  const raw = await startNode([dist("bench", "floors", "rawUws.js"), String(rawPort)], { ready: /listening/ })
  const single = await startReactor("all", reactorEnv(await createDatabase(clusterUrl, "bench_single")))
  const memory = paired(
    rounds,
    () => wrk(`http://127.0.0.1:${rawPort}/`, { seconds }),
    () => wrk(echoUrl(portOf(single)), { seconds, headers: adminHeaders }),
  )
  await raw.stop()
  record({
    workload: "(a) raw uWS hello",
    result: `${memory.floor.requestsPerSecond.toFixed(0)} req/s, p99 ${memory.floor.p99Ms} ms`,
  })
  record({
    workload: "(b) gateway → in-memory bus → echo handler",
    result: `${memory.workload.requestsPerSecond.toFixed(0)} req/s, p99 ${memory.workload.p99Ms} ms, ${memory.workload.errors} errors`,
    floor: "raw uWS",
    ratio: memory.ratio,
    target: "≥ 0.5",
    met: memory.ratio >= 0.5,
  })

  const responder = await startNode([dist("bench", "floors", "rawNatsResponder.js"), nats.url], {
    ready: /listening/,
  })
  const natsPort = await Embedded.freePort()
  const rawNats = await startNode([dist("bench", "floors", "rawUwsNats.js"), String(natsPort), nats.url], {
    ready: /listening/,
  })
  const fleetEnv = reactorEnv(await createDatabase(clusterUrl, "bench_fleet"), {
    REACTOR_BUS_URL: nats.url,
    REACTOR_BUS_PREFIX: "bench",
  })
  const worker = await startReactor("auth", fleetEnv)
  const gateway = await startReactor("gateway", fleetEnv)
  const fleet = paired(
    rounds,
    () => wrk(`http://127.0.0.1:${natsPort}/`, { seconds }),
    () => wrk(echoUrl(portOf(gateway)), { seconds, headers: adminHeaders }),
  )
  await rawNats.stop()
  await responder.stop()
  await gateway.stop()
  await worker.stop()
  record({
    workload: "(c0) raw uWS → NATS request → raw responder process",
    result: `${fleet.floor.requestsPerSecond.toFixed(0)} req/s, p99 ${fleet.floor.p99Ms} ms`,
  })
  record({
    workload: "(c) gateway → NATS bus → echo worker process",
    result: `${fleet.workload.requestsPerSecond.toFixed(0)} req/s, p99 ${fleet.workload.p99Ms} ms, ${fleet.workload.errors} errors`,
    floor: "raw uWS→NATS→responder",
    ratio: fleet.ratio,
  })
  rows.push({
    workload: "(c) against (a)",
    result: "",
    floor: "raw uWS",
    ratio: fleet.workload.requestsPerSecond / memory.floor.requestsPerSecond,
  })
  return single
}

const eventLog = async (clusterUrl: string) => {
  log("Event-log append, 8 clients")
  const url = await createDatabase(clusterUrl, "bench_append")
  await Effect.runPromise(migrate({ url }))
  const setup = new pg.Client(url)
  await setup.connect()
  await setup.query(
    "create table bench_rows (id bigserial primary key, note text not null, at timestamptz not null default now())",
  )
  await setup.query(
    "create table bench_events (position bigserial primary key, stream_id text not null, data jsonb not null, at timestamptz not null default now())",
  )
  await setup.end()
  const clients = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const c = new pg.Client(url)
      await c.connect()
      return c
    }),
  )
  const raw = await closedLoop(8, seconds, async (w, i) => {
    const c = clients[w]!
    await c.query("begin")
    await c.query("insert into bench_rows (note) values ($1)", [`n${i}`])
    await c.query("insert into bench_events (stream_id, data) values ($1, $2)", [
      `s-${w}-${i}`,
      { note: `n${i}` },
    ])
    await c.query("commit")
  })
  await Promise.all(clients.map((c) => c.end()))
  record({
    workload: "(d0) raw pg: insert row + event row per transaction",
    result: `${raw.toFixed(0)} tx/s`,
  })

  const scope = Effect.runSync(Scope.make())
  const ours = await Effect.runPromise(
    Effect.gen(function* () {
      const postgres = yield* Postgres.make(url, 8)
      const bus = yield* MemoryBus.make()
      yield* Layer.buildWithScope(
        SystemWorker.layer.pipe(
          Layer.provide(Layer.mergeAll(Layer.succeed(Postgres.Postgres, postgres), Layer.succeed(Bus, bus))),
        ),
        yield* Effect.scope,
      )
      return yield* Effect.promise(() =>
        closedLoop(8, seconds, (_, i) =>
          Effect.runPromise(
            bus.send(System.Append, { note: `n${i}` }, { meta: { requestId: randomUUID() } }),
          ),
        ),
      )
    }).pipe(Scope.provide(scope)),
  )
  await Effect.runPromise(Scope.close(scope, Exit.void))
  record({
    workload: "(d) event-log append through the command path (bus → worker → command log + event)",
    result: `${ours.toFixed(0)} commands/s`,
    floor: "raw pg",
    ratio: ours / raw,
    target: "≥ 0.6",
    met: ours / raw >= 0.6,
  })
}

const auth = async (single: Child) => {
  log("Auth over HTTP, 8 clients (argon2id dominates)")
  const base = `http://127.0.0.1:${portOf(single)}/auth/v1`
  const anonKey = await Effect.runPromise(apiKey(secret, "anon", "local"))
  const headers = { apikey: anonKey, "content-type": "application/json" }
  const password = "benchmark password"
  const signUps = await closedLoop(8, seconds, async () => {
    const r = await fetch(`${base}/signup`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password }),
    })
    if (r.status !== 200) throw new Error(`sign-up answered ${r.status}: ${await r.text()}`)
  })
  record({ workload: "(e) sign-ups", result: `${signUps.toFixed(1)} /s` })
  const emails = Array.from({ length: 16 }, () => `login-${randomUUID()}@example.com`)
  for (const email of emails) {
    await fetch(`${base}/signup`, { method: "POST", headers, body: JSON.stringify({ email, password }) })
  }
  const logins = await closedLoop(8, seconds, async (_, i) => {
    const r = await fetch(`${base}/token?grant_type=password`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email: emails[i % emails.length], password }),
    })
    if (r.status !== 200) throw new Error(`login answered ${r.status}: ${await r.text()}`)
  })
  record({ workload: "(e) password logins", result: `${logins.toFixed(1)} /s` })
}

const sizeOne = async () => {
  log("Size 1: start (data directory initialised) and idle memory")
  const dataDir = join(tmp, "size1")
  const env = { REACTOR_SERVER_BIND: "127.0.0.1:0", REACTOR_SERVER_DATA_DIR: dataDir }
  await (await startReactor("all", env)).stop()
  const times: Array<number> = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    const child = await startReactor("all", env)
    times.push(performance.now() - started)
    if (i === 4) {
      await new Promise((r) => setTimeout(r, 3_000))
      const node = rssMiB(child.process.pid!)
      const postgres = postgresPids(join(dataDir, "postgres")).reduce((sum, pid) => sum + rssMiB(pid), 0)
      record({
        workload: "size-1 idle RSS",
        result: `${(node + postgres).toFixed(0)} MiB (Node ${node.toFixed(0)} + Postgres ${postgres.toFixed(0)})`,
      })
    }
    await child.stop()
  }
  const startMs = median(times)
  record({
    workload: "size-1 start to listening (median of 5, process spawn included)",
    result: `${startMs.toFixed(0)} ms`,
    target: "< 1000 ms",
    met: startMs < 1000,
  })
}

const report = (info: ReturnType<typeof machine>) => {
  const date = new Date().toISOString()
  const table = [
    "| workload | result | ratio | target |",
    "|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.workload} | ${r.result} | ${r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}× ${r.floor}`} | ${r.target === undefined ? "" : `${r.target} ${r.met ? "✓" : "✗"}`} |`,
    ),
  ].join("\n")
  const markdown = `# Benchmark run ${date}\n\nMachine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, Linux ${info.kernel}, Node ${info.node}, ${info.natsServer}, ${info.wrk}.\nLoad generator and servers share the cores; compare ratios, not absolute numbers. Each HTTP figure: wrk, 1 thread, 64 connections, ${seconds} s after a 2 s warm-up; a floor and its workload are run alternately ${rounds} times, and the figures are the medians (ratio: median of the back-to-back pairs' ratios).\n\n${table}\n`
  const dir = join(packageRoot, "bench", "results")
  mkdirSync(dir, { recursive: true })
  // A run of some parts only (BENCH_ONLY) does not replace the full run's results.
  const name = only === undefined ? "latest" : `partial-${only.join("-")}`
  writeFileSync(join(dir, `${name}.md`), markdown)
  writeFileSync(
    join(dir, `${name}.json`),
    `${JSON.stringify({ date, machine: info, seconds, rows }, null, 2)}\n`,
  )
  log(`\n${markdown}\nwritten to bench/results/${name}.md and ${name}.json`)
}

const main = async () => {
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  const info = machine()
  log(`Reactor benchmark on ${info.cpu} (${info.cores} cores), Node ${info.node}`)
  const scope = Effect.runSync(Scope.make())
  const nats = await startNatsServer(join(tmp, "nats"))
  try {
    const cluster = await Effect.runPromise(
      Scope.provide(Embedded.start({ dataDir: join(tmp, "cluster"), port: 0 }), scope),
    )
    const anonKey = await Effect.runPromise(apiKey(secret, "anon", "local"))
    if (runs("http")) {
      const single = await httpPaths(cluster.url, nats)
      if (runs("auth")) await auth(single)
      await single.stop()
    }
    if (runs("eventlog")) await eventLog(cluster.url)
    if (runs("data"))
      await dataApi({
        tmp,
        seconds,
        rounds,
        anonKey,
        createDatabase: (name) => createDatabase(cluster.url, name),
        record,
        log,
        start: async (topology, databaseUrl) => {
          const env = reactorEnv(databaseUrl, {
            REACTOR_DATABASE_APP_MIGRATIONS: appMigrations,
            // As many connections as the raw pg floor has, so both run at the same concurrency.
            REACTOR_DATABASE_POOL_SIZE: "32",
            ...(topology === "single" ? {} : { REACTOR_BUS_URL: nats.url, REACTOR_BUS_PREFIX: "benchdata" }),
          })
          const children =
            topology === "single"
              ? [await startReactor("all", env)]
              : [
                  await startReactor("data", env),
                  await startReactor("auth", env),
                  await startReactor("gateway", env),
                ]
          const gateway = children[children.length - 1]!
          return {
            port: portOf(gateway),
            stop: async () => {
              for (const child of children.reverse()) await child.stop()
            },
          }
        },
      })
    if (runs("realtime")) {
      const databaseUrl = await createDatabase(cluster.url, "bench_realtime")
      await realtimeFanOut({
        seconds,
        subscribers: Number(process.env["BENCH_SUBSCRIBERS"] ?? 10_000),
        teams: 100,
        rate: 1_000,
        secret,
        anonKey,
        databaseUrl,
        record,
        log,
        // BENCH_REALTIME_TOPOLOGY=decomposed: gateway, data and auth as processes over JetStream, so
        // the relay and its Postgres round trips leave the gateway's thread.
        topology: process.env["BENCH_REALTIME_TOPOLOGY"] === "decomposed" ? "decomposed" : "single",
        startReactor: async () => {
          const env = reactorEnv(databaseUrl, { REACTOR_DATABASE_APP_MIGRATIONS: realtimeMigrations })
          if (process.env["BENCH_REALTIME_TOPOLOGY"] !== "decomposed") {
            const child = await startReactor("all", env)
            return { port: portOf(child), stop: child.stop }
          }
          const fleet = { ...env, REACTOR_BUS_URL: nats.url, REACTOR_BUS_PREFIX: "benchrt" }
          const children = [
            await startReactor("data", fleet),
            await startReactor("auth", fleet),
            await startReactor("gateway", fleet),
          ]
          return {
            port: portOf(children[2]!),
            stop: async () => {
              for (const child of children.reverse()) await child.stop()
            },
          }
        },
      })
    }
    if (runs("storage")) {
      let databases = 0
      await storageBench({
        tmp,
        seconds,
        rounds,
        serviceKey: await Effect.runPromise(apiKey(secret, "service_role", "local")),
        record,
        log,
        start: async (env) => {
          const databaseUrl = await createDatabase(cluster.url, `bench_storage_${++databases}`)
          const child = await startReactor(
            "all",
            // Room for the gigabyte the workload moves.
            reactorEnv(databaseUrl, { REACTOR_STORAGE_FILE_SIZE_LIMIT: String(4 * 1024 ** 3), ...env }),
          )
          return { port: portOf(child), pid: child.process.pid!, output: child.output, stop: child.stop }
        },
      })
    }
    if (runs("size1")) await sizeOne()
    report(info)
  } finally {
    await nats.stop()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
