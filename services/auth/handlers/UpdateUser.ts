// PUT /user: the signed-in user changes their password, email or metadata.
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import type { JsonObject } from "../../../contracts/shared.ts"
import { type CommandTx, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { type NewEvent, newEvent } from "../../../platform/eventlog/EventStore.ts"
import { checkEmail, checkPassword } from "../decide/credentials.ts"
import * as Passwords from "../Passwords.ts"
import * as Projections from "../Projections.ts"
import * as Repository from "../Repository.ts"
import { infrastructureDies, services, userStream, whenEmailTaken } from "./common.ts"
import { prepareEndSessions } from "./endSessions.ts"

/** GoTrue merges new metadata into the old; a key set to null is removed. */
const mergeMetadata = (current: JsonObject, update: JsonObject): JsonObject => {
  const merged: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(update)) {
    if (value === null) delete merged[key]
    else merged[key] = value
  }
  return merged as JsonObject
}

type Payload = PayloadOf<typeof Auth.UpdateUser>

/** The transaction of PUT /user, once `update` has checked the new email and hashed the new password. */
const write = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: Payload,
  email: string | undefined,
  passwordHash: string | undefined,
) {
  const session = yield* Repository.sessionById(tx, payload.session_id)
  if (session === undefined) return yield* new Auth.SessionNotFound()
  const user = yield* Repository.userById(tx, payload.user_id)
  if (user === undefined) return yield* new Auth.UserNotFound()
  const version = yield* tx.streamVersion(userStream(user.id))
  const otherSessions =
    passwordHash === undefined
      ? []
      : (yield* Repository.sessionIdsOfUser(tx, user.id)).filter((id) => id !== session.id)
  // A new password ends every other session, as GoTrue does; read now, written below.
  const endOtherSessions = yield* prepareEndSessions(tx, user.id, otherSessions, "password_changed")
  const at = new Date().toISOString()
  const changes: Array<NewEvent> = []
  const taken =
    email !== undefined && email !== user.email ? yield* Repository.userByEmail(tx, email) : undefined
  if (taken !== undefined) return yield* new Auth.EmailExists()
  if (email !== undefined && email !== user.email) {
    changes.push(newEvent(Auth.EmailChanged, { user_id: user.id, email, at }))
  }
  if (passwordHash !== undefined)
    changes.push(newEvent(Auth.PasswordChanged, { user_id: user.id, password_hash: passwordHash, at }))
  if (payload.data !== undefined) {
    changes.push(
      newEvent(Auth.UserMetadataUpdated, {
        user_id: user.id,
        user_metadata: mergeMetadata(user.raw_user_meta_data, payload.data),
        at,
      }),
    )
  }
  yield* tx.append(userStream(user.id), version, changes)
  yield* Projections.applyAll(tx, changes).pipe(whenEmailTaken(new Auth.EmailExists()))
  yield* endOtherSessions(at)
  return yield* Repository.render(tx, (yield* Repository.userById(tx, user.id))!)
})

export const UpdateUser = Effect.gen(function* () {
  const { postgres, settings } = yield* services
  const update = Effect.fnUntraced(function* (payload: Payload, context: HandlerContext) {
    const current = yield* Repository.userById(postgres, payload.user_id)
    if (current === undefined) return yield* new Auth.UserNotFound()
    let passwordHash: string | undefined
    if (payload.password !== undefined) {
      const weak = checkPassword(payload.password, settings.passwordMinLength)
      if (weak !== undefined) return yield* weak
      if (current.is_anonymous && current.email === null && payload.email === undefined) {
        return yield* new ValidationFailed({
          message: "Updating password of an anonymous user without an email or phone is not allowed",
        })
      }
      if (
        current.encrypted_password !== null &&
        (yield* Passwords.verify(current.encrypted_password, payload.password))
      ) {
        return yield* new Auth.SamePassword()
      }
      passwordHash = yield* Passwords.hash(payload.password)
    }
    let email: string | undefined
    if (payload.email !== undefined) {
      const checked = checkEmail(payload.email)
      if (typeof checked !== "string") return yield* checked
      if (!settings.autoconfirm) {
        return yield* new ValidationFailed({
          message:
            "Changing an email needs email confirmation, which this Reactor cannot send yet (auth.autoconfirm is off)",
        })
      }
      email = checked
    }

    return yield* transact(postgres, { contract: Auth.UpdateUser, context }, (tx) =>
      write(tx, payload, email, passwordHash),
    )
  })
  return handler(Auth.UpdateUser, (payload, context) => update(payload, context).pipe(infrastructureDies))
})
