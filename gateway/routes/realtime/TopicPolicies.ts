// Private channels: whether a caller may join (read) or broadcast to (write) a topic, decided by
// the app's RLS policies on realtime.messages as Supabase decides it. Nothing is kept: a probe row
// is inserted and read, or inserted, as the caller with `realtime.topic` set, in a transaction
// that is always rolled back. The policies are asked when a channel is joined, when its token
// changes, and on its first broadcast, never per message.
import { Effect } from "effect"
import { isApiRole } from "../../../contracts/shared.ts"
import { type PostgresShape, setLocals } from "../../../platform/postgres/Postgres.ts"
import { claimsText } from "../../http/claimsText.ts"
import type { TopicAuthorizer } from "../../realtime/Gateway.ts"

const probe = {
  name: "realtime.probe",
  text: "insert into realtime.messages (topic, extension) values ($1, 'broadcast') returning id",
}
const visible = { name: "realtime.probe-visible", text: "select 1 from realtime.messages where id = $1" }

/** Postgres's insufficient_privilege: a policy's WITH CHECK refused the row. */
const refused = "42501"

export const topicPolicies =
  (postgres: PostgresShape): TopicAuthorizer =>
  (topic, claims, action) => {
    if (claims.role === "service_role") return Effect.succeed(true)
    if (!isApiRole(claims.role)) return Effect.succeed(false)
    const asCaller = [
      ["role", claims.role],
      ["request.jwt.claims", claimsText(claims)],
      ["realtime.topic", topic],
    ] as const
    return postgres
      .transaction(
        (tx) =>
          Effect.gen(function* () {
            if (action === "read") {
              // Inserted as the gateway's own role, which owns the table and so is not bound by
              // its policies; then looked for as the caller, whose SELECT policies decide.
              const { rows } = yield* tx.query<{ id: string }>({ ...probe, values: [topic] })
              yield* setLocals(tx, asCaller)
              const seen = yield* tx.query({ ...visible, values: [rows[0]!.id] })
              return seen.rowCount === 1
            }
            yield* setLocals(tx, asCaller)
            return yield* tx.query({ ...probe, values: [topic] }).pipe(
              Effect.as(true),
              Effect.catchIf(
                (error) => error.code === refused,
                () => Effect.succeed(false),
              ),
            )
          }),
        { rollbackOnly: true },
      )
      .pipe(
        // A policy that fails to run (a typo, a missing table) denies, and says why in the log.
        Effect.catch((error) =>
          Effect.logWarning(`private channel check on ${topic} failed: ${error.message}`).pipe(
            Effect.as(false),
          ),
        ),
      )
  }
