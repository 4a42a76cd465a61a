// What every auth handler shares: its services, and how infrastructure failures leave it.
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { type PgError, Postgres } from "../../../platform/postgres/Postgres.ts"
import { AuthSettings } from "../Config.ts"
import { sealer } from "../Sealer.ts"

/** The services handlers close over when they are built. */
export const services = Effect.gen(function* () {
  const postgres = yield* Postgres
  const settings = yield* AuthSettings
  return { postgres, settings, seal: sealer(settings.jwtSecret) }
})

export { infrastructureDies } from "../../../platform/infrastructure.ts"

/**
 * Two writers racing for one email: the projection's unique index decides, and the loser is told
 * with `error` (the email was free when its decision read it).
 */
export const whenEmailTaken =
  <E>(error: E) =>
  <A, R>(effect: Effect.Effect<A, PgError, R>) =>
    effect.pipe(
      Effect.catchIf(
        (e) => e.code === "23505" && e.constraint === "users_email_key",
        () => Effect.fail(error),
      ),
    )

export const userStream = (id: string) => `auth.user-${id}`
export const sessionStream = (id: string) => `auth.session-${id}`
export const newId = () => randomUUID()
