import type { RealtimePostgresChangesPayload, SupabaseClient } from "@supabase/supabase-js"
import { Effect } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type AudienceIndex, ownRows } from "./ChangeAuthorizer.ts"
import {
  anonKey,
  change,
  client,
  eventually,
  type Gateway,
  serviceKey,
  sleep,
  startGateway,
  subscribed,
  userToken,
} from "./test/harness.ts"

type Payload = RealtimePostgresChangesPayload<Record<string, unknown>>

let gateway: Gateway
let anon: string
const clients: Array<SupabaseClient> = []
beforeAll(async () => {
  anon = await anonKey()
  gateway = await startGateway()
})
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.removeAllChannels()))
})
afterAll(() => gateway.stop())

const connect = async (token?: string, realtime: Record<string, unknown> = {}) => {
  const c = client(gateway.url, anon, realtime)
  if (token !== undefined) await c.realtime.setAuth(token)
  clients.push(c)
  return c
}

let rooms = 0
const room = () => `db-${++rooms}`

describe("postgres_changes", () => {
  for (const vsn of ["1.0.0", "2.0.0"]) {
    it(`delivers inserts, updates and deletes matching the binding, in order (vsn ${vsn})`, async () => {
      const c = await connect(await serviceKey(), { vsn })
      const seen: Array<Payload> = []
      const system: Array<unknown> = []
      const channel = c
        .channel(room())
        .on(
          "postgres_changes",
          { event: "*", schema: "public", table: "todos", filter: "done=eq.false" },
          (p) => seen.push(p),
        )
        .on("system", {}, (p) => system.push(p))
      expect(await subscribed(channel)).toEqual({ status: "SUBSCRIBED" })
      await eventually(() => system.length === 1, "the system message")
      expect(system[0]).toMatchObject({
        extension: "postgres_changes",
        status: "ok",
        message: "Subscribed to PostgreSQL",
      })

      await gateway.publish([
        change("todos", "INSERT", { id: 1, user_id: "u1", title: "a", done: false }),
        change("todos", "INSERT", { id: 2, user_id: "u1", title: "b", done: true }),
        change("notes", "INSERT", { id: 3, user_id: "u1", title: "c", done: false }),
        change("todos", "UPDATE", { id: 1, user_id: "u1", title: "a2", done: false }, { id: 1 }),
        change("todos", "DELETE", {}, { id: 1 }),
      ])
      await eventually(() => seen.length === 3, "three changes")
      expect(seen.map((p) => [p.eventType, p.new, p.old])).toEqual([
        ["INSERT", { id: 1, user_id: "u1", title: "a", done: false }, {}],
        ["UPDATE", { id: 1, user_id: "u1", title: "a2", done: false }, { id: 1 }],
        ["DELETE", {}, { id: 1 }],
      ])
      expect(seen[0]).toMatchObject({ schema: "public", table: "todos", errors: null })
    })
  }

  it("answers the join with the bindings' ids in the order sent, the same ids for every subscriber", async () => {
    const ids = async () => {
      const c = await connect()
      const channel = c
        .channel("same-room")
        .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, () => undefined)
        .on(
          "postgres_changes",
          { event: "DELETE", schema: "public", table: "todos", filter: "id=eq.1" },
          () => undefined,
        )
        .on("postgres_changes", { event: "*", schema: "public" }, () => undefined)
      expect(await subscribed(channel)).toEqual({ status: "SUBSCRIBED" })
      return (channel.bindings["postgres_changes"] ?? []).map((b) => [b.filter["event"], b.id])
    }
    const first = await ids()
    const second = await ids()
    expect(first.map(([event]) => event)).toEqual(["INSERT", "DELETE", "*"])
    expect(new Set(first.map(([, id]) => id)).size).toBe(3)
    expect(second).toEqual(first)
  })

  it("refuses a join with an invalid filter", async () => {
    const c = await connect()
    const channel = c
      .channel(room())
      .on(
        "postgres_changes",
        { event: "*", schema: "public", table: "todos", filter: "id=match.x" },
        () => undefined,
      )
    const result = await subscribed(channel)
    expect(result.status).toBe("CHANNEL_ERROR")
    expect(result.error?.message).toContain("unsupported operator")
  })

  it("shows each subscriber only the rows its audience may see, and DELETEs to everyone", async () => {
    const name = room()
    const listen = async (token: string) => {
      const c = await connect(token)
      const seen: Array<string> = []
      const channel = c
        .channel(name)
        .on("postgres_changes", { event: "*", schema: "public", table: "todos" }, (p) =>
          seen.push(`${p.eventType}:${(p.eventType === "DELETE" ? p.old : p.new)["id"]}`),
        )
      expect(await subscribed(channel)).toEqual({ status: "SUBSCRIBED" })
      return seen
    }
    const alice = await listen(await userToken("alice"))
    const alice2 = await listen(await userToken("alice"))
    const bob = await listen(await userToken("bob"))
    const service = await listen(await serviceKey())
    const anonymous = await listen(anon)
    await gateway.publish([
      change("todos", "INSERT", { id: 1, user_id: "alice", title: "a", done: false }),
      change("todos", "INSERT", { id: 2, user_id: "bob", title: "b", done: false }),
      change("todos", "DELETE", {}, { id: 2 }),
    ])
    await eventually(
      () => service.length === 3 && bob.length === 2 && alice.length === 2 && alice2.length === 2,
    )
    await sleep(50)
    expect(alice).toEqual(["INSERT:1", "DELETE:2"])
    expect(alice2).toEqual(alice)
    expect(bob).toEqual(["INSERT:2", "DELETE:2"])
    expect(service).toEqual(["INSERT:1", "INSERT:2", "DELETE:2"])
    expect(anonymous).toEqual(["DELETE:2"])
  })

  it("asks the authorizer once per change for each distinct audience", async () => {
    const calls: Array<ReadonlyArray<string>> = []
    const counted = await startGateway({
      authorizer: {
        audienceOf: (_s, _t, claims) => `${claims.role}:${claims.sub ?? ""}`,
        allowed: (_change, audiences) =>
          Effect.sync(() => {
            calls.push(audiences.map((a) => a.key))
            return audiences.map(() => true)
          }),
      },
    })
    try {
      const seen: Array<number> = []
      const token = await userToken("carol")
      for (let i = 0; i < 3; i++) {
        const c = client(counted.url, anon)
        clients.push(c)
        await c.realtime.setAuth(token)
        const channel = c
          .channel("shared")
          .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, () => seen.push(i))
        await subscribed(channel)
      }
      await counted.publish([change("todos", "INSERT", { id: 9, user_id: "carol", title: "x", done: false })])
      await eventually(() => seen.length === 3)
      expect(calls).toEqual([["authenticated:carol"]])
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.removeAllChannels()))
      await counted.stop()
    }
  })

  it("asks only the audiences the authorizer's index says a change can reach", async () => {
    const calls: Array<ReadonlyArray<string>> = []
    const own = ownRows()
    let index: AudienceIndex = own.index!()
    const counted = await startGateway({
      authorizer: {
        ...own,
        allowed: (row, audiences) => {
          calls.push(audiences.map((a) => a.key).sort())
          return own.allowed(row, audiences)
        },
        index: () => index,
      },
    })
    try {
      const users = ["u1", "u2", "u3", "u4"]
      const seen = new Map(users.map((u) => [u, [] as Array<unknown>]))
      for (const user of users) {
        const c = client(counted.url, anon)
        clients.push(c)
        await c.realtime.setAuth(await userToken(user))
        const channel = c
          .channel(user === "u4" ? "u4-own" : "shared")
          .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (p) =>
            seen.get(user)!.push(p.new["id"]),
          )
        await subscribed(channel)
      }
      await counted.publish([change("todos", "INSERT", { id: 1, user_id: "u2", title: "", done: false })])
      await counted.publish([change("todos", "INSERT", { id: 2, user_id: "u4", title: "", done: false })])
      await eventually(() => seen.get("u2")!.length === 1 && seen.get("u4")!.length === 1)
      expect(calls).toEqual([["authenticated:u2"], ["authenticated:u4"]])
      // A new index (the policies changed) files every audience again: here all under one slot.
      index = { slotsOf: () => ["all"], slotsFor: () => ["all"] }
      await counted.publish([change("todos", "INSERT", { id: 3, user_id: "u3", title: "", done: false })])
      await eventually(() => seen.get("u3")!.length === 1)
      expect(calls[2]).toEqual(users.map((u) => `authenticated:${u}`))
      await sleep(50)
      expect([...seen.values()]).toEqual([[], [1], [3], [2]])
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.removeAllChannels()))
      await counted.stop()
    }
  })

  it("re-authorizes when the client sends a token for another user", async () => {
    const c = await connect(await userToken("dave"))
    const seen: Array<unknown> = []
    const channel = c
      .channel(room())
      .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (p) =>
        seen.push(p.new["id"]),
      )
    await subscribed(channel)
    await gateway.publish([change("todos", "INSERT", { id: 1, user_id: "dave", title: "", done: false })])
    await eventually(() => seen.length === 1)
    await c.realtime.setAuth(await userToken("erin"))
    await sleep(100)
    await gateway.publish([
      change("todos", "INSERT", { id: 2, user_id: "dave", title: "", done: false }),
      change("todos", "INSERT", { id: 3, user_id: "erin", title: "", done: false }),
    ])
    await eventually(() => seen.length === 2)
    await sleep(50)
    expect(seen).toEqual([1, 3])
  })

  it("closes the channel with a system error when its token expires", async () => {
    const c = await connect(await userToken("frank", 2))
    const system: Array<Record<string, unknown>> = []
    const statuses: Array<string> = []
    const channel = c
      .channel(room())
      .on("postgres_changes", { event: "*", schema: "public", table: "todos" }, () => undefined)
      .on("system", {}, (p) => system.push(p))
    channel.subscribe((status) => statuses.push(status))
    await eventually(() => statuses.includes("SUBSCRIBED"))
    await eventually(() => statuses.includes("CLOSED"), "the channel to close", 5000)
    expect(system.at(-1)).toMatchObject({
      extension: "system",
      status: "error",
      message: expect.stringMatching(/^Token has expired \d+ seconds ago$/),
    })
  })

  it("refuses a channel whose token is invalid", async () => {
    const c = await connect("not-a-jwt")
    const result = await subscribed(
      c
        .channel(room())
        .on("postgres_changes", { event: "*", schema: "public", table: "todos" }, () => undefined),
    )
    expect(result.status).toBe("CHANNEL_ERROR")
    expect(result.error?.message).toContain("InvalidJWTToken")
  })
})

