// argon2id (OWASP's minimum: 19 MiB, 2 passes), hashed off the event loop by @node-rs/argon2.
import { hash as argonHash, verify as argonVerify } from "@node-rs/argon2"
import { Effect } from "effect"

// 2 is Algorithm.Argon2id, a const enum the package only declares.
const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 }

export const hash = (password: string): Effect.Effect<string> =>
  Effect.promise(() => argonHash(password, options))

export const verify = (hashed: string, password: string): Effect.Effect<boolean> =>
  Effect.promise(() => argonVerify(hashed, password).catch(() => false))
