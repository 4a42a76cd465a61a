// The HTTP surface on uWebSockets.js: reads each request synchronously as uWS requires, runs its
// route as an Effect, and writes the answer — or the route protocol's error body — unless the
// client went away. Bounds in-flight requests, limits bodies, answers CORS, drains on shutdown.
import { STATUS_CODES } from "node:http"
import { Cause, type Context, Data, Effect, Exit, Fiber, type Scope } from "effect"
import type { Claims, InvalidJwt } from "../platform/jwt/Jwt.ts"
import { formatAddress } from "./http/address.ts"
import { busFailureReason, type Protocol, type RenderableError, render, renderDefect } from "./http/errors.ts"
import {
  BadJson,
  BodyTooLarge,
  InvalidApiKey,
  MethodNotAllowed,
  MissingApiKey,
  RouteNotFound,
  ServerBusy,
} from "./http/GatewayError.ts"
import type { HttpRequest } from "./http/HttpRequest.ts"
import { type HttpResponse, json } from "./http/HttpResponse.ts"
import { IncomingRequest } from "./http/IncomingRequest.ts"
import { newRequestId, RequestMeta, requestIdOf } from "./http/ids.ts"
import { QueryParams } from "./http/QueryParams.ts"
import { type AbortHook, streamOut } from "./http/streamOut.ts"
import { UploadBody } from "./http/UploadBody.ts"
import type { Route } from "./Route.ts"
import { loadUws, type NativeUwsUnavailable, type Uws } from "./uws.ts"

export class ListenFailed extends Data.TaggedError("ListenFailed")<{ readonly message: string }> {}

export interface ReadyReport {
  readonly ready: boolean
  readonly checks: Readonly<Record<string, string>>
}

export interface ServerOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly bodyLimit: number
  readonly maxInflight: number
  readonly drainTimeoutMs: number
  readonly corsOrigins: ReadonlyArray<string>
  readonly trustProxy: boolean
  readonly allowSlowUws: boolean
  /** Checks an `apikey`: a JWT with the project secret whose role is anon or service_role. */
  readonly verifyApiKey: (token: string) => Effect.Effect<Claims, InvalidJwt>
  /** What /ready reports: whether the database and the bus answer. */
  readonly ready: Effect.Effect<ReadyReport>
  /**
   * Adds handlers of its own to the uWS app (realtime's WebSocket) before the catch-all routes;
   * what it returns runs when the server drains or closes, to close its connections normally.
   */
  readonly attach?: (app: import("@trufflesuite/uws-js-unofficial").TemplatedApp) => () => void
}

export interface Server {
  readonly port: number
  readonly inflight: () => number
  /** Stops accepting, lets in-flight requests finish (up to drainTimeoutMs), then closes. */
  readonly drain: Effect.Effect<void>
}

const allowHeaders = [
  "authorization",
  "x-client-info",
  "apikey",
  "content-type",
  "x-retry-count",
  "prefer",
  "accept-profile",
  "content-profile",
  "x-upsert",
  "x-supabase-api-version",
  "cache-control",
  "x-metadata",
  "x-region",
  "range",
  "if-none-match",
  "idempotency-key",
  "x-request-id",
  "traceparent",
  "tracestate",
].join(", ")
const exposeHeaders =
  "content-range, x-total-count, link, x-supabase-api-version, x-relay-error, x-request-id, x-sb-error-code, etag, content-length, retry-after, location, preference-applied"

