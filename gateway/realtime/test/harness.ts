// Realtime tests' fixtures: a real gateway (uWS server + realtime) on a free port, supabase-js
// clients over `ws`, HS256 tokens, and waiting for what arrives.
import { createClient, type SupabaseClient } from "@supabase/supabase-js"
import { Context, Effect, Exit, Scope } from "effect"
import ws from "ws"
import { makeVerifier, sign } from "../../../platform/jwt/Jwt.ts"
import * as Server from "../../Server.ts"
import * as BroadcastRelay from "../BroadcastRelay.ts"
import { type ChangeAuthorizer, ownRows } from "../ChangeAuthorizer.ts"
import * as ChangeHistory from "../ChangeHistory.ts"
import type { Limits } from "../Gateway.ts"
import * as Realtime from "../Realtime.ts"
import type { RowChange } from "../RowChange.ts"

export const secret = "a-realtime-test-secret-long-enough-for-hs256"
const now = () => Math.floor(Date.now() / 1000)

export const token = (claims: Record<string, unknown>, ttlSeconds = 3600) =>
  Effect.runPromise(sign(secret, { iat: now(), exp: now() + ttlSeconds, ...claims }))

export const anonKey = () => token({ role: "anon", iss: "reactor" }, 10 * 365 * 86400)
export const serviceKey = () => token({ role: "service_role", iss: "reactor" }, 10 * 365 * 86400)
export const userToken = (sub: string, ttlSeconds = 3600) => token({ role: "authenticated", sub }, ttlSeconds)

export interface Gateway {
  readonly url: string
  readonly port: number
  readonly realtime: Realtime.Realtime
  readonly history: ReturnType<typeof ChangeHistory.memory>
  /** Records the changes in the history, then publishes them, as the runtime's poller would. */
  readonly publish: (changes: ReadonlyArray<RowChange>) => Promise<void>
  readonly drain: () => Promise<void>
  readonly stop: () => Promise<void>
}

export interface GatewayOptions {
  readonly relay?: BroadcastRelay.BroadcastRelay
  readonly limits?: Partial<Limits>
  readonly authorizer?: ChangeAuthorizer
  /** Wraps the history, e.g. to slow it down. */
  readonly history?: (history: ChangeHistory.ChangeHistory) => ChangeHistory.ChangeHistory
}

export const startGateway = async (options: GatewayOptions = {}): Promise<Gateway> => {
  const scope = Effect.runSync(Scope.make())
  const history = ChangeHistory.memory(1000)
  const verifyJwt = makeVerifier(secret)
  const realtime = await Effect.runPromise(
    Scope.provide(
      Realtime.make({
        verifyJwt,
        authorizer: options.authorizer ?? ownRows(),
        history: options.history?.(history) ?? history,
        relay: options.relay ?? BroadcastRelay.local,
        ...(options.limits === undefined ? {} : { limits: options.limits }),
        authorizeTopic: (topic, claims) =>
          Effect.succeed(
            claims.role === "service_role" || (claims.role === "authenticated" && !topic.startsWith("staff")),
          ),
      }),
      scope,
    ),
  )
  const server = await Effect.runPromise(
    Scope.provide(
      Server.start(realtime.routes, Context.empty(), {
        host: "127.0.0.1",
        port: 0,
        bodyLimit: 1024 * 1024,
        maxInflight: 100,
        drainTimeoutMs: 1000,
        corsOrigins: ["*"],
        trustProxy: false,
        allowSlowUws: false,
        verifyApiKey: verifyJwt,
        ready: Effect.succeed({ ready: true, checks: {} }),
        attach: realtime.attach,
      }),
      scope,
    ),
  )
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    realtime,
    history,
    publish: (changes) => {
      history.record(changes)
      return Effect.runPromise(realtime.publishChanges(changes))
    },
    drain: () => Effect.runPromise(server.drain),
    stop: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

export const client = (url: string, key: string, realtime: Record<string, unknown> = {}): SupabaseClient =>
  createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws as never, ...realtime },
  })

/** Resolves once `check` holds, polling; fails with `what` after `ms`. */
export const eventually = async (check: () => boolean, what = "condition", ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Subscribes and resolves with the final status: SUBSCRIBED, CHANNEL_ERROR (with its error) or TIMED_OUT. */
export const subscribed = (channel: ReturnType<SupabaseClient["channel"]>) =>
  new Promise<{ status: string; error?: Error }>((resolve) => {
    channel.subscribe((status, error) => {
      if (status !== "CLOSED") resolve(error === undefined ? { status } : { status, error })
    })
  })

let positions = 0
export const change = (
  table: string,
  type: RowChange["type"],
  row: Record<string, unknown>,
  old: Record<string, unknown> | null = null,
): RowChange => ({
  position: `p${String(++positions).padStart(8, "0")}`,
  schema: "public",
  table,
  type,
  commit_timestamp: new Date().toISOString(),
  columns: [
    { name: "id", type: "int8" },
    { name: "user_id", type: "text" },
    { name: "title", type: "text" },
    { name: "done", type: "bool" },
  ],
  record: type === "DELETE" ? null : row,
  old_record: type === "INSERT" ? null : (old ?? { id: row["id"] }),
})
