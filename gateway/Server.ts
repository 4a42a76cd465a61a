// The HTTP surface on uWebSockets.js: reads each request synchronously as uWS requires, runs its
// route as an Effect, and writes the answer — or the route protocol's error body — unless the
// client went away. Bounds in-flight requests, limits bodies, answers CORS, drains on shutdown.
import { randomBytes, randomUUID } from "node:crypto"
import { STATUS_CODES } from "node:http"
import { type Context, Data, Effect, Exit, Fiber, type Scope } from "effect"
import type { Claims, InvalidJwt } from "../platform/jwt/Jwt.ts"
import { type Protocol, type RenderableError, render, renderDefect } from "./http/errors.ts"
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

const statusLine = (status: number) => `${status} ${STATUS_CODES[status] ?? "Unknown"}`
const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/
const traceparentPattern = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/
const newTraceparent = () => `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`

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

export const start = <R>(
  routes: ReadonlyArray<Route<R>>,
  context: Context.Context<R>,
  options: ServerOptions,
): Effect.Effect<Server, NativeUwsUnavailable | ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const uws: Uws = yield* Effect.try({
      try: () => loadUws(options.allowSlowUws),
      catch: (e) => e as NativeUwsUnavailable,
    })
    const app = uws.App()
    const runFork = Effect.runForkWith(context)
    let inflight = 0
    let draining = false
    const anyOrigin = options.corsOrigins.includes("*")

    const corsHeaders = (origin: string | undefined): Record<string, string> =>
      anyOrigin
        ? { "access-control-allow-origin": "*", "access-control-expose-headers": exposeHeaders }
        : origin !== undefined && options.corsOrigins.includes(origin)
          ? {
              "access-control-allow-origin": origin,
              vary: "Origin",
              "access-control-expose-headers": exposeHeaders,
            }
          : { vary: "Origin" }

    const write = (
      res: import("@trufflesuite/uws-js-unofficial").HttpResponse,
      response: HttpResponse,
      requestId: string,
      origin: string | undefined,
      close = false,
    ) => {
      res.cork(() => {
        res.writeStatus(statusLine(response.status))
        for (const [name, value] of Object.entries(response.headers ?? {})) res.writeHeader(name, value)
        for (const [name, value] of Object.entries(corsHeaders(origin))) res.writeHeader(name, value)
        res.writeHeader("x-request-id", requestId)
        if (response.status === 204 || response.status === 304) res.endWithoutBody(0, draining || close)
        else res.end(response.body ?? "", draining || close)
      })
    }

    const handler =
      (route: Route<R> | undefined, fallback?: RenderableError) =>
      (
        res: import("@trufflesuite/uws-js-unofficial").HttpResponse,
        req: import("@trufflesuite/uws-js-unofficial").HttpRequest,
      ) => {
        // uWS frees `req` when this function returns: copy everything now.
        const path = req.getUrl()
        const method = req.getMethod().toUpperCase()
        const query = new URLSearchParams(req.getQuery() ?? "")
        const headers = new Map<string, string>()
        req.forEach((name, value) => headers.set(name, value))
        const params =
          route === undefined
            ? []
            : Array.from({ length: parameterCount(route.path) }, (_, i) => req.getParameter(i))
        const forwarded = options.trustProxy
          ? headers.get("x-forwarded-for")?.split(",")[0]?.trim()
          : undefined
        const ip = forwarded || Buffer.from(res.getRemoteAddressAsText()).toString()
        const given = headers.get("x-request-id")
        const requestId = given !== undefined && requestIdPattern.test(given) ? given : randomUUID()
        const trace = headers.get("traceparent")
        const traceparent = trace !== undefined && traceparentPattern.test(trace) ? trace : newTraceparent()
        const origin = headers.get("origin")
        const protocol = route?.protocol ?? protocolOf(path)

        let aborted = false
        let fiber: Fiber.Fiber<HttpResponse> | undefined
        res.onAborted(() => {
          aborted = true
          if (fiber !== undefined) Effect.runFork(Fiber.interrupt(fiber))
        })

        const request = (body: Buffer, parsed: unknown): HttpRequest => ({
          method,
          path,
          query,
          headers,
          params,
          ip,
          body,
          json: parsed,
          meta: { requestId, traceparent },
        })
        const reply = (response: HttpResponse, close = false) => {
          if (!aborted) write(res, response, requestId, origin, close)
        }

        if (route === undefined)
          return reply(render(protocol, fallback ?? new RouteNotFound(), request(Buffer.alloc(0), undefined)))
        if (draining || inflight >= options.maxInflight) {
          return reply(render(protocol, new ServerBusy(), request(Buffer.alloc(0), undefined)))
        }

        const run = (body: Buffer) => {
          const program = Effect.gen(function* () {
            if (route.apiKey) {
              const key = headers.get("apikey") ?? query.get("apikey") ?? undefined
              if (key === undefined || key === "") return yield* new MissingApiKey()
              const claims = yield* Effect.mapError(options.verifyApiKey(key), () => new InvalidApiKey())
              if (claims.role !== "anon" && claims.role !== "service_role") return yield* new InvalidApiKey()
            }
            let parsed: unknown
            if (route.body === "json") {
              const text = body.toString("utf8")
              if (text.trim() === "" && route.emptyBody === true) parsed = {}
              else {
                try {
                  parsed = JSON.parse(text)
                } catch (error) {
                  return yield* new BadJson({ reason: text.trim() === "" ? "EOF" : (error as Error).message })
                }
              }
            }
            return yield* route.handle(request(body, parsed))
          }).pipe(
            Effect.catch((error: RenderableError) =>
              Effect.succeed(render(protocol, error, request(body, undefined))),
            ),
            Effect.catchDefect((defect) => renderDefect(protocol, defect, request(body, undefined))),
          )
          inflight++
          fiber = runFork(program)
          fiber.addObserver((exit) => {
            inflight--
            if (Exit.isSuccess(exit)) reply(exit.value)
          })
        }

        if (route.body === "none") return run(Buffer.alloc(0))
        const declared = Number(headers.get("content-length") ?? "0")
        if (declared > options.bodyLimit) {
          return reply(
            render(
              protocol,
              new BodyTooLarge({ limit: options.bodyLimit }),
              request(Buffer.alloc(0), undefined),
            ),
            true,
          )
        }
        const chunks: Array<Buffer> = []
        let size = 0
        res.onData((chunk, isLast) => {
          if (aborted || size > options.bodyLimit) return
          size += chunk.byteLength
          if (size > options.bodyLimit) {
            return reply(
              render(
                protocol,
                new BodyTooLarge({ limit: options.bodyLimit }),
                request(Buffer.alloc(0), undefined),
              ),
              true,
            )
          }
          // The chunk's memory belongs to uWS after this callback: copy it.
          chunks.push(Buffer.from(new Uint8Array(chunk)))
          if (isLast) run(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
        })
      }

    app.options("/*", (res, req) => {
      const origin = req.getHeader("origin") || undefined
      const given = req.getHeader("x-request-id")
      const requestId = requestIdPattern.test(given) ? given : randomUUID()
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

    app.get("/health", (res) => write(res, json(200, { status: "ok" }), randomUUID(), undefined))
    app.get("/ready", (res) => {
      let aborted = false
      res.onAborted(() => {
        aborted = true
      })
      Effect.runFork(options.ready).addObserver((exit) => {
        if (aborted) return
        const report = Exit.isSuccess(exit) ? exit.value : { ready: false, checks: { process: "failed" } }
        write(res, json(report.ready ? 200 : 503, report), randomUUID(), undefined)
      })
    })

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
      // Present in the native build though missing from its typings: closes every open connection.
      ;(app as unknown as { close: () => void }).close()
    })
    yield* Effect.addFinalizer(() => close)

    const drain = Effect.gen(function* () {
      if (closed) return
      draining = true
      stopListening()
      const deadline = Date.now() + options.drainTimeoutMs
      while (inflight > 0 && Date.now() < deadline) yield* Effect.sleep(10)
      yield* close
    })

    return { port, inflight: () => inflight, drain } satisfies Server
  })