const statusLines = new Map<number, string>()
const statusLine = (status: number) => {
  let line = statusLines.get(status)
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? "Unknown"}`
    statusLines.set(status, line)
  }
  return line
}

/** The protocol of whatever lives under a path, for errors raised before a route is known. */
const protocolOf = (path: string): Protocol =>
  path.startsWith("/auth/v1/")
    ? "gotrue"
    : path.startsWith("/rest/v1/")
      ? "postgrest"
      : path.startsWith("/storage/v1/")
        ? "storage"
        : "plain"

const parameterCount = (pattern: string) => pattern.split("/").filter((part) => part.startsWith(":")).length
const noBody = Buffer.alloc(0)

const methodNames = new Map(
  ["get", "head", "post", "put", "patch", "delete", "options"].map((m) => [m, m.toUpperCase()]),
)

// One collector for every request (uWS calls it synchronously), instead of a closure per request.
let collecting = new Map<string, string>()
const collectHeader = (name: string, value: string) => {
  collecting.set(name, value)
}
const readHeaders = (req: import("@trufflesuite/uws-js-unofficial").HttpRequest): Map<string, string> => {
  collecting = new Map()
  req.forEach(collectHeader)
  return collecting
}
const noParameters: ReadonlyArray<string> = []

export const start = Effect.fnUntraced(function* <R>(
  routes: ReadonlyArray<Route<R>>,
  context: Context.Context<R>,
  options: ServerOptions,
): Effect.fn.Return<Server, NativeUwsUnavailable | ListenFailed, Scope.Scope> {
  const uws: Uws = yield* Effect.try({
    try: () => loadUws(options.allowSlowUws),
    catch: (e) => e as NativeUwsUnavailable,
  })
  const app = uws.App()
  const runFork = Effect.runForkWith(context)
  let inflight = 0
  let draining = false
  const anyOrigin = options.corsOrigins.includes("*")

  const anyOriginHeaders: ReadonlyArray<readonly [string, string]> = [
    ["access-control-allow-origin", "*"],
    ["access-control-expose-headers", exposeHeaders],
  ]
  const corsHeaders = (origin: string | undefined): ReadonlyArray<readonly [string, string]> =>
    anyOrigin
      ? anyOriginHeaders
      : origin !== undefined && options.corsOrigins.includes(origin)
        ? [
            ["access-control-allow-origin", origin],
            ["vary", "Origin"],
            ["access-control-expose-headers", exposeHeaders],
          ]
        : [["vary", "Origin"]]

  const writeHead = (
    res: import("@trufflesuite/uws-js-unofficial").HttpResponse,
    response: HttpResponse,
    requestId: string,
    origin: string | undefined,
  ) => {
    // uWS answers 200 OK unless told otherwise.
    if (response.status !== 200) res.writeStatus(statusLine(response.status))
    const headers = response.headers
    if (headers !== undefined) for (const name in headers) res.writeHeader(name, headers[name]!)
    // Browsers send Origin on every cross-origin request; without it CORS headers are noise.
    if (origin !== undefined) for (const [name, value] of corsHeaders(origin)) res.writeHeader(name, value)
    res.writeHeader("x-request-id", requestId)
  }

  const write = (
    res: import("@trufflesuite/uws-js-unofficial").HttpResponse,
    response: HttpResponse,
    requestId: string,
    origin: string | undefined,
    close = false,
    abort?: AbortHook,
  ) => {
    if (response.stream !== undefined && response.stream.length > 0) {
      return streamOut(res, response.stream, () => writeHead(res, response, requestId, origin), abort)
    }
    const send = () => {
      writeHead(res, response, requestId, origin)
      if (response.status === 204 || response.status === 304) res.endWithoutBody(0, draining || close)
      else if (response.body === undefined && response.length !== undefined)
        res.endWithoutBody(response.length, draining || close)
      else res.end(response.body ?? "", draining || close)
    }
    response.stream?.body.destroy()
    // Inside uWS's own handler the socket is corked already; an answer that comes later is
    // corked here, so its status, headers and body leave in one write.
    if (dispatching) send()
    else res.cork(send)
  }

  // True while uWS runs a request handler: answers given then need no cork of their own.
  let dispatching = false

  const handler = (route: Route<R> | undefined, fallback?: RenderableError) => {
    const handle = answer(route, fallback)
    return (
      res: import("@trufflesuite/uws-js-unofficial").HttpResponse,
      req: import("@trufflesuite/uws-js-unofficial").HttpRequest,
    ) => {
      dispatching = true
      try {
        handle(res, req)
      } finally {
        dispatching = false
      }
    }
  }

  const answer = (route: Route<R> | undefined, fallback?: RenderableError) => {
    const parameters = route === undefined ? 0 : parameterCount(route.path)
    return (
      res: import("@trufflesuite/uws-js-unofficial").HttpResponse,
      req: import("@trufflesuite/uws-js-unofficial").HttpRequest,
    ) => {
      // uWS frees `req` when this function returns: copy everything now.
      const path = req.getUrl()
      const method = methodNames.get(req.getMethod()) ?? req.getMethod().toUpperCase()
      const rawQuery = req.getQuery() ?? ""
      const headers = readHeaders(req)
      const params =
        route === undefined
          ? []
          : parameters === 0
            ? noParameters
            : Array.from({ length: parameters }, (_, i) => req.getParameter(i))
      const forwarded = options.trustProxy ? headers.get("x-forwarded-for")?.split(",")[0]?.trim() : undefined
      // Read on first use (rate limits, the admin gate): `res` stays valid until answered.
      const clientIp = () =>
        forwarded || (aborted ? "" : formatAddress(new Uint8Array(res.getRemoteAddress())))
      const requestId = requestIdOf(headers.get("x-request-id"))

      const origin = headers.get("origin")
      const protocol = route?.protocol ?? protocolOf(path)

      let aborted = false
      let fiber: Fiber.Fiber<HttpResponse, RenderableError> | undefined
      let upload: UploadBody | undefined
      const abort: AbortHook = { on: undefined }
      res.onAborted(() => {
        aborted = true
        upload?.abort()
        abort.on?.()
        if (fiber !== undefined) Effect.runFork(Fiber.interrupt(fiber))
      })

      const meta = new RequestMeta(requestId, headers.get("traceparent"))
      const bare = new IncomingRequest(
        method,
        path,
        rawQuery,
        headers,
        params,
        clientIp,
        noBody,
        undefined,
        meta,
      )
      const request = (body: Buffer, parsed: unknown): HttpRequest =>
        upload !== undefined
          ? bare.withStream(upload.stream)
          : body === noBody && parsed === undefined
            ? bare
            : bare.withBody(body, parsed)
      const reply = (response: HttpResponse, close = false) => {
        if (aborted) {
          response.stream?.body.destroy()
          return
        }
        // Answered before the whole upload was read (a refusal): closing drops what is left.
        const unread = upload?.settle() ?? false
        write(res, response, requestId, origin, close || unread, abort)
      }
      /** Answers with `error` in the protocol's shape. */
      const fail = (error: RenderableError, body: Buffer = noBody, close = false) =>
        reply(render(protocol, error, request(body, undefined)), close)

      if (route === undefined) return fail(fallback ?? new RouteNotFound())
      if (draining || inflight >= options.maxInflight) return fail(new ServerBusy())

      const run = (body: Buffer) => {
        // Checks that need no Effect run synchronously; only the route itself is a fiber.
        let parsed: unknown
        if (route.body === "json") {
          const text = body.toString("utf8")
          if (text.trim() === "" && route.emptyBody === true) parsed = {}
          else {
            try {
              parsed = JSON.parse(text)
            } catch (error) {
              return fail(
                new BadJson({ reason: text.trim() === "" ? "EOF" : (error as Error).message }),
                body,
              )
            }
          }
        }
        const handled = route.handle(request(body, parsed))
        let program = handled
        if (route.apiKey) {
          const key =
            headers.get("apikey") || (rawQuery === "" ? null : new QueryParams(rawQuery).get("apikey"))
          if (!key) return fail(new MissingApiKey(), body)
          program = Effect.flatMap(
            Effect.mapError(options.verifyApiKey(key), () => new InvalidApiKey()),
            (claims) =>
              claims.role === "anon" || claims.role === "service_role"
                ? handled
                : Effect.fail(new InvalidApiKey()),
          )
        }
        inflight++
        const running = runFork(program)
        fiber = running
        running.addObserver((exit) => {
          inflight--
          if (Exit.isSuccess(exit)) return reply(exit.value)
          const failure = Cause.findErrorOption(exit.cause)
          if (failure._tag === "Some") {
            const error = failure.value
            const reason = busFailureReason(error)
            if (reason !== undefined)
              runFork(Effect.logWarning(`answered 5xx: ${reason}`).pipe(Effect.annotateLogs({ requestId })))
            return fail(error, body)
          }
          if (Cause.hasInterruptsOnly(exit.cause)) return
          runFork(renderDefect(protocol, Cause.squash(exit.cause), request(body, undefined))).addObserver(
            (rendered) => Exit.isSuccess(rendered) && reply(rendered.value),
          )
        })
      }

      if (route.body === "none") return run(noBody)
      if (route.body === "stream") {
        upload = new UploadBody(res)
        return run(noBody)
      }
      const declared = Number(headers.get("content-length") ?? "0")
      const tooLarge = () => fail(new BodyTooLarge({ limit: options.bodyLimit }), noBody, true)
      if (declared > options.bodyLimit) return tooLarge()
      const chunks: Array<Buffer> = []
      let size = 0
      res.onData((chunk, isLast) => {
        if (aborted || size > options.bodyLimit) return
        size += chunk.byteLength
        if (size > options.bodyLimit) return tooLarge()
        // The chunk's memory belongs to uWS after this callback: copy it.
        chunks.push(Buffer.from(new Uint8Array(chunk)))
        if (isLast) run(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
      })
    }
  }

  app.options("/*", (res, req) => {
    const origin = req.getHeader("origin") || undefined
    const requestId = requestIdOf(req.getHeader("x-request-id") || undefined)
    write(
      res,
      {
        status: 204,
        headers: {
          "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
          "access-control-allow-headers": allowHeaders,
          "access-control-max-age": "86400",
        },
      },
      requestId,
      origin,
    )
  })

  app.get("/health", (res) => write(res, json(200, { status: "ok" }), newRequestId(), undefined))
  app.get("/ready", (res) => {
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    Effect.runFork(options.ready).addObserver((exit) => {
      if (aborted) return
      const report = Exit.isSuccess(exit) ? exit.value : { ready: false, checks: { process: "failed" } }
      write(res, json(report.ready ? 200 : 503, report), newRequestId(), undefined)
    })
  })

  const detach = options.attach?.(app)
  for (const route of routes) app[route.method](route.path, handler(route))
  // A known path asked with another method is a 405; anything else is a 404.
  for (const path of new Set(routes.map((r) => r.path)))
    app.any(path, handler(undefined, new MethodNotAllowed()))
  app.any("/*", handler(undefined))

  const listenSocket = yield* Effect.callback<unknown, ListenFailed>((resume) => {
    app.listen(options.host, options.port, (socket) =>
      resume(
        socket
          ? Effect.succeed(socket)
          : Effect.fail(new ListenFailed({ message: `cannot listen on ${options.host}:${options.port}` })),
      ),
    )
  })
  const port = uws.us_socket_local_port(listenSocket as never)
  let closed = false
  let listening = true
  // Closing a listen socket twice frees it twice and crashes the process.
  const stopListening = () => {
    if (!listening) return
    listening = false
    uws.us_listen_socket_close(listenSocket as never)
  }
  const close = Effect.sync(() => {
    if (closed) return
    closed = true
    draining = true
    stopListening()
    detach?.()
    // Present in the native build though missing from its typings: closes every open connection.
    ;(app as unknown as { close: () => void }).close()
  })
  yield* Effect.addFinalizer(() => close)

  const drain = Effect.gen(function* () {
    if (closed) return
    draining = true
    stopListening()
    detach?.()
    const deadline = Date.now() + options.drainTimeoutMs
    while (inflight > 0 && Date.now() < deadline) yield* Effect.sleep(10)
    yield* close
  })

  return { port, inflight: () => inflight, drain } satisfies Server
})
