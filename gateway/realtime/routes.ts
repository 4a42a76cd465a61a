// Realtime's REST broadcast: `POST /realtime/v1/api/broadcast` (many messages, what `send` falls
// back to) and `POST /realtime/v1/api/broadcast/:subTopic/events/:event` (`httpSend`), both 202.
import { Effect } from "effect"
import { ValidationFailed } from "../../contracts/errors.ts"
import type { Claims, InvalidJwt } from "../../platform/jwt/Jwt.ts"
import { BadJson, BadJwt } from "../http/GatewayError.ts"
import { callerToken, type HttpRequest } from "../http/HttpRequest.ts"
import { empty } from "../http/HttpResponse.ts"
import { type Route, route } from "../Route.ts"
import type { BroadcastMessage, TopicAuthorizer } from "./Gateway.ts"

export interface BroadcastRoutesOptions {
  readonly verifyJwt: (token: string) => Effect.Effect<Claims, InvalidJwt>
  readonly authorizeTopic: TopicAuthorizer
  readonly broadcast: (message: BroadcastMessage) => void
}

/** The caller: its bearer token, or the apikey (already checked by the server) without one. */
const claimsOf = (options: BroadcastRoutesOptions, request: HttpRequest) =>
  options
    .verifyJwt(callerToken(request))
    .pipe(Effect.mapError((e) => new BadJwt({ status: 401, message: `invalid JWT: ${e.reason}` })))

const mayWrite = (options: BroadcastRoutesOptions, claims: Claims, subTopic: string) =>
  options.authorizeTopic(subTopic, claims, "write").pipe(
    Effect.flatMap((allowed) =>
      allowed
        ? Effect.void
        : Effect.fail(
            new BadJwt({
              status: 403,
              message: `You do not have permissions to write to this Channel topic: ${subTopic}`,
            }),
          ),
    ),
  )

const sendMany = Effect.fnUntraced(function* (options: BroadcastRoutesOptions, request: HttpRequest) {
  const claims = yield* claimsOf(options, request)
  const messages = (request.json as { messages?: unknown } | null)?.messages
  if (!Array.isArray(messages))
    return yield* new ValidationFailed({ message: "messages must be a list", field: "messages" })
  const parsed: Array<BroadcastMessage> = []
  for (const [i, m] of messages.entries()) {
    const { topic, event, payload } = (m ?? {}) as Record<string, unknown>
    if (typeof topic !== "string" || topic === "" || typeof event !== "string")
      return yield* new ValidationFailed({
        message: "each message needs a topic and an event",
        field: `messages[${i}]`,
      })
    const isPrivate = (m as Record<string, unknown>)["private"] === true
    if (isPrivate) yield* mayWrite(options, claims, topic)
    parsed.push({
      topic: `realtime:${topic}`,
      private: isPrivate,
      event,
      payload: { json: JSON.stringify(payload ?? {}) },
      meta: "",
    })
  }
  for (const message of parsed) options.broadcast(message)
  return empty(202)
})

const sendOne = Effect.fnUntraced(function* (options: BroadcastRoutesOptions, request: HttpRequest) {
  const claims = yield* claimsOf(options, request)
  const subTopic = decodeURIComponent(request.params[0]!)
  const event = decodeURIComponent(request.params[1]!)
  const isPrivate = request.query.get("private") === "true"
  if (isPrivate) yield* mayWrite(options, claims, subTopic)
  const binary = (request.headers.get("content-type") ?? "").startsWith("application/octet-stream")
  let json: string | undefined
  if (!binary) {
    const text = request.body.toString("utf8")
    try {
      json = JSON.stringify(JSON.parse(text))
    } catch (error) {
      return yield* new BadJson({ reason: text.trim() === "" ? "EOF" : (error as Error).message })
    }
  }
  options.broadcast({
    topic: `realtime:${subTopic}`,
    private: isPrivate,
    event,
    payload: json === undefined ? { binary: new Uint8Array(request.body) } : { json },
    meta: "",
  })
  return empty(202)
})

export const broadcastRoutes = (options: BroadcastRoutesOptions): ReadonlyArray<Route> => [
  route({
    method: "post",
    path: "/realtime/v1/api/broadcast",
    protocol: "plain",
    apiKey: true,
    body: "json",
    handle: (request) => sendMany(options, request),
  }),
  route({
    method: "post",
    path: "/realtime/v1/api/broadcast/:subTopic/events/:event",
    protocol: "plain",
    apiKey: true,
    body: "raw",
    handle: (request) => sendOne(options, request),
  }),
]
