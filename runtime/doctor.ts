// `reactor doctor`: every dependency's state, and what to do about one that fails.
import { execFileSync } from "node:child_process"
import { Effect, Redacted } from "effect"
import { loadUws } from "../gateway/uws.ts"
import type { Config } from "../platform/config/Config.ts"
import * as Postgres from "../platform/postgres/Postgres.ts"
import { database } from "./start.ts"

interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
  readonly fix?: string
}

const line = (check: Check) =>
  `${check.ok ? "ok  " : "FAIL"}  ${check.name.padEnd(14)} ${check.detail}${check.ok || !check.fix ? "" : `\n                      fix: ${check.fix}`}`

const checkUws = (config: Config): Check => {
  try {
    loadUws(false)
    return { name: "uWebSockets", ok: true, detail: `native binary for Node ${process.version}` }
  } catch {
    return {
      name: "uWebSockets",
      ok: config.server.allow_slow_uws,
      detail: config.server.allow_slow_uws
        ? "slow fallback (allowed by server.allow_slow_uws)"
        : "no native binary for this Node",
      fix: "run on Node 20 (the published binaries cover its ABI), or set server.allow_slow_uws = true",
    }
  }
}

const databaseCheck = Effect.fnUntraced(function* (config: Config) {
  const { url, embedded } = yield* database(config)
  const postgres = yield* Postgres.make(url, 1)
  const { rows } = yield* postgres
    .query<{ version: string; migrated: number | null }>(
      "select version(), (select max(migration_id) from reactor.migrations) as migrated",
    )
    .pipe(
      Effect.catchTag("PgError", (e) =>
        e.code === "42P01"
          ? postgres.query<{ version: string; migrated: number | null }>(
              "select version(), null::int as migrated",
            )
          : Effect.fail(e),
      ),
    )
  const version = rows[0]!.version.split(" ").slice(0, 2).join(" ")
  const where = embedded ? "embedded" : Postgres.redactUrl(url)
  return rows[0]!.migrated === null
    ? {
        name: "database",
        ok: false,
        detail: `${version} at ${where}, not migrated`,
        fix: "run `reactor migrate`",
      }
    : { name: "database", ok: true, detail: `${version} at ${where}, migration ${rows[0]!.migrated}` }
})

const checkDatabase = (config: Config) =>
  databaseCheck(config).pipe(
    Effect.catch((error: unknown) =>
      Effect.succeed({
        name: "database",
        ok: false,
        detail: String((error as Error)?.message ?? error),
        fix:
          config.database.url === ""
            ? "the embedded Postgres could not start; see the message above"
            : "check database.url (REACTOR_DATABASE_URL): the server must be running and accept this user",
      }),
    ),
  )

const checkBus = (config: Config): Check => {
  if (config.bus.url === "") return { name: "bus", ok: true, detail: "in-memory (one process)" }
  const hostPort = new URL(config.bus.url)
  const reachable = (() => {
    try {
      execFileSync(
        process.execPath,
        [
          "-e",
          `require("net").connect(${hostPort.port || 4222}, "${hostPort.hostname}").on("connect", () => process.exit(0)).on("error", () => process.exit(1))`,
        ],
        {
          timeout: 3_000,
        },
      )
      return true
    } catch {
      return false
    }
  })()
  return reachable
    ? { name: "bus", ok: true, detail: `NATS at ${config.bus.url}` }
    : {
        name: "bus",
        ok: false,
        detail: `nothing answers at ${config.bus.url}`,
        fix: "start nats-server with JetStream (`nats-server -js`), or clear bus.url to run in one process",
      }
}

const checkSecret = (config: Config): Check =>
  Redacted.value(config.auth.jwt_secret) !== ""
    ? { name: "jwt secret", ok: true, detail: "configured" }
    : config.bus.url === ""
      ? { name: "jwt secret", ok: true, detail: `generated under ${config.server.data_dir}` }
      : {
          name: "jwt secret",
          ok: false,
          detail: "not set",
          fix: "set auth.jwt_secret (REACTOR_AUTH_JWT_SECRET), the same in every process",
        }

export const doctor = Effect.fnUntraced(function* (config: Config) {
  const checks: Array<Check> = [
    {
      name: "node",
      ok: Number(process.versions.node.split(".")[0]) >= 20,
      detail: process.version,
      fix: "install Node 20",
    },
    checkUws(config),
    yield* checkDatabase(config),
    checkBus(config),
    checkSecret(config),
  ]
  process.stdout.write(`${checks.map(line).join("\n")}\n`)
  return checks.every((c) => c.ok)
})
