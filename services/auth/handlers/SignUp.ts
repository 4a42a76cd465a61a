// POST /signup with an email: a user, and a session unless the email must be confirmed first.
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { type CommandTx, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import { checkEmail, checkPassword } from "../decide/credentials.ts"
import * as Passwords from "../Passwords.ts"
import * as Projections from "../Projections.ts"
import * as Repository from "../Repository.ts"
import { infrastructureDies, newId, services, userStream, whenEmailTaken } from "./common.ts"
import { startSession } from "./startSession.ts"

type Payload = PayloadOf<typeof Auth.SignUp>

export const SignUp = Effect.gen(function* () {
  const { postgres, settings, seal } = yield* services
  const register = Effect.fnUntraced(function* (
    tx: CommandTx,
    payload: Payload,
    email: string,
    passwordHash: string,
  ) {
    const existing = yield* Repository.userByEmail(tx, email)
    if (existing !== undefined) {
      if (settings.autoconfirm) return yield* new Auth.UserAlreadyExists()
      if (existing.email_confirmed_at === null)
        return { user: yield* Repository.render(tx, existing), session: null }
      // With confirmations on, GoTrue answers a taken email with a made-up user, so sign-up
      // cannot be used to find out who has an account.
      const now = new Date().toISOString()
      return {
        user: {
          id: newId(),
          aud: "authenticated",
          role: "",
          email,
          phone: "",
          app_metadata: { provider: "email", providers: ["email"] },
          user_metadata: payload.data,
          identities: [],
          created_at: now,
          updated_at: now,
          is_anonymous: false,
        },
        session: null,
      }
    }
    const now = new Date()
    const userId = newId()
    const signedUp = newEvent(Auth.UserSignedUp, {
      user_id: userId,
      identity_id: newId(),
      email,
      password_hash: passwordHash,
      user_metadata: settings.autoconfirm ? { ...payload.data, email_verified: true } : payload.data,
      app_metadata: { provider: "email", providers: ["email"] },
      is_anonymous: false,
      confirmed_at: settings.autoconfirm ? now.toISOString() : null,
      at: now.toISOString(),
    })
    yield* tx.append(userStream(userId), 0, [signedUp])
    yield* Projections.apply(tx, signedUp).pipe(whenEmailTaken(new Auth.UserAlreadyExists()))
    if (!settings.autoconfirm) {
      return {
        user: yield* Repository.render(tx, (yield* Repository.userById(tx, userId))!),
        session: null,
      }
    }
    const session = yield* startSession(tx, settings, userId, "password", now)
    return { user: session.user, session }
  })
  const signUp = Effect.fnUntraced(function* (payload: Payload, context: HandlerContext) {
    if (settings.disableSignup) return yield* new Auth.SignupDisabled()
    if (payload.password === "") {
      return yield* new ValidationFailed({ message: "Signup requires a valid password", field: "password" })
    }
    const weak = checkPassword(payload.password, settings.passwordMinLength)
    if (weak !== undefined) return yield* weak
    const email = checkEmail(payload.email)
    if (typeof email !== "string") return yield* email
    const passwordHash = yield* Passwords.hash(payload.password)

    return yield* transact(postgres, { contract: Auth.SignUp, context, sealer: seal }, (tx) =>
      register(tx, payload, email, passwordHash),
    ).pipe(infrastructureDies)
  })
  return handler(Auth.SignUp, signUp)
})
