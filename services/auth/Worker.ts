// The auth worker: serves every auth command and query on the bus, in the "auth" group.
import { Effect, Layer } from "effect"
import { Bus } from "../../bus/Bus.ts"
import { GetUser } from "./handlers/GetUser.ts"
import { RefreshSession } from "./handlers/RefreshSession.ts"
import { SignInAnonymously } from "./handlers/SignInAnonymously.ts"
import { SignInWithPassword } from "./handlers/SignInWithPassword.ts"
import { SignOut } from "./handlers/SignOut.ts"
import { SignUp } from "./handlers/SignUp.ts"
import { UpdateUser } from "./handlers/UpdateUser.ts"

export interface WorkerOptions {
  readonly concurrency?: number
  readonly ackWait?: number
}

export const serve = Effect.fnUntraced(function* (options: WorkerOptions = {}) {
  const bus = yield* Bus
  const handlers = yield* Effect.all([
    SignUp,
    SignInAnonymously,
    SignInWithPassword,
    RefreshSession,
    UpdateUser,
    SignOut,
    GetUser,
  ])
  yield* bus.serve({ group: "auth", handlers, ...options })
})

export const layer = (options: WorkerOptions = {}) => Layer.effectDiscard(serve(options))
