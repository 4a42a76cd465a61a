// Faults a fleet must survive: a worker killed mid-command, NATS restarted, the outbox relay
// killed between committing and publishing. Decomposed topology: each role its own OS process.
import { randomUUID } from "node:crypto"
import { Effect, Exit, Scope } from "effect"
import pg from "pg"
import { afterEach, describe, expect, it } from "vitest"
import type { Delivery } from "../../bus/Bus.ts"
import * as JetStreamBus from "../../bus/JetStreamBus.ts"
import { type RunningReactor, startReactor, stopProcess } from "../support/reactor.ts"

const password = "fault tolerant password"

const signUp = (reactor: RunningReactor, email: string) =>
  fetch(`${reactor.url}/auth/v1/signup`, {
    method: "POST",
    headers: { apikey: reactor.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  })
    .then(async (r) => ({ email, status: r.status, body: (await r.json()) as Record<string, unknown> }))
    .catch((error: Error) => ({
      email,
      status: 0,
      body: { error: error.message } as Record<string, unknown>,
    }))

const query = async <R extends pg.QueryResultRow>(url: string, text: string, values: Array<unknown> = []) => {
  const client = new pg.Client(url)
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Every auth event the bus holds, read through the bus port from the start of the stream. */
const eventsOnTheBus = async (reactor: RunningReactor, atLeast: number) => {
  const scope = Effect.runSync(Scope.make())
  try {
    const bus = await Effect.runPromise(
      Scope.provide(JetStreamBus.make({ servers: reactor.nats!.url, prefix: reactorPrefix(reactor) }), scope),
    )
    const seen: Array<Delivery> = []
    await Effect.runPromise(
      Scope.provide(
        bus.subscribe({ events: { capability: "auth" }, startAt: "all" }, (d) =>
          Effect.sync(() => void seen.push(d)),
        ),
        scope,
      ),
    )
    const deadline = Date.now() + 20_000
    while (seen.length < atLeast && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 500))
    return seen
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const reactorPrefix = (reactor: RunningReactor) => reactor.env["REACTOR_BUS_PREFIX"]!

let reactor: RunningReactor | undefined
afterEach(async () => {
  await reactor?.stop()
  reactor = undefined
})

describe("a fleet under faults", () => {
  it("loses and duplicates no sign-up when the auth worker is killed -9 with 200 in flight", async () => {
    reactor = await startReactor("decomposed", {
      env: { REACTOR_BUS_ACK_WAIT_MS: "3000", REACTOR_SERVER_REQUEST_TIMEOUT_MS: "30000" },
    })
    const emails = Array.from({ length: 200 }, () => `fault-${randomUUID()}@example.com`)
    const responses = Promise.all(emails.map((email) => signUp(reactor!, email)))
    await new Promise((r) => setTimeout(r, 400))
    await stopProcess(reactor.processes.get("auth")!, "SIGKILL")
    const doneAtKill = await query<{ n: string }>(
      reactor.database.url,
      "select count(*) as n from auth.users where email = any($1)",
      [emails],
    )
    // The kill lands with work in flight: some sign-ups done, most not.
    expect(Number(doneAtKill[0]!.n)).toBeLessThan(200)
    await new Promise((r) => setTimeout(r, 500))
    await reactor.startRole("auth")
    const results = await responses

    const succeeded = results.filter((r) => r.status === 200)
    const failed = results.filter((r) => r.status !== 200)
    // Failures are visible, in GoTrue's shape: never a hang, never a success that did not happen.
    for (const failure of failed) expect([429, 500, 502, 503, 504]).toContain(failure.status)
    expect(succeeded.length).toBeGreaterThan(150)

    const users = await query<{ email: string; n: string }>(
      reactor.database.url,
      "select email, count(*) as n from auth.users where email = any($1) group by email",
      [emails],
    )
    const stored = new Map(users.map((u) => [u.email, Number(u.n)]))
    for (const { email, body } of succeeded) {
      expect(stored.get(email)).toBe(1)
      expect((body["user"] as { email: string }).email).toBe(email)
    }
    const events = await query<{ email: string; n: string }>(
      reactor.database.url,
      `select data ->> 'email' as email, count(*) as n from reactor.events
       where type = 'auth.UserSignedUp' and data ->> 'email' = any($1) group by 1`,
      [emails],
    )
    // One UserSignedUp per stored user, and not one more.
    expect(events.length).toBe(users.length)
    for (const event of events) expect(Number(event.n)).toBe(1)
    const sessions = await query<{ n: string }>(
      reactor.database.url,
      `select count(*) as n from auth.sessions s join auth.users u on u.id = s.user_id where u.email = any($1)`,
      [emails],
    )
    expect(Number(sessions[0]!.n)).toBe(users.length)
  }, 120_000)

  it("reconnects the gateway and the worker by themselves when nats-server restarts", async () => {
    reactor = await startReactor("decomposed")
    expect((await signUp(reactor, `before-${randomUUID()}@example.com`)).status).toBe(200)
    await reactor.nats!.restart()
    const deadline = Date.now() + 30_000
    let after = await signUp(reactor, `after-${randomUUID()}@example.com`)
    while (after.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      after = await signUp(reactor, `after-${randomUUID()}@example.com`)
    }
    expect(after.status).toBe(200)
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => signUp(reactor!, `burst-${randomUUID()}@example.com`)),
    )
    expect(burst.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect((await fetch(`${reactor.url}/ready`)).status).toBe(200)
  }, 90_000)

  it.each(["after-read", "after-publish"])(
    "publishes every event exactly once when the relay is killed -9 %s",
    async (point) => {
      const started = await startReactor("decomposed", { env: { REACTOR_TEST_FAULT: `relay:${point}` } })
      reactor = started
      // Every worker role runs a relay; whichever holds the lock publishes, and dies at the fault.
      const workers = ["auth", "data", "storage"].map((role) => started.processes.get(role)!)
      const dead = () => workers.find((w) => w.child.exitCode !== null || w.child.signalCode !== null)
      const response = await signUp(reactor, `relay-${randomUUID()}@example.com`)
      expect(response.status).toBe(200)
      // The relay picks the committed events up and the process dies at the fault point.
      const deadline = Date.now() + 15_000
      while (dead() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(dead()?.child.signalCode).toBe("SIGKILL")
      delete reactor.env["REACTOR_TEST_FAULT"]
      await reactor.startRole(dead()!.role)
      expect((await signUp(reactor, `relay-${randomUUID()}@example.com`)).status).toBe(200)
      const logged = await query<{ event_id: string }>(
        reactor.database.url,
        "select event_id from reactor.events where type like 'auth.%' order by transaction_id, position",
      )
      const published = await eventsOnTheBus(reactor, logged.length)
      expect(published.map((d) => d.id)).toEqual(logged.map((e) => e.event_id))
    },
    90_000,
  )
})
