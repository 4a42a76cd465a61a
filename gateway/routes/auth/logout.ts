// POST /auth/v1/logout?scope=global|local|others — 204 whatever was still alive.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { empty } from "../../http/HttpResponse.ts"
import { gotrueRoute, signedIn } from "./request.ts"

const scopes = ["global", "local", "others"] as const

const handleLogout = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const { userId, sessionId } = yield* signedIn(request)
  const asked = request.query.get("scope") ?? "global"
  const scope = scopes.find((s) => s === asked)
  if (scope === undefined)
    return yield* new ValidationFailed({ message: `Unsupported logout scope "${asked}"` })
  yield* bus.send(
    Auth.SignOut,
    // Without a session in the token every scope ends them all, as in GoTrue.
    {
      user_id: userId,
      session_id: sessionId ?? "00000000-0000-0000-0000-000000000000",
      scope: sessionId === null ? "global" : scope,
    },
    commandOptions(request, timeout),
  )
  return empty(204)
})

export const logout = (timeout: number) =>
  gotrueRoute({
    method: "post",
    path: "/auth/v1/logout",
    body: "none",
    handle: (request) => handleLogout(request, timeout),
  })
