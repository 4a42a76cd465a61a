// POST /token?grant_type=password: a session for the right email and password.
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { transact } from "../../../platform/eventlog/CommandTransaction.ts"
import * as Passwords from "../Passwords.ts"
import * as Repository from "../Repository.ts"
import { infrastructureDies, services } from "./common.ts"
import { startSession } from "./startSession.ts"

export const SignInWithPassword = Effect.gen(function* () {
  const { postgres, settings, seal } = yield* services
  const signIn = Effect.fnUntraced(function* (
    payload: PayloadOf<typeof Auth.SignInWithPassword>,
    context: HandlerContext,
  ) {
    if (payload.email === "") return yield* new ValidationFailed({ message: "missing email or phone" })
    const email = payload.email.toLowerCase()
    // The password is checked before anything is written, outside the transaction.
    const user = yield* Repository.userByEmail(postgres, email)
    const valid = user?.encrypted_password
      ? yield* Passwords.verify(user.encrypted_password, payload.password)
      : false
    if (user === undefined || !valid) return yield* new Auth.InvalidCredentials()
    if (user.banned_until !== null && user.banned_until > new Date()) return yield* new Auth.UserBanned()
    if (user.email_confirmed_at === null) return yield* new Auth.EmailNotConfirmed()
    return yield* transact(postgres, { contract: Auth.SignInWithPassword, context, sealer: seal }, (tx) =>
      startSession(tx, settings, user.id, "password", new Date()),
    )
  })
  return handler(Auth.SignInWithPassword, (payload, context) =>
    signIn(payload, context).pipe(infrastructureDies),
  )
})
