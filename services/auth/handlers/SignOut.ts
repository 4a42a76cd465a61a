// POST /logout: end this session, every session of the user, or every other one.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import { type CommandTx, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import * as Repository from "../Repository.ts"
import { infrastructureDies, services } from "./common.ts"
import { prepareEndSessions } from "./endSessions.ts"

export const SignOut = Effect.gen(function* () {
  const { postgres } = yield* services
  const signOut = Effect.fnUntraced(function* (tx: CommandTx, payload: PayloadOf<typeof Auth.SignOut>) {
    const sessions = yield* Repository.sessionIdsOfUser(tx, payload.user_id)
    const ending = sessions.filter((id) =>
      payload.scope === "global"
        ? true
        : payload.scope === "local"
          ? id === payload.session_id
          : id !== payload.session_id,
    )
    const endSessions = yield* prepareEndSessions(tx, payload.user_id, ending, "logout")
    yield* endSessions(new Date().toISOString())
    return {}
  })
  return handler(Auth.SignOut, (payload, context) =>
    transact(postgres, { contract: Auth.SignOut, context }, (tx) => signOut(tx, payload)).pipe(
      infrastructureDies,
    ),
  )
})
