import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { bindAddress, type ConfigError, envName, load } from "./Config.ts"

const made: Array<string> = []
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

const withToml = (toml: string) => {
  const dir = tempDir("reactor-config-")
  writeFileSync(join(dir, "Reactor.toml"), toml)
  return dir
}

const problems = (options: Parameters<typeof load>[0]) =>
  Effect.runPromise(Effect.flip(load(options))).then((e: ConfigError) => e.problems)

describe("loading configuration", () => {
  it("runs size 1 with no file and no environment", async () => {
    const config = await Effect.runPromise(load({ env: {}, cwd: tempDir("reactor-empty-") }))
    expect(config.server.bind).toBe("127.0.0.1:8000")
    expect(config.database.url).toBe("")
    expect(config.bus.url).toBe("")
    expect(config.auth.autoconfirm).toBe(true)
    expect(Redacted.value(config.auth.jwt_secret)).toBe("")
  })

  it("reads Reactor.toml by section", async () => {
    const cwd = withToml(
      '[server]\nbind = "0.0.0.0:9000"\ncors_origins = ["https://app.example"]\n[auth]\njwt_expiry = 600\n',
    )
    const config = await Effect.runPromise(load({ env: {}, cwd }))
    expect(config.server.bind).toBe("0.0.0.0:9000")
    expect(config.server.cors_origins).toEqual(["https://app.example"])
    expect(config.auth.jwt_expiry).toBe(600)
  })

  it("lets REACTOR_<SECTION>_<KEY> override the file, reading the key's type from text", async () => {
    const cwd = withToml('[server]\nbind = "0.0.0.0:9000"\n')
    const config = await Effect.runPromise(
      load({
        cwd,
        env: {
          REACTOR_SERVER_BIND: "127.0.0.1:8123",
          REACTOR_AUTH_AUTOCONFIRM: "false",
          REACTOR_SERVER_BODY_LIMIT: "2048",
          REACTOR_SERVER_CORS_ORIGINS: "https://a.example, https://b.example",
          REACTOR_DATABASE_URL: "postgres://u:p@db:5432/app",
          REACTOR_BUS_URL: "nats://127.0.0.1:4222",
          REACTOR_AUTH_JWT_SECRET: "s".repeat(40),
        },
      }),
    )
    expect(config.server.bind).toBe("127.0.0.1:8123")
    expect(config.auth.autoconfirm).toBe(false)
    expect(config.server.body_limit).toBe(2048)
    expect(config.server.cors_origins).toEqual(["https://a.example", "https://b.example"])
    expect(config.database.url).toBe("postgres://u:p@db:5432/app")
    expect(config.bus.url).toBe("nats://127.0.0.1:4222")
    expect(Redacted.value(config.auth.jwt_secret)).toBe("s".repeat(40))
    expect(envName("server", "data_dir")).toBe("REACTOR_SERVER_DATA_DIR")
  })

  it("names the key, its source and what was expected for every bad value", async () => {
    const cwd = withToml("[auth]\njwt_expiry = -5\n")
    const found = await problems({
      cwd,
      env: { REACTOR_SERVER_BIND: "nowhere", REACTOR_SERVER_TRUST_PROXY: "maybe" },
    })
    expect(found).toEqual([
      'server.bind (from REACTOR_SERVER_BIND): expected host:port, e.g. 127.0.0.1:8000, got "nowhere"',
      'server.trust_proxy (from REACTOR_SERVER_TRUST_PROXY): expected true or false, got "maybe"',
      `auth.jwt_expiry (from ${join(cwd, "Reactor.toml")}): expected an integer ≥ 30, got -5`,
    ])
  })

  it("never repeats a secret in an error", async () => {
    const found = await problems({ env: { REACTOR_AUTH_JWT_SECRET: "too-short-secret" }, cwd: tmpdir() })
    expect(found).toEqual([
      "auth.jwt_secret (from REACTOR_AUTH_JWT_SECRET): expected at least 32 characters, got a value of 16 characters",
    ])
  })

  it("reports unknown sections and keys, which are usually typos", async () => {
    const cwd = withToml("[server]\nbnid = 1\n[srever]\nx = 1\n")
    const found = await problems({ cwd, env: {} })
    expect(found.some((p) => p.includes("unknown key server.bnid"))).toBe(true)
    expect(found.some((p) => p.includes("unknown section [srever]"))).toBe(true)
  })

  it("reports a file that is not TOML", async () => {
    const found = await problems({ cwd: withToml("[server\n"), env: {} })
    expect(found[0]).toContain("Reactor.toml")
  })

  it("refuses a database or bus URL of the wrong kind", async () => {
    const found = await problems({
      env: { REACTOR_DATABASE_URL: "mysql://x", REACTOR_BUS_URL: "redis://x" },
      cwd: tmpdir(),
    })
    expect(found).toHaveLength(2)
    expect(found[0]).toContain("postgres://")
    expect(found[1]).toContain("nats://")
  })
})

describe("the bind address", () => {
  const bound = (bind: string) =>
    Effect.runPromise(load({ env: { REACTOR_SERVER_BIND: bind }, cwd: tempDir("reactor-bind-") })).then(
      bindAddress,
    )

  it("splits host and port, IPv6 hosts without their brackets", async () => {
    expect(await bound("127.0.0.1:8000")).toEqual({ host: "127.0.0.1", port: 8000 })
    expect(await bound("[::1]:9000")).toEqual({ host: "::1", port: 9000 })
    expect(await bound("localhost:0")).toEqual({ host: "localhost", port: 0 })
  })
})
