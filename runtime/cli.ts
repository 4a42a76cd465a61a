// The `reactor` command: start, migrate, keys, doctor.
import { parseArgs } from "node:util"
import { Cause, Effect, Exit, Fiber, type Scope } from "effect"
import { type Config, load } from "../platform/config/Config.ts"
import { apiKey } from "../platform/jwt/Jwt.ts"
import { doctor } from "./doctor.ts"
import { growHeapFourfold } from "./heapGrowth.ts"
import { keepFreedHeap } from "./keepFreedHeap.ts"
import { type RoleName, roleNames } from "./roles.ts"
import { jwtSecret } from "./secrets.ts"
import { database, migrateAll, run } from "./start.ts"

const usage = `reactor — a backend for apps: Auth, Data, Storage, Functions, Jobs and Sites on one HTTP surface

usage:
  reactor start [--role all|gateway|auth] [--config Reactor.toml]
                         run Reactor; with no configuration: one process, embedded Postgres,
                         in-memory bus, http://127.0.0.1:8000
  reactor migrate        apply the platform's migrations to the configured database
  reactor keys           print the anon and service-role API keys
  reactor doctor         check every dependency and say how to fix what fails

Every setting comes from Reactor.toml or REACTOR_<SECTION>_<KEY>; see the README.`

const fail = (message: string): never => {
  process.stderr.write(`reactor: ${message}\n`)
  process.exit(1)
}

const errorMessage = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause) as { message?: string; hint?: string }
  return [error?.message ?? String(error), error?.hint].filter(Boolean).join("\n")
}

const runCommand = async <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => {
  const exit = await Effect.runPromiseExit(Effect.scoped(effect))
  if (Exit.isFailure(exit)) return fail(errorMessage(exit.cause))
  return exit.value
}

const printKeys = Effect.fnUntraced(function* (config: Config, secret: string) {
  const anon = yield* apiKey(secret, "anon", config.project.id)
  const service = yield* apiKey(secret, "service_role", config.project.id)
  process.stdout.write(`anon key:         ${anon}\nservice_role key: ${service}\n`)
})

const main = async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      role: { type: "string", default: "all" },
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  })
  const command = positionals[0] ?? "help"
  if (values.help || command === "help") {
    process.stdout.write(`${usage}\n`)
    return
  }
  const loadConfig = () => runCommand(load(values.config === undefined ? {} : { file: values.config }))
  switch (command) {
    case "start": {
      const role = roleNames.find((r) => r === values.role) as RoleName | undefined
      if (role === undefined) return fail(`unknown role "${values.role}" (known: ${roleNames.join(", ")})`)
      keepFreedHeap()
      growHeapFourfold()
      const config = await loadConfig()
      const fiber = Effect.runFork(
        Effect.scoped(
          run(config, {
            role,
            onListening: () => {
              if (config.bus.url === "") {
                void Effect.runPromise(
                  Effect.flatMap(jwtSecret(config, false), (secret) => printKeys(config, secret)),
                )
              }
            },
          }),
        ),
      )
      let stopping = false
      const stop = () => {
        if (stopping) return
        stopping = true
        void Effect.runPromise(Fiber.interrupt(fiber))
      }
      process.on("SIGTERM", stop)
      process.on("SIGINT", stop)
      const exit = await Effect.runPromise(Fiber.await(fiber))
      if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) fail(errorMessage(exit.cause))
      process.exit(0)
      break
    }
    case "migrate": {
      const config = await loadConfig()
      const applied = await runCommand(Effect.flatMap(database(config), ({ url }) => migrateAll(config, url)))
      process.stdout.write(
        applied.length === 0 ? "the database is up to date\n" : `applied: ${applied.join(", ")}\n`,
      )
      break
    }
    case "keys": {
      const config = await loadConfig()
      await runCommand(
        Effect.flatMap(jwtSecret(config, config.bus.url !== ""), (secret) => printKeys(config, secret)),
      )
      break
    }
    case "doctor": {
      const ok = await runCommand(doctor(await loadConfig()))
      process.exit(ok ? 0 : 1)
      break
    }
    default:
      fail(`unknown command "${command}"\n\n${usage}`)
  }
}

await main()
