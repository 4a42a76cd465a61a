// Size 1 needs no configuration: a missing JWT secret is generated once and kept under data_dir.
// A fleet must configure it, because every process has to share it.
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { Data, Effect, Redacted } from "effect"
import type { Config } from "../platform/config/Config.ts"

export class MissingSecret extends Data.TaggedError("MissingSecret")<{ readonly message: string }> {}

export const jwtSecret = (config: Config, fleet: boolean): Effect.Effect<string, MissingSecret> =>
  Effect.suspend(() => {
    const configured = Redacted.value(config.auth.jwt_secret)
    if (configured !== "") return Effect.succeed(configured)
    if (fleet) {
      return Effect.fail(
        new MissingSecret({
          message:
            "auth.jwt_secret (REACTOR_AUTH_JWT_SECRET) must be set when processes share a bus: every one of them needs the same secret",
        }),
      )
    }
    const dir = resolve(config.server.data_dir)
    const file = join(dir, "jwt_secret")
    if (existsSync(file)) return Effect.succeed(readFileSync(file, "utf8").trim())
    mkdirSync(dir, { recursive: true })
    const secret = randomBytes(48).toString("base64url")
    writeFileSync(file, `${secret}\n`, { mode: 0o600 })
    return Effect.succeed(secret)
  })

/** The configuration with its secret resolved, so every layer reads one value. */
export const withSecret = (config: Config, secret: string): Config => ({
  ...config,
  auth: { ...config.auth, jwt_secret: Redacted.make(secret, { label: "auth.jwt_secret" }) },
})
