// GET /auth/v1/user and PUT /auth/v1/user: the signed-in user, read or changed.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { json } from "../../http/HttpResponse.ts"
import { body, gotrueRoute, object, rateLimit, signedIn, text } from "./request.ts"

const handleGetUser = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const { userId, sessionId } = yield* signedIn(request)
  return json(
    200,
    yield* bus.request(
      Auth.GetUser,
      { user_id: userId, session_id: sessionId },
      { meta: request.meta, timeout },
    ),
  )
})

export const getUser = (timeout: number) =>
  gotrueRoute({
    method: "get",
    path: "/auth/v1/user",
    body: "none",
    handle: (request) => handleGetUser(request, timeout),
  })

const handleUpdateUser = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const { userId, sessionId } = yield* signedIn(request)
  yield* rateLimit(request, "signup", (l) => l.signUp)
  const fields = body(request)
  const email = yield* text(fields, "email")
  const password = yield* text(fields, "password")
  const data = yield* object(fields, "data")
  const user = yield* bus.send(
    Auth.UpdateUser,
    {
      user_id: userId,
      // A token without a session (an admin's) still names a user; it cannot own this call.
      session_id: sessionId ?? "00000000-0000-0000-0000-000000000000",
      ...(email === undefined ? {} : { email }),
      ...(password === undefined ? {} : { password }),
      ...(data === undefined ? {} : { data }),
    },
    commandOptions(request, timeout),
  )
  return json(200, user)
})

export const updateUser = (timeout: number) =>
  gotrueRoute({
    method: "put",
    path: "/auth/v1/user",
    body: "json",
    handle: (request) => handleUpdateUser(request, timeout),
  })
