// Ending sessions, for sign-out and password changes. In two steps, because a command reads every
// stream's version before its first write (docs/architecture.md): `prepare` reads, the step it
// returns writes.
import { Effect } from "effect"
import * as Auth from "../../../contracts/auth.ts"
import type { CommandTx } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import * as Projections from "../Projections.ts"
import { sessionStream } from "./common.ts"

type Reason = (typeof Auth.SessionRevoked.payload.Type)["reason"]

export const prepareEndSessions = (
  tx: CommandTx,
  userId: string,
  sessionIds: ReadonlyArray<string>,
  reason: Reason,
) =>
  Effect.map(
    Effect.forEach(sessionIds, (id) => tx.streamVersion(sessionStream(id))),
    (versions) => (at: string) =>
      Effect.forEach(
        sessionIds,
        (id, i) => {
          const revoked = newEvent(Auth.SessionRevoked, { session_id: id, user_id: userId, reason, at })
          return Effect.andThen(
            tx.append(sessionStream(id), versions[i]!, [revoked]),
            Projections.apply(tx, revoked),
          )
        },
        { discard: true },
      ),
  )
