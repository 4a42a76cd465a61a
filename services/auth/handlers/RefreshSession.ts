// POST /token?grant_type=refresh_token: rotation with reuse detection. A spent token presented
// again (past the reuse interval) ends the whole session.
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { type CommandTx, CommitThenFail, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import * as RefreshToken from "../decide/refreshToken.ts"
import * as Projections from "../Projections.ts"
import * as Repository from "../Repository.ts"
import * as Tokens from "../Tokens.ts"
import { infrastructureDies, services, sessionStream } from "./common.ts"

export const RefreshSession = Effect.gen(function* () {
  const { postgres, settings, seal } = yield* services
  const refresh = Effect.fnUntraced(function* (tx: CommandTx, sessionId: string, generation: number) {
    const session = yield* Repository.sessionById(tx, sessionId)
    if (session === undefined) return yield* new Auth.RefreshTokenNotFound()
    const version = yield* tx.streamVersion(sessionStream(session.id))
    const user = yield* Repository.userById(tx, session.user_id)
    if (user === undefined) return yield* new Auth.RefreshTokenNotFound()
    if (user.banned_until !== null && user.banned_until > new Date()) return yield* new Auth.UserBanned()
    const now = new Date()
    const decision = RefreshToken.decide(
      { generation: session.refresh_generation, refreshedAt: session.refreshed_at },
      generation,
      now,
      settings.refreshTokenReuseInterval,
    )
    switch (decision._tag) {
      case "Unknown":
        return yield* new Auth.RefreshTokenNotFound()
      case "Reused": {
        const revoked = newEvent(Auth.SessionRevoked, {
          session_id: session.id,
          user_id: session.user_id,
          reason: "refresh_token_reused",
          at: now.toISOString(),
        })
        yield* tx.append(sessionStream(session.id), version, [revoked])
        yield* Projections.apply(tx, revoked)
        return new CommitThenFail({ error: new Auth.RefreshTokenAlreadyUsed() })
      }
      case "Reissue":
        return yield* Tokens.session(
          settings,
          yield* Repository.render(tx, user),
          session,
          session.refresh_generation,
          now,
        )
      case "Rotate": {
        const rotated = newEvent(Auth.RefreshTokenRotated, {
          session_id: session.id,
          user_id: session.user_id,
          generation: decision.next,
          at: now.toISOString(),
        })
        yield* tx.append(sessionStream(session.id), version, [rotated])
        yield* Projections.apply(tx, rotated)
        return yield* Tokens.session(
          settings,
          yield* Repository.render(tx, user),
          session,
          decision.next,
          now,
        )
      }
    }
  })
  const refreshSession = Effect.fnUntraced(function* (
    payload: PayloadOf<typeof Auth.RefreshSession>,
    context: HandlerContext,
  ) {
    const token = RefreshToken.parse(settings.jwtSecret, payload.refresh_token)
    if (token._tag === "Malformed")
      return yield* new ValidationFailed({ message: "Refresh token is not valid" })
    if (token._tag === "Forged") return yield* new Auth.RefreshTokenNotFound()
    return yield* transact(postgres, { contract: Auth.RefreshSession, context, sealer: seal }, (tx) =>
      refresh(tx, token.sessionId, token.generation),
    )
  })
  return handler(Auth.RefreshSession, (payload, context) =>
    refreshSession(payload, context).pipe(infrastructureDies),
  )
})
