// Private channels: whether a caller may join (read), broadcast to (write) or track its presence on
// (track) a topic, decided by the app's RLS policies on realtime.messages as Supabase decides it.
// Nothing is kept: a probe row is inserted and read, or inserted, as the caller with
// `realtime.topic` set, in a transaction that is always rolled back. The policies are asked when a
// channel is joined, when its token changes, and on its first broadcast and track, never per
// message.
import { Effect } from "effect"
import { isApiRole } from "../../../contracts/shared.ts"
import { type PostgresShape, setLocals, type Tx } from "../../../platform/postgres/Postgres.ts"
import type { Settings } from "../../../platform/postgres/SettingsQuery.ts"
import { claimsText } from "../../http/claimsText.ts"
import type { TopicAuthorizer } from "../../realtime/Gateway.ts"

const probe = {
  name: "realtime.probe",
  text: "insert into realtime.messages (topic, extension) values ($1, $2) returning id",
}
/**
 * The caller's insert, without RETURNING: rows an INSERT returns must pass the SELECT policies
 * too, and one may write to a channel it may not read.
 */
const attempt = {
  name: "realtime.attempt",
  text: "insert into realtime.messages (topic, extension) values ($1, $2)",
}
/** What each action is about, as the row's `extension` tells the policies. */
const extensionOf = { read: "broadcast", write: "broadcast", track: "presence" } as const
const visible = { name: "realtime.probe-visible", text: "select 1 from realtime.messages where id = $1" }

/** Postgres's insufficient_privilege: a policy's WITH CHECK refused the row. */
const refused = "42501"

/** The probe as the caller, in a transaction that is rolled back: whether its policies let it through. */
const check = Effect.fnUntraced(function* (
  tx: Tx,
  action: keyof typeof extensionOf,
  values: Array<string>,
  asCaller: Settings,
) {
  if (action === "read") {
    // Inserted as the gateway's own role, which owns the table and so is not bound by
    // its policies; then looked for as the caller, whose SELECT policies decide.
    const { rows } = yield* tx.query<{ id: string }>({ ...probe, values })
    yield* setLocals(tx, asCaller)
    const seen = yield* tx.query({ ...visible, values: [rows[0]!.id] })
    return seen.rowCount === 1
  }
  yield* setLocals(tx, asCaller)
  return yield* tx.query({ ...attempt, values }).pipe(
    Effect.as(true),
    Effect.catchIf(
      (error) => error.code === refused,
      () => Effect.succeed(false),
    ),
  )
})

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
    const values = [topic, extensionOf[action]]
    return postgres
      .transaction((tx) => check(tx, action, values, asCaller), { rollbackOnly: true })
      .pipe(
        // A policy that fails to run (a typo, a missing table) denies, and says why in the log.
        Effect.catch((error) =>
          Effect.logWarning(`private channel check on ${topic} failed: ${error.message}`).pipe(
            Effect.as(false),
          ),
        ),
      )
  }
