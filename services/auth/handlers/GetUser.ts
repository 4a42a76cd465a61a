// GET /user: the user behind a live session.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import * as Repository from "../Repository.ts"
import { infrastructureDies, services } from "./common.ts"

export const GetUser = Effect.gen(function* () {
  const { postgres } = yield* services
  const getUser = Effect.fnUntraced(function* (payload: PayloadOf<typeof Auth.GetUser>) {
    const user = yield* Repository.userById(postgres, payload.user_id)
    if (user === undefined) return yield* new Auth.UserNotFound()
    if (
      payload.session_id !== null &&
      (yield* Repository.sessionById(postgres, payload.session_id)) === undefined
    ) {
      return yield* new Auth.SessionNotFound()
    }
    return yield* Repository.render(postgres, user)
  })
  return handler(Auth.GetUser, (payload) => getUser(payload).pipe(infrastructureDies))
})
