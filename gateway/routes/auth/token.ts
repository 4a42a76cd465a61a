// POST /auth/v1/token?grant_type=password|refresh_token
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { UnsupportedGrantType } from "../../http/GatewayError.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { json } from "../../http/HttpResponse.ts"
import { body, gotrueRoute, rateLimit, text } from "./request.ts"

const handleToken = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const grant = request.query.get("grant_type")
  if (grant !== "password" && grant !== "refresh_token") return yield* new UnsupportedGrantType()
  yield* rateLimit(request, "token", (l) => l.token)
  const fields = body(request)
  if (grant === "refresh_token") {
    const refresh = yield* text(fields, "refresh_token")
    if (!refresh)
      return yield* new ValidationFailed({
        message: "Refresh token is not valid",
        field: "refresh_token",
      })
    return json(
      200,
      yield* bus.send(Auth.RefreshSession, { refresh_token: refresh }, commandOptions(request, timeout)),
    )
  }
  const email = yield* text(fields, "email")
  const phone = yield* text(fields, "phone")
  const password = (yield* text(fields, "password")) ?? ""
  if (email && phone) {
    return yield* new ValidationFailed({
      message: "Only an email address or phone number should be provided on login.",
    })
  }
  if (!email) {
    return yield* new ValidationFailed({
      message: phone ? "Phone logins are not supported" : "missing email or phone",
    })
  }
  return json(
    200,
    yield* bus.send(Auth.SignInWithPassword, { email, password }, commandOptions(request, timeout)),
  )
})

export const token = (timeout: number) =>
  gotrueRoute({
    method: "post",
    path: "/auth/v1/token",
    body: "json",
    handle: (request) => handleToken(request, timeout),
  })
