// POST /signup with neither email nor phone: an anonymous user and its session.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import { transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import * as Projections from "../Projections.ts"
import { infrastructureDies, newId, services, userStream } from "./common.ts"
import { startSession } from "./startSession.ts"

export const SignInAnonymously = Effect.gen(function* () {
  const { postgres, settings, seal } = yield* services
  return handler(Auth.SignInAnonymously, (payload, context) =>
    Effect.gen(function* () {
      if (!settings.anonymousSignIns) return yield* new Auth.AnonymousSignInsDisabled()
      if (settings.disableSignup) return yield* new Auth.SignupDisabled()
      return yield* transact(postgres, { contract: Auth.SignInAnonymously, context, sealer: seal }, (tx) =>
        Effect.gen(function* () {
          const now = new Date()
          const userId = newId()
          const signedUp = newEvent(Auth.UserSignedUp, {
            user_id: userId,
            identity_id: null,
            email: null,
            password_hash: null,
            user_metadata: payload.data,
            app_metadata: {},
            is_anonymous: true,
            confirmed_at: null,
            at: now.toISOString(),
          })
          yield* tx.append(userStream(userId), 0, [signedUp])
          yield* Projections.apply(tx, signedUp)
          return yield* startSession(tx, settings, userId, "anonymous", now)
        }),
      )
    }).pipe(infrastructureDies),
  )
})
