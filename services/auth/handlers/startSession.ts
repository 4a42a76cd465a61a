// Starting a session is the tail of every sign-in: the event, its projection, and the tokens.
import { Effect } from "effect"
import * as Auth from "../../../contracts/auth.ts"
import type { CommandTx } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import type { AuthSettingsShape } from "../Config.ts"
import * as Projections from "../Projections.ts"
import * as Repository from "../Repository.ts"
import * as Tokens from "../Tokens.ts"
import { newId, sessionStream } from "./common.ts"

export const startSession = Effect.fnUntraced(function* (
  tx: CommandTx,
  settings: AuthSettingsShape,
  userId: string,
  method: "password" | "anonymous",
  now: Date,
) {
  const sessionId = newId()
  const started = newEvent(Auth.SessionStarted, {
    session_id: sessionId,
    user_id: userId,
    method,
    aal: "aal1",
    at: now.toISOString(),
  })
  yield* tx.append(sessionStream(sessionId), 0, [started])
  yield* Projections.apply(tx, started)
  const user = yield* Repository.render(tx, (yield* Repository.userById(tx, userId))!)
  return yield* Tokens.session(
    settings,
    user,
    { id: sessionId, aal: "aal1", method, created_at: now },
    0,
    now,
  )
})
