// POST /logout: end this session, every session of the user, or every other one.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import { transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import * as Projections from "../Projections.ts"
import * as Repository from "../Repository.ts"
import { infrastructureDies, services, sessionStream } from "./common.ts"

export const SignOut = Effect.gen(function* () {
  const { postgres } = yield* services
  return handler(Auth.SignOut, (payload, context) =>
    transact(postgres, { contract: Auth.SignOut, context }, (tx) =>
      Effect.gen(function* () {
        const sessions = yield* Repository.sessionIdsOfUser(tx, payload.user_id)
        const ending = sessions.filter((id) =>
          payload.scope === "global"
            ? true
            : payload.scope === "local"
              ? id === payload.session_id
              : id !== payload.session_id,
        )
        const versions = yield* Effect.forEach(ending, (id) => tx.streamVersion(sessionStream(id)))
        const at = new Date().toISOString()
        for (const [i, id] of ending.entries()) {
          const revoked = newEvent(Auth.SessionRevoked, {
            session_id: id,
            user_id: payload.user_id,
            reason: "logout",
            at,
          })
          yield* tx.append(sessionStream(id), versions[i]!, [revoked])
          yield* Projections.apply(tx, revoked)
        }
        return {}
      }),
    ).pipe(infrastructureDies),
  )
})
