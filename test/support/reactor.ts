// Starts Reactor as real OS processes from the compiled CLI (`node bin/reactor.js start`), in either
// topology: one process on the in-memory bus, or decomposed — gateway and auth worker as separate
// processes over NATS JetStream. Tests drive it over HTTP and can kill or restart its processes.
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { apiKey } from "../../platform/jwt/Jwt.ts"
import { packageRoot } from "../../platform/paths.ts"
import { createTestDatabase, type TestDatabase } from "./database.ts"
import { type NatsServer, startNats } from "./nats.ts"

export type TopologyName = "single" | "decomposed"

export interface ReactorProcess {
  readonly role: string
  readonly child: ChildProcess
  readonly output: () => string
}

export interface RunningReactor {
  readonly topology: TopologyName
  readonly url: string
  readonly anonKey: string
  readonly serviceKey: string
  readonly secret: string
  readonly database: TestDatabase
  readonly nats: NatsServer | undefined
  /** The REACTOR_* environment processes start with; change it before startRole to vary one. */
  readonly env: Record<string, string>
  /** The processes by role: "all" in one process; "gateway" and "auth" decomposed. */
  readonly processes: Map<string, ReactorProcess>
  /**
   * Starts another process of a role (a second worker, or one to replace a killed one), kept in
   * `processes` under `name` (default: the role, replacing the one there).
   */
  readonly startRole: (role: string, name?: string) => Promise<ReactorProcess>
  readonly stop: () => Promise<void>
}

export interface StartOptions {
  /** Extra REACTOR_* settings, e.g. { REACTOR_AUTH_RATE_LIMIT_SIGN_UPS: "3" }. */
  readonly env?: Readonly<Record<string, string>>
}

const bin = join(packageRoot, "bin", "reactor.js")

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
export const waitFor = async (
  check: () => boolean | Promise<boolean>,
  what = "the condition",
  timeoutMs = 20_000,
) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** `reactor start --role <role>` as its own process, its output collected. */
export const spawnRole = (role: string, env: Record<string, string>): ReactorProcess => {
  let output = ""
  const child = spawn(process.execPath, [bin, "start", "--role", role], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  child.stdout!.on("data", (chunk) => {
    output += chunk.toString()
  })
  child.stderr!.on("data", (chunk) => {
    output += chunk.toString()
  })
  return { role, child, output: () => output }
}

export const listeningPort = (process: ReactorProcess) =>
  /listening on http:\/\/[^:]+:(\d+)/.exec(process.output())?.[1]

export const stopProcess = async (process: ReactorProcess, signal: NodeJS.Signals = "SIGTERM") => {
  if (process.child.exitCode !== null || process.child.signalCode !== null) return
  const exited = new Promise((resolve) => process.child.once("exit", resolve))
  process.child.kill(signal)
  const timer = setTimeout(() => process.child.kill("SIGKILL"), 10_000)
  await exited
  clearTimeout(timer)
}

export const startReactor = async (
  topology: TopologyName,
  options: StartOptions = {},
): Promise<RunningReactor> => {
  const database = await createTestDatabase()
  const nats = topology === "decomposed" ? await startNats() : undefined
  const dataDir = mkdtempSync(join(tmpdir(), "reactor-run-"))
  const secret = randomBytes(32).toString("base64url")
  const env: Record<string, string> = {
    REACTOR_SERVER_BIND: "127.0.0.1:0",
    REACTOR_SERVER_DATA_DIR: dataDir,
    REACTOR_DATABASE_URL: database.url,
    REACTOR_DATABASE_POOL_SIZE: "4",
    REACTOR_AUTH_JWT_SECRET: secret,
    REACTOR_AUTH_RATE_LIMIT_SIGN_UPS: "0",
    REACTOR_AUTH_RATE_LIMIT_TOKEN: "0",
    REACTOR_AUTH_RATE_LIMIT_ANONYMOUS: "0",
    REACTOR_AUTH_ANONYMOUS_SIGN_INS: "true",
    REACTOR_PROJECT_ID: "test",
    ...(nats === undefined
      ? {}
      : { REACTOR_BUS_URL: nats.url, REACTOR_BUS_PREFIX: `t${randomBytes(4).toString("hex")}` }),
    ...options.env,
  }
  const processes = new Map<string, ReactorProcess>()
  const startRole = async (role: string, name = role) => {
    const started = spawnRole(role, env)
    processes.set(name, started)
    return started
  }
  const roles = topology === "single" ? ["all"] : ["auth", "data", "storage", "gateway"]
  for (const role of roles) await startRole(role)
  const gateway = processes.get(topology === "single" ? "all" : "gateway")!
  try {
    await waitFor(() => {
      if (gateway.child.exitCode !== null) throw new Error(`the gateway exited:\n${gateway.output()}`)
      return listeningPort(gateway) !== undefined
    }, "the gateway to listen")
  } catch (error) {
    for (const p of processes.values()) await stopProcess(p, "SIGKILL")
    throw error
  }
  const url = `http://127.0.0.1:${listeningPort(gateway)}`
  await waitFor(async () => (await fetch(`${url}/ready`).catch(() => undefined))?.status === 200, "/ready")
  return {
    topology,
    url,
    anonKey: await Effect.runPromise(apiKey(secret, "anon", "test")),
    serviceKey: await Effect.runPromise(apiKey(secret, "service_role", "test")),
    secret,
    database,
    nats,
    env,
    processes,
    startRole,
    stop: async () => {
      for (const p of processes.values()) await stopProcess(p)
      await nats?.stop()
      await database.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export const topologies: ReadonlyArray<TopologyName> = ["single", "decomposed"]
