// The `reactor` command as a user runs it: size 1 with no configuration at all, and its other commands.
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { packageRoot, platformMigrations } from "../../platform/paths.ts"
import { listeningPort, type ReactorProcess, spawnRole, stopProcess } from "../support/reactor.ts"
import { supabaseClient } from "../support/supabase.ts"

const bin = join(packageRoot, "bin", "reactor.js")
const run = promisify(execFile)

const reactor = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  )

const start = async (env: Record<string, string>): Promise<ReactorProcess & { url: string }> => {
  const started = spawnRole("all", env)
  const deadline = Date.now() + 60_000
  while (!/service_role key: \S+/.test(started.output())) {
    if (started.child.exitCode !== null) throw new Error(`reactor start exited:\n${started.output()}`)
    if (Date.now() > deadline) throw new Error(`reactor start did not come up:\n${started.output()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { ...started, url: `http://127.0.0.1:${listeningPort(started)}` }
}

const keysIn = (text: string) => ({
  anon: /anon key:\s+(\S+)/.exec(text)![1]!,
  service: /service_role key:\s+(\S+)/.exec(text)![1]!,
})

describe("reactor start with no configuration (size 1)", () => {
  let dataDir: string
  let cwd: string
  const env = () => ({ REACTOR_SERVER_DATA_DIR: dataDir, REACTOR_SERVER_BIND: "127.0.0.1:0" })

  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), "reactor-size1-"))
    chmodSync(cwd, 0o755)
    dataDir = join(cwd, ".reactor")
  })
  afterAll(() => rmSync(cwd, { recursive: true, force: true }))

  it("runs embedded Postgres and the in-memory bus, prints its keys, and serves supabase-js", async () => {
    const first = await start(env())
    const keys = keysIn(first.output())
    expect(readdirSync(join(dataDir, "postgres"))).toContain("PG_VERSION")
    const supabase = supabaseClient(first.url, keys.anon)
    const email = `size1-${randomUUID()}@example.com`
    const { error } = await supabase.auth.signUp({ email, password: "size one password" })
    expect(error).toBeNull()
    await stopProcess(first)
    expect(first.child.exitCode).toBe(0)

    // The same keys again, and the user is still there after a restart.
    const printed = await reactor(["keys"], env())
    expect(keysIn(printed.stdout)).toEqual(keys)
    const second = await start(env())
    expect(keysIn(second.output())).toEqual(keys)
    const again = supabaseClient(second.url, keys.anon)
    expect((await again.auth.signInWithPassword({ email, password: "size one password" })).error).toBeNull()
    await stopProcess(second)
    expect(second.child.exitCode).toBe(0)
    // Shutting down stopped Postgres too.
    const pidFile = join(dataDir, "postgres", "postmaster.pid")
    expect(() => readFileSync(pidFile)).toThrow()
  }, 120_000)

  it("migrates and doctors the same database", async () => {
    const migrated = await reactor(["migrate"], env())
    expect(migrated).toMatchObject({ code: 0, stdout: "the database is up to date\n" })
    const doctor = await reactor(["doctor"], env())
    expect(doctor.code).toBe(0)
    expect(doctor.stdout).toMatch(/ok\s+node/)
    expect(doctor.stdout).toMatch(/ok\s+uWebSockets\s+native binary/)
    expect(doctor.stdout).toMatch(
      new RegExp(
        `ok\\s+database\\s+PostgreSQL 18\\.\\d+ at embedded, migration ${readdirSync(platformMigrations).length}`,
      ),
    )
    expect(doctor.stdout).toMatch(/ok\s+bus\s+in-memory/)
  }, 60_000)
})

describe("reactor refuses what it cannot run", () => {
  it("names a bad setting, where it came from and what it expects", async () => {
    const result = await reactor(["start"], {
      REACTOR_SERVER_BIND: "everywhere",
      REACTOR_SERVER_DATA_DIR: join(tmpdir(), "never"),
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      'server.bind (from REACTOR_SERVER_BIND): expected host:port, e.g. 127.0.0.1:8000, got "everywhere"',
    )
  })

  it("will not run one role of a fleet without a bus", async () => {
    const result = await reactor(["start", "--role", "gateway"], {
      REACTOR_DATABASE_URL: "postgres://x@127.0.0.1:1/x",
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("set bus.url (REACTOR_BUS_URL)")
  })

  it("will not run a fleet without a shared secret", async () => {
    const result = await reactor(["start", "--role", "auth"], {
      REACTOR_DATABASE_URL: "postgres://x@127.0.0.1:1/x",
      REACTOR_BUS_URL: "nats://127.0.0.1:1",
      REACTOR_AUTH_JWT_SECRET: "",
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("auth.jwt_secret (REACTOR_AUTH_JWT_SECRET) must be set")
  })

  it("says which roles exist", async () => {
    const result = await reactor(["start", "--role", "everything"], {})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('unknown role "everything" (known: all, gateway, auth, data, storage)')
  })

  it("explains a database it cannot reach in doctor, with a fix", async () => {
    const result = await reactor(["doctor"], { REACTOR_DATABASE_URL: "postgres://nobody:x@127.0.0.1:1/none" })
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/FAIL\s+database/)
    expect(result.stdout).toContain("fix: check database.url")
  })
})
