// POST /auth/v1/signup — with an email, SignUp; with neither email nor phone, an anonymous sign-in.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Auth from "../../../contracts/auth.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { json } from "../../http/HttpResponse.ts"
import { body, gotrueRoute, object, rateLimit, text } from "./request.ts"

const handleSignup = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const fields = body(request)
  const email = yield* text(fields, "email")
  const phone = yield* text(fields, "phone")
  const password = yield* text(fields, "password")
  const data = (yield* object(fields, "data")) ?? {}
  if (!email && !phone) {
    yield* rateLimit(request, "anonymous", (l) => l.anonymous)
    return json(200, yield* bus.send(Auth.SignInAnonymously, { data }, commandOptions(request, timeout)))
  }
  if (email && phone) {
    return yield* new ValidationFailed({
      message: "Only an email address or phone number should be provided on signup.",
    })
  }
  if (!email)
    return yield* new ValidationFailed({ message: "Phone signups are not supported", field: "phone" })
  yield* rateLimit(request, "signup", (l) => l.signUp)
  const result = yield* bus.send(
    Auth.SignUp,
    { email, password: password ?? "", data },
    commandOptions(request, timeout),
  )
  // GoTrue answers with the session when there is one, otherwise with the bare user.
  return json(200, result.session ?? result.user)
})

export const signup = (timeout: number) =>
  gotrueRoute({
    method: "post",
    path: "/auth/v1/signup",
    body: "json",
    handle: (request) => handleSignup(request, timeout),
  })
