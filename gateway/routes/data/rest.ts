// /rest/v1/:table and /rest/v1/rpc/:fn: PostgREST's surface. The gateway settles who is asking and
// in which schema; the data worker owns the grammar, the schema cache and the SQL. Reads are
// queries, everything else a command, so a write outlives a worker that dies on it.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Data from "../../../contracts/data.ts"
import { isApiRole } from "../../../contracts/shared.ts"
import { claimsText } from "../../http/claimsText.ts"
import { callerToken, commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import type { HttpResponse } from "../../http/HttpResponse.ts"
import { type Method, type Route, route } from "../../Route.ts"
import { AuthGateway } from "../auth/AuthGateway.ts"
import { DataGateway } from "./DataGateway.ts"

const restError = (status: number, code: string, message: string, details: string | null = null) =>
  new Data.RestError({ status, code, message, details, hint: null })

/** The caller's claims: the bearer token's, else the apikey's (already checked by the server). */
const caller = Effect.fnUntraced(function* (request: HttpRequest) {
  // The server's verifier, and its cache: the apikey checked at the door is not checked again.
  const { verify } = yield* AuthGateway
  const token = callerToken(request)
  const claims = yield* verify(token).pipe(
    Effect.mapError((e) =>
      /expired/i.test(e.reason)
        ? restError(401, "PGRST303", "JWT expired")
        : restError(401, "PGRST301", `JWT could not be verified: ${e.reason}`),
    ),
  )
  if (!isApiRole(claims.role)) {
    return yield* restError(401, "PGRST301", `role "${claims.role}" may not use the Data API`)
  }
  return claims
})

/** Accept-Profile (reads) or Content-Profile (writes) against the exposed schemas: PGRST106. */
const schemaOf = (request: HttpRequest, schemas: ReadonlyArray<string>) => {
  const read = request.method === "GET" || request.method === "HEAD"
  const asked = request.headers.get(read ? "accept-profile" : "content-profile")
  if (asked === undefined || asked === "") return Effect.succeed(schemas[0]!)
  return schemas.includes(asked)
    ? Effect.succeed(asked)
    : Effect.fail(
        restError(406, "PGRST106", `The schema must be one of the following: ${schemas.join(", ")}`),
      )
}

const nameOf = (request: HttpRequest) =>
  Effect.try({
    try: () => decodeURIComponent(request.params[0]!),
    catch: () => restError(400, "PGRST100", `"${request.params[0]}" is not a valid name`),
  })

const queryOf = (request: HttpRequest): Array<{ name: string; value: string }> => {
  if (request.query.raw === "") return []
  const out: Array<{ name: string; value: string }> = []
  for (const [name, value] of request.query.params) if (name !== "apikey") out.push({ name, value })
  return out
}

const answer = (reply: Data.RestReply): HttpResponse => ({
  status: reply.status,
  headers: reply.headers,
  ...(reply.body === "" ? {} : { body: reply.body }),
})

/** One body for every method and kind: the request goes to the data worker as a query or a command. */
const handleRest = Effect.fnUntraced(function* (
  request: HttpRequest,
  kind: "table" | "rpc",
  timeout: number,
) {
  const bus = yield* Bus
  const gateway = yield* DataGateway
  const claims = yield* caller(request)
  const schema = yield* schemaOf(request, gateway.schemas)
  const payload: Data.RestRequest = {
    role: claims.role,
    claims: claimsText(claims),
    method: request.method as Data.RestRequest["method"],
    schema,
    target: { kind, name: yield* nameOf(request) },
    query: queryOf(request),
    prefer: request.headers.get("prefer") ?? null,
    accept: request.headers.get("accept") ?? null,
    range: request.headers.get("range") ?? null,
    body: request.body.length === 0 ? null : request.body.toString("utf8"),
  }
  const reply =
    request.method === "GET" || request.method === "HEAD"
      ? yield* bus.request(Data.Read, payload, { meta: request.meta, timeout })
      : yield* bus.send(Data.Write, payload, commandOptions(request, timeout))
  return answer(reply)
})

const restRoute = (
  method: Method,
  kind: "table" | "rpc",
  timeout: number,
): Route<Bus | AuthGateway | DataGateway> =>
  route({
    method,
    path: kind === "table" ? "/rest/v1/:name" : "/rest/v1/rpc/:name",
    protocol: "postgrest",
    apiKey: true,
    body: method === "get" || method === "head" || method === "del" ? "none" : "raw",
    handle: (request) => handleRest(request, kind, timeout),
  })

const methods: ReadonlyArray<Method> = ["get", "head", "post", "patch", "put", "del"]

export const restRoutes = (timeout: number) => [
  ...methods.map((m) => restRoute(m, "rpc", timeout)),
  ...methods.map((m) => restRoute(m, "table", timeout)),
]
