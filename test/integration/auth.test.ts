import { randomUUID } from "node:crypto"
import type { SupabaseClient } from "@supabase/supabase-js"
import { Effect, Exit, Scope } from "effect"
import { decodeJwt } from "jose"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { rebuild } from "../../platform/eventlog/Rebuild.ts"
import * as Postgres from "../../platform/postgres/Postgres.ts"
import { projector } from "../../services/auth/Projections.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"
import { supabaseClient } from "../support/supabase.ts"

const email = () => `user-${randomUUID().slice(0, 8)}@example.com`
const password = "correct horse battery staple"

describe.each(topologies)("Auth through supabase-js (%s)", (topology) => {
  let reactor: RunningReactor
  const client = (): SupabaseClient => supabaseClient(reactor.url, reactor.anonKey)
  const gotrue = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${reactor.url}/auth/v1${path}`, {
      ...init,
      headers: { apikey: reactor.anonKey, "content-type": "application/json", ...init.headers },
    })

  beforeAll(async () => {
    reactor = await startReactor(topology, { env: { REACTOR_AUTH_REFRESH_TOKEN_REUSE_INTERVAL: "1" } })
  }, 60_000)
  afterAll(() => reactor?.stop())

  describe("signing up", () => {
    it("creates the user and starts a session with Supabase's claims", async () => {
      const address = email()
      const { data, error } = await client().auth.signUp({
        email: address,
        password,
        options: { data: { name: "Ada" } },
      })
      expect(error).toBeNull()
      expect(data.user).toMatchObject({
        email: address,
        aud: "authenticated",
        role: "authenticated",
        is_anonymous: false,
        user_metadata: { name: "Ada", email_verified: true },
        app_metadata: { provider: "email", providers: ["email"] },
      })
      expect(data.user!.identities).toHaveLength(1)
      expect(data.user!.identities![0]).toMatchObject({ provider: "email", user_id: data.user!.id })
      expect(data.session).toMatchObject({ token_type: "bearer", expires_in: 3600 })
      const claims = decodeJwt(data.session!.access_token)
      expect(claims).toMatchObject({
        sub: data.user!.id,
        role: "authenticated",
        aud: "authenticated",
        email: address,
        aal: "aal1",
        is_anonymous: false,
        user_metadata: { name: "Ada" },
      })
      expect(claims.iss).toMatch(/\/auth\/v1$/)
      expect(claims.session_id).toMatch(/^[0-9a-f-]{36}$/)
      expect(claims.exp! - claims.iat!).toBe(3600)
      expect((claims.amr as Array<{ method: string }>)[0]!.method).toBe("password")
    })

    it("refuses an email that is already registered", async () => {
      const address = email()
      await client().auth.signUp({ email: address, password })
      const { error } = await client().auth.signUp({ email: address.toUpperCase(), password })
      expect(error).toMatchObject({
        status: 422,
        code: "user_already_exists",
        message: "User already registered",
      })
    })

    it("refuses a weak password and a malformed email in GoTrue's shapes", async () => {
      const weak = await client().auth.signUp({ email: email(), password: "123" })
      expect(weak.error).toMatchObject({ status: 422, code: "weak_password" })
      expect((weak.error as unknown as { reasons: Array<string> }).reasons).toEqual(["length"])
      const malformed = await client().auth.signUp({ email: "not-an-email", password })
      expect(malformed.error).toMatchObject({ status: 400, code: "validation_failed" })
    })

    it("signs in anonymously", async () => {
      const { data, error } = await client().auth.signInAnonymously({ options: { data: { theme: "dark" } } })
      expect(error).toBeNull()
      expect(data.user).toMatchObject({
        is_anonymous: true,
        email: "",
        user_metadata: { theme: "dark" },
        identities: [],
      })
      expect(decodeJwt(data.session!.access_token)).toMatchObject({
        is_anonymous: true,
        role: "authenticated",
      })
      expect((decodeJwt(data.session!.access_token).amr as Array<{ method: string }>)[0]!.method).toBe(
        "anonymous",
      )
    })
  })

  describe("signing in", () => {
    it("starts a session for the right password and refuses a wrong one", async () => {
      const address = email()
      await client().auth.signUp({ email: address, password })
      const right = await client().auth.signInWithPassword({ email: address, password })
      expect(right.error).toBeNull()
      expect(right.data.user!.last_sign_in_at).toBeDefined()
      const wrong = await client().auth.signInWithPassword({ email: address, password: "wrong password" })
      expect(wrong.error).toMatchObject({
        status: 400,
        code: "invalid_credentials",
        message: "Invalid login credentials",
      })
      const nobody = await client().auth.signInWithPassword({ email: email(), password })
      expect(nobody.error).toMatchObject({ code: "invalid_credentials" })
    })

    it("gets the user behind the session", async () => {
      const address = email()
      const supabase = client()
      const { data } = await supabase.auth.signUp({ email: address, password })
      const { data: fetched, error } = await supabase.auth.getUser()
      expect(error).toBeNull()
      expect(fetched.user).toMatchObject({ id: data.user!.id, email: address })
    })
  })

  describe("refreshing", () => {
    it("rotates the refresh token and keeps the session", async () => {
      const supabase = client()
      const { data } = await supabase.auth.signUp({ email: email(), password })
      const refreshed = await supabase.auth.refreshSession()
      expect(refreshed.error).toBeNull()
      expect(refreshed.data.session!.refresh_token).not.toBe(data.session!.refresh_token)
      expect(decodeJwt(refreshed.data.session!.access_token).session_id).toBe(
        decodeJwt(data.session!.access_token).session_id,
      )
      const again = await supabase.auth.refreshSession()
      expect(again.error).toBeNull()
    })

    it("revokes the whole session when a rotated refresh token is used again", async () => {
      const { data } = await client().auth.signUp({ email: email(), password })
      const first = data.session!.refresh_token
      const rotated = await gotrue("/token?grant_type=refresh_token", {
        method: "POST",
        body: JSON.stringify({ refresh_token: first }),
      })
      const current = ((await rotated.json()) as { refresh_token: string }).refresh_token
      // Past the reuse interval, presenting the spent token again is theft: the session ends.
      await new Promise((r) => setTimeout(r, 1_200))
      const reuse = await gotrue("/token?grant_type=refresh_token", {
        method: "POST",
        headers: { "x-supabase-api-version": "2024-01-01" },
        body: JSON.stringify({ refresh_token: first }),
      })
      expect(reuse.status).toBe(400)
      expect(await reuse.json()).toEqual({
        code: "refresh_token_already_used",
        message: "Invalid Refresh Token: Already Used",
      })
      const withCurrent = await gotrue("/token?grant_type=refresh_token", {
        method: "POST",
        body: JSON.stringify({ refresh_token: current }),
      })
      expect(withCurrent.status).toBe(400)
      expect(await withCurrent.json()).toMatchObject({ error_code: "refresh_token_not_found" })
      const user = await gotrue("/user", {
        headers: { authorization: `Bearer ${data.session!.access_token}` },
      })
      expect(user.status).toBe(403)
      expect(await user.json()).toMatchObject({ error_code: "session_not_found" })
    })

    it("gives racing refreshes of one token the same successor within the reuse interval", async () => {
      const { data } = await client().auth.signUp({ email: email(), password })
      const refresh = () =>
        gotrue("/token?grant_type=refresh_token", {
          method: "POST",
          body: JSON.stringify({ refresh_token: data.session!.refresh_token }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { refresh_token: string } }))
      const [a, b] = await Promise.all([refresh(), refresh()])
      expect([a.status, b.status]).toEqual([200, 200])
      expect(a.body.refresh_token).toBe(b.body.refresh_token)
    })

    it("refuses a refresh token it never issued", async () => {
      const response = await gotrue("/token?grant_type=refresh_token", {
        method: "POST",
        body: JSON.stringify({ refresh_token: "x".repeat(48) }),
      })
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error_code: "refresh_token_not_found" })
    })
  })

  describe("updating the user", () => {
    it("changes the password and merges metadata, ending the user's other sessions", async () => {
      const address = email()
      const supabase = client()
      await supabase.auth.signUp({ email: address, password, options: { data: { a: 1, b: 2 } } })
      const other = client()
      const otherSession = await other.auth.signInWithPassword({ email: address, password })
      const { data, error } = await supabase.auth.updateUser({
        password: "a new long password",
        data: { b: null, c: 3 },
      })
      expect(error).toBeNull()
      expect(data.user!.user_metadata).toMatchObject({ a: 1, c: 3 })
      expect(data.user!.user_metadata).not.toHaveProperty("b")
      expect((await client().auth.signInWithPassword({ email: address, password })).error).toMatchObject({
        code: "invalid_credentials",
      })
      expect(
        (await client().auth.signInWithPassword({ email: address, password: "a new long password" })).error,
      ).toBeNull()
      const stale = await gotrue("/user", {
        headers: { authorization: `Bearer ${otherSession.data.session!.access_token}` },
      })
      expect(stale.status).toBe(403)
      expect((await supabase.auth.getUser()).error).toBeNull()
    })

    it("refuses the same password again", async () => {
      const supabase = client()
      await supabase.auth.signUp({ email: email(), password })
      const { error } = await supabase.auth.updateUser({ password })
      expect(error).toMatchObject({ status: 422, code: "same_password" })
    })
  })

  describe("signing out", () => {
    const sessions = async (count: number) => {
      const address = email()
      await client().auth.signUp({ email: address, password })
      return Promise.all(
        Array.from({ length: count }, async () => {
          const c = client()
          const { data } = await c.auth.signInWithPassword({ email: address, password })
          return { client: c, token: data.session!.access_token }
        }),
      )
    }
    const alive = async (token: string) =>
      (await gotrue("/user", { headers: { authorization: `Bearer ${token}` } })).status === 200

    it("ends only this session with scope local", async () => {
      const [a, b] = await sessions(2)
      expect((await a!.client.auth.signOut({ scope: "local" })).error).toBeNull()
      expect([await alive(a!.token), await alive(b!.token)]).toEqual([false, true])
    })

    it("ends every other session with scope others", async () => {
      const [a, b, c] = await sessions(3)
      await a!.client.auth.signOut({ scope: "others" })
      expect([await alive(a!.token), await alive(b!.token), await alive(c!.token)]).toEqual([
        true,
        false,
        false,
      ])
    })

    it("ends every session of the user with scope global", async () => {
      const [a, b] = await sessions(2)
      const response = await gotrue("/logout?scope=global", {
        method: "POST",
        headers: { authorization: `Bearer ${a!.token}` },
      })
      expect(response.status).toBe(204)
      expect([await alive(a!.token), await alive(b!.token)]).toEqual([false, false])
    })
  })

  describe("GoTrue's wire details", () => {
    it("answers errors in the legacy shape, or the 2024-01-01 one when asked", async () => {
      const body = JSON.stringify({ email: email(), password: "wrong" })
      const legacy = await gotrue("/token?grant_type=password", { method: "POST", body })
      expect(await legacy.json()).toEqual({
        code: 400,
        error_code: "invalid_credentials",
        msg: "Invalid login credentials",
      })
      expect(legacy.headers.get("x-sb-error-code")).toBe("invalid_credentials")
      const modern = await gotrue("/token?grant_type=password", {
        method: "POST",
        body,
        headers: { "x-supabase-api-version": "2024-01-01" },
      })
      expect(await modern.json()).toEqual({
        code: "invalid_credentials",
        message: "Invalid login credentials",
      })
      expect(modern.headers.get("x-supabase-api-version")).toBe("2024-01-01")
    })

    it("refuses an unknown grant type, a missing token and a forged token", async () => {
      expect(
        await (await gotrue("/token?grant_type=magic", { method: "POST", body: "{}" })).json(),
      ).toMatchObject({
        error_code: "invalid_credentials",
        msg: "unsupported_grant_type",
      })
      const missing = await gotrue("/user")
      expect(missing.status).toBe(401)
      expect(await missing.json()).toMatchObject({ error_code: "no_authorization" })
      const forged = await gotrue("/user", {
        headers: { authorization: `Bearer ${reactor.anonKey.slice(0, -4)}AAAA` },
      })
      expect(forged.status).toBe(403)
      expect(await forged.json()).toMatchObject({ error_code: "bad_jwt" })
    })

    it("publishes its settings", async () => {
      const response = await gotrue("/settings")
      expect(await response.json()).toMatchObject({
        external: { email: true, anonymous_users: true, google: false },
        disable_signup: false,
        mailer_autoconfirm: true,
      })
    })
  })

  describe("the database side", () => {
    it("keeps users in auth.users, and auth.uid() reads the request's claims as RLS policies expect", async () => {
      const { data } = await client().auth.signUp({ email: email(), password })
      const db = new pg.Client(reactor.database.url)
      await db.connect()
      try {
        const { rows } = await db.query("select email, encrypted_password from auth.users where id = $1", [
          data.user!.id,
        ])
        expect(rows[0]!.encrypted_password).toMatch(/^\$argon2id\$/)
        await db.query("begin")
        await db.query("set local role authenticated")
        await db.query("select set_config('request.jwt.claims', $1, true)", [
          JSON.stringify(decodeJwt(data.session!.access_token)),
        ])
        const helpers = await db.query(
          "select auth.uid() as uid, auth.role() as role, auth.jwt() ->> 'email' as email",
        )
        expect(helpers.rows[0]).toEqual({
          uid: data.user!.id,
          role: "authenticated",
          email: data.user!.email,
        })
        await db.query("rollback")
        const stored = await db.query(
          "select reply::text from reactor.command_log where subject = 'cmd.auth.SignUp.v1'",
        )
        // Without rows the loop below would check nothing.
        expect(stored.rows.length).toBeGreaterThan(0)
        for (const row of stored.rows) expect(row.reply).not.toContain(data.session!.refresh_token)
      } finally {
        await db.end()
      }
    })
  })

  describe("projections", () => {
    it("are rebuilt from the event log into exactly the rows the handlers wrote", async () => {
      // Activity of every kind, including sign-ins of one user racing each other.
      const address = email()
      const owner = client()
      await owner.auth.signUp({ email: address, password, options: { data: { plan: "free" } } })
      await Promise.all(
        Array.from({ length: 6 }, () => client().auth.signInWithPassword({ email: address, password })),
      )
      await owner.auth.refreshSession()
      await owner.auth.updateUser({ data: { plan: "pro" } })
      await owner.auth.updateUser({ password: "an even longer password" })
      await client().auth.signInAnonymously()
      const leaving = client()
      await leaving.auth.signUp({ email: email(), password })
      await leaving.auth.signOut()

      const scope = Effect.runSync(Scope.make())
      try {
        const postgres = await Effect.runPromise(Scope.provide(Postgres.make(reactor.database.url, 2), scope))
        const snapshot = () =>
          Effect.runPromise(
            Effect.all([
              postgres.query("select * from auth.users order by id"),
              postgres.query("select * from auth.identities order by id"),
              postgres.query("select * from auth.sessions order by id"),
            ]),
          ).then((results) => results.map((r) => r.rows))
        const before = await snapshot()
        expect(before[0]!.length).toBeGreaterThanOrEqual(3)
        expect(before[2]!.length).toBeGreaterThanOrEqual(1)
        const applied = await Effect.runPromise(rebuild(postgres, projector))
        expect(applied).toBeGreaterThan(before[0]!.length)
        expect(await snapshot()).toEqual(before)
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    })
  })
})

describe("Auth rate limits", () => {
  let reactor: RunningReactor
  beforeAll(async () => {
    reactor = await startReactor("single", {
      env: { REACTOR_AUTH_RATE_LIMIT_SIGN_UPS: "2", REACTOR_AUTH_RATE_LIMIT_TOKEN: "3" },
    })
  }, 60_000)
  afterAll(() => reactor?.stop())

  const post = (path: string, body: unknown) =>
    fetch(`${reactor.url}/auth/v1${path}`, {
      method: "POST",
      headers: {
        apikey: reactor.anonKey,
        "content-type": "application/json",
        "x-supabase-api-version": "2024-01-01",
      },
      body: JSON.stringify(body),
    })

  it("answers 429 past the sign-up limit, with when to retry", async () => {
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await post("/signup", { email: email(), password })).status)
    expect(statuses).toEqual([200, 200, 429])
    const limited = await post("/signup", { email: email(), password })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0)
    expect(await limited.json()).toEqual({
      code: "over_request_rate_limit",
      message: "Request rate limit reached",
    })
  })

  it("limits the token endpoint on its own bucket", async () => {
    const statuses = []
    for (let i = 0; i < 4; i++)
      statuses.push((await post("/token?grant_type=password", { email: email(), password })).status)
    expect(statuses).toEqual([400, 400, 400, 429])
  })
})
