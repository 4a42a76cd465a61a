// POST /signup with neither email nor phone: an anonymous user and its session.
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import { type CommandTx, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import * as Projections from "../Projections.ts"
import { infrastructureDies, newId, services, userStream } from "./common.ts"
import { startSession } from "./startSession.ts"

type Payload = PayloadOf<typeof Auth.SignInAnonymously>

export const SignInAnonymously = Effect.gen(function* () {
  const { postgres, settings, seal } = yield* services
  const signUp = Effect.fnUntraced(function* (tx: CommandTx, payload: Payload) {
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
  })
  const signIn = Effect.fnUntraced(function* (payload: Payload, context: HandlerContext) {
    if (!settings.anonymousSignIns) return yield* new Auth.AnonymousSignInsDisabled()
    if (settings.disableSignup) return yield* new Auth.SignupDisabled()
    return yield* transact(postgres, { contract: Auth.SignInAnonymously, context, sealer: seal }, (tx) =>
      signUp(tx, payload),
    )
  })
  return handler(Auth.SignInAnonymously, (payload, context) =>
    signIn(payload, context).pipe(infrastructureDies),
  )
})