describe("resuming postgres_changes", () => {
  const resumable = async (c: SupabaseClient, name: string, since: string | null) => {
    const seen: Array<number> = []
    const positions: Array<string> = []
    const errors: Array<string> = []
    const channel = c
      .channel(name)
      .on<{ id: number }>("postgres_changes", { event: "INSERT", schema: "public", table: "items" }, (p) =>
        seen.push(p.new.id),
      )
      .on("system", {}, (p: Record<string, unknown>) => {
        if (typeof p["position"] === "string") {
          positions.push(p["position"])
          // What a client does to resume after a reconnect: the next join carries it.
          channel.updateJoinPayload({ postgres_changes_since: p["position"] })
        }
        if (p["status"] === "error") errors.push(String(p["message"]))
      })
    channel.updateJoinPayload({ postgres_changes_since: since })
    expect(await subscribed(channel)).toEqual({ status: "SUBSCRIBED" })
    return { seen, positions, errors, channel }
  }
  const item = (id: number) => change("items", "INSERT", { id, user_id: "x", title: "", done: false })

  it("reports positions, and replays what was missed since one before live changes", async () => {
    const name = room()
    const first = await resumable(await connect(await serviceKey()), name, null)
    const batch1 = [item(1), item(2)]
    await gateway.publish(batch1)
    await eventually(() => first.positions.length === 1)
    expect(first.positions).toEqual([batch1[1]!.position])
    expect(first.seen).toEqual([1, 2])

    // While away, 3 and 4 happen; coming back with the last position seen brings them, then 5 live.
    const since = first.positions[0]!
    await gateway.publish([item(3), item(4)])
    const again = await resumable(await connect(await serviceKey()), name, since)
    await eventually(() => again.seen.length === 2)
    await gateway.publish([item(5)])
    await eventually(() => again.seen.length === 3)
    expect(again.seen).toEqual([3, 4, 5])
  })

  it("replays without gap or duplicate while live changes keep coming", async () => {
    const slow = await startGateway({
      history: (history) => ({
        since: (position, bindings, until) =>
          history.since(position, bindings, until).pipe(Effect.delay("150 millis")),
      }),
    })
    try {
      const c = client(slow.url, anon)
      clients.push(c)
      await c.realtime.setAuth(await serviceKey())
      const start = item(0)
      await slow.publish([start, item(1), item(2)])
      const publishing = (async () => {
        for (let id = 3; id <= 30; id++) {
          await slow.publish([item(id)])
          await sleep(5)
        }
      })()
      const resumed = await resumable(c, "replay", start.position)
      await publishing
      await eventually(() => resumed.seen.length >= 30, "every change", 5000)
      await sleep(50)
      expect(resumed.seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    } finally {
      await Promise.all(clients.splice(0).map((x) => x.removeAllChannels()))
      await slow.stop()
    }
  })

  it("tells a client whose position is too old to reload, then delivers live changes", async () => {
    const resumed = await resumable(await connect(await serviceKey()), room(), "p-forgotten")
    await eventually(() => resumed.errors.length === 1)
    expect(resumed.errors[0]).toContain("reload")
    await gateway.publish([item(100)])
    await eventually(() => resumed.seen.length === 1)
    expect(resumed.seen).toEqual([100])
  })
})

describe("replication_ready", () => {
  it("tells a channel that asked that changes flow, once it has joined", async () => {
    const c = await connect(await serviceKey())
    const system: Array<Record<string, unknown>> = []
    const channel = c
      .channel(room(), { config: { broadcast: { replication_ready: true } } })
      .on("postgres_changes", { event: "*", schema: "public", table: "todos" }, () => undefined)
      .on("system", {}, (p: Record<string, unknown>) => system.push(p))
    expect(await subscribed(channel)).toEqual({ status: "SUBSCRIBED" })
    await eventually(() => system.some((p) => p["message"] === "Replication connection established"))
    expect(system.find((p) => p["extension"] === "system")).toMatchObject({ status: "ok" })
  })
})
