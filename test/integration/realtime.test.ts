import { randomUUID } from "node:crypto"
import type { RealtimeChannel, SupabaseClient } from "@supabase/supabase-js"
import pg from "pg"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { appMigrations, eventually, type SignedIn, signedIn } from "../support/app.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"
import { supabaseClient } from "../support/supabase.ts"

interface Todo {
  readonly id: number
  readonly owner: string
  readonly title: string
  readonly done: boolean
}

const subscribe = (channel: RealtimeChannel) =>
  new Promise<string>((resolve) => {
    channel.subscribe((status, error) => {
      if (status !== "SUBSCRIBED" && error === undefined && status !== "CHANNEL_ERROR") return
      resolve(error === undefined ? status : `${status}: ${error.message}`)
    })
  })

describe.each(topologies)("Realtime through supabase-js (%s)", (topology) => {
  let reactor: RunningReactor
  let admin: pg.Client
  let ada: SignedIn
  let bob: SignedIn
  const clients: Array<SupabaseClient> = []

  /** A plain-SQL write: captured like any other, whoever writes. */
  const insertTodo = async (owner: string, title: string) =>
    (
      await admin.query<Todo>(
        "insert into todos (owner, title) values ($1, $2) returning id, owner, title, done",
        [owner, title],
      )
    ).rows[0]!

  const watchTodos = async (user: SignedIn, filter?: string) => {
    const seen: Array<{ eventType: string; new: Partial<Todo>; old: Partial<Todo> }> = []
    const channel = user.client
      .channel(`todos-${randomUUID().slice(0, 8)}`)
      .on(
        "postgres_changes",
        { event: "*", schema: "public", table: "todos", ...(filter === undefined ? {} : { filter }) },
        (change) => seen.push(change as never),
      )
    expect(await subscribe(channel)).toBe("SUBSCRIBED")
    return { seen, channel }
  }

  beforeAll(async () => {
    reactor = await startReactor(topology, { env: { REACTOR_DATABASE_APP_MIGRATIONS: appMigrations } })
    admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
    ada = await signedIn(reactor)
    bob = await signedIn(reactor)
    clients.push(ada.client, bob.client)
  }, 90_000)
  afterEach(async () => {
    for (const client of clients) await client.removeAllChannels()
  })
  afterAll(async () => {
    await admin?.end()
    await reactor?.stop()
  })

  describe("postgres_changes", () => {
    it("delivers each user the changes to rows its RLS policy lets it read, and no others", async () => {
      const adas = await watchTodos(ada)
      const bobs = await watchTodos(bob)
      const first = await insertTodo(ada.userId, "ada 1")
      await insertTodo(bob.userId, "bob 1")
      await admin.query("update todos set done = true where id = $1", [first.id])
      await insertTodo(ada.userId, "ada 2")
      await eventually(() => adas.seen.length === 3 && bobs.seen.length === 1, "the deliveries")
      await new Promise((r) => setTimeout(r, 200))
      expect(adas.seen.map((c) => [c.eventType, c.new.title, c.new.done])).toEqual([
        ["INSERT", "ada 1", false],
        ["UPDATE", "ada 1", true],
        ["INSERT", "ada 2", false],
      ])
      expect(adas.seen[1]!.old).toMatchObject({ id: Number(first.id), done: false })
      expect(bobs.seen.map((c) => c.new.title)).toEqual(["bob 1"])
    })

    it("applies the subscription's filter", async () => {
      const only = await watchTodos(ada, "title=eq.wanted")
      await insertTodo(ada.userId, "unwanted")
      await insertTodo(ada.userId, "wanted")
      await eventually(() => only.seen.length === 1)
      await new Promise((r) => setTimeout(r, 200))
      expect(only.seen.map((c) => c.new.title)).toEqual(["wanted"])
    })

    it("gives anon the changes of a table it may read, and nothing of one it may not", async () => {
      const anon = supabaseClient(reactor.url, reactor.anonKey)
      clients.push(anon)
      const teams: Array<string> = []
      const todos: Array<unknown> = []
      const channel = anon
        .channel("anon-view")
        .on("postgres_changes", { event: "INSERT", schema: "public", table: "teams" }, (c) =>
          teams.push((c.new as { name: string }).name),
        )
        .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (c) => todos.push(c))
      expect(await subscribe(channel)).toBe("SUBSCRIBED")
      const name = `team-${randomUUID().slice(0, 8)}`
      await admin.query("insert into teams (name) values ($1)", [name])
      await insertTodo(ada.userId, "secret")
      await eventually(() => teams.length === 1)
      await new Promise((r) => setTimeout(r, 200))
      expect(teams).toEqual([name])
      expect(todos).toEqual([])
    })

    it("delivers a deleted row only to those who could read it", async () => {
      const adas = await watchTodos(ada)
      const bobs = await watchTodos(bob)
      const todo = await insertTodo(ada.userId, "short-lived")
      await admin.query("delete from todos where id = $1", [todo.id])
      await eventually(() => adas.seen.length === 2)
      await new Promise((r) => setTimeout(r, 200))
      expect(adas.seen.map((c) => c.eventType)).toEqual(["INSERT", "DELETE"])
      expect(adas.seen[1]!.old).toMatchObject({ id: Number(todo.id) })
      expect(bobs.seen).toEqual([])
    })
  })

  describe("membership through a table", () => {
    it("follows who belongs to which team as memberships change", async () => {
      const team = (
        await admin.query<{ id: string }>("insert into teams (name) values ($1) returning id", [
          `crew-${randomUUID().slice(0, 8)}`,
        ])
      ).rows[0]!.id
      const bodies: Array<string> = []
      const channel = bob.client
        .channel(`notes-${randomUUID().slice(0, 8)}`)
        .on("postgres_changes", { event: "INSERT", schema: "public", table: "team_notes" }, (c) =>
          bodies.push((c.new as { body: string }).body),
        )
      expect(await subscribe(channel)).toBe("SUBSCRIBED")
      const note = (body: string) =>
        admin.query("insert into team_notes (team_id, body) values ($1, $2)", [team, body])
      await note("before joining")
      await admin.query("insert into memberships values ($1, $2)", [bob.userId, team])
      await note("as a member")
      await admin.query("delete from memberships where user_id = $1 and team_id = $2", [bob.userId, team])
      await note("after leaving")
      await admin.query("insert into memberships values ($1, $2)", [bob.userId, team])
      await note("back again")
      await eventually(() => bodies.length === 2)
      await new Promise((r) => setTimeout(r, 300))
      expect(bodies).toEqual(["as a member", "back again"])
    })
  })

  describe("resuming", () => {
    it("replays what a client missed while away, from the last position it saw", async () => {
      const name = `resume-${randomUUID().slice(0, 8)}`
      const titles: Array<string> = []
      let position: string | undefined
      const join = (client: SupabaseClient, since: string | null) => {
        const channel = client
          .channel(name)
          .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (c) =>
            titles.push((c.new as Todo).title),
          )
          .on("system", {}, (p: Record<string, unknown>) => {
            if (typeof p["position"] === "string") position = p["position"]
          })
        channel.updateJoinPayload({ postgres_changes_since: since })
        return subscribe(channel)
      }
      expect(await join(ada.client, null)).toBe("SUBSCRIBED")
      await insertTodo(ada.userId, "before")
      await eventually(() => position !== undefined && titles.length === 1)
      await ada.client.removeAllChannels()

      await insertTodo(ada.userId, "while away 1")
      await insertTodo(bob.userId, "not ada's")
      await insertTodo(ada.userId, "while away 2")
      expect(await join(ada.client, position!)).toBe("SUBSCRIBED")
      await insertTodo(ada.userId, "after")
      await eventually(() => titles.length === 4, "the replay and the live change")
      await new Promise((r) => setTimeout(r, 200))
      expect(titles).toEqual(["before", "while away 1", "while away 2", "after"])
    })
  })

  describe("broadcast and presence", () => {
    it("relays a broadcast to the other members of the channel", async () => {
      const topic = `room-${randomUUID().slice(0, 8)}`
      const heard: Array<unknown> = []
      const listener = bob.client
        .channel(topic)
        .on("broadcast", { event: "wave" }, ({ payload }) => heard.push(payload))
      expect(await subscribe(listener)).toBe("SUBSCRIBED")
      const sender = ada.client.channel(topic, { config: { broadcast: { ack: true } } })
      expect(await subscribe(sender)).toBe("SUBSCRIBED")
      expect(await sender.send({ type: "broadcast", event: "wave", payload: { from: "ada" } })).toBe("ok")
      await eventually(() => heard.length === 1)
      expect(heard).toEqual([{ from: "ada" }])
    })

    it("shares who is present", async () => {
      const topic = `lobby-${randomUUID().slice(0, 8)}`
      const first = ada.client
        .channel(topic, { config: { presence: { key: "ada" } } })
        .on("presence", { event: "sync" }, () => undefined)
      expect(await subscribe(first)).toBe("SUBSCRIBED")
      await first.track({ status: "here" })
      const second = bob.client
        .channel(topic, { config: { presence: { key: "bob" } } })
        .on("presence", { event: "sync" }, () => undefined)
      expect(await subscribe(second)).toBe("SUBSCRIBED")
      await second.track({ status: "also here" })
      await eventually(() => Object.keys(second.presenceState()).length === 2, "both presences")
      expect(second.presenceState()["ada"]).toEqual([expect.objectContaining({ status: "here" })])
    })
  })

  describe("broadcast from the database", () => {
    it("delivers what SQL sends with realtime.send once its transaction commits, and nothing of one rolled back", async () => {
      const topic = `news-${randomUUID().slice(0, 8)}`
      const heard: Array<unknown> = []
      const listener = bob.client
        .channel(topic)
        .on("broadcast", { event: "headline" }, ({ payload }) => heard.push(payload))
      expect(await subscribe(listener)).toBe("SUBSCRIBED")

      await admin.query("begin")
      await admin.query("select realtime.send($1, 'headline', $2, false)", [{ text: "never" }, topic])
      await admin.query("rollback")
      await admin.query("begin")
      await admin.query("select realtime.send($1, 'headline', $2, false)", [{ text: "first" }, topic])
      await admin.query("select realtime.send($1, 'headline', $2, false)", [{ text: "second" }, topic])
      await admin.query("commit")
      await eventually(() => heard.length === 2, "the committed broadcasts")
      await new Promise((r) => setTimeout(r, 200))
      expect(heard).toEqual([{ text: "first" }, { text: "second" }])

      // Not for the API's roles: it sends to any topic, past the policies on realtime.messages.
      await expect(
        admin.query("set role authenticated; select realtime.send('{}', 'e', 't'); reset role"),
      ).rejects.toThrow(/permission denied/)
      await admin.query("reset role")
      await expect(admin.query("select realtime.send('[1]', 'e', 't')")).rejects.toThrow(/JSON object/)
    })
  })

  describe("broadcast replay", () => {
    it("replays to a private channel that asks what SQL sent its topic since then, marked replayed, then goes live", async () => {
      const room = `room-${randomUUID().slice(0, 8)}`
      await admin.query("insert into room_members (room, user_id) values ($1, $2)", [room, bob.userId])
      const before = Date.now() - 1_000
      // The public channel of that name hears the last one: the gateway has had them all, in order.
      const open: Array<unknown> = []
      const opened = ada.client
        .channel(room)
        .on("broadcast", { event: "note" }, ({ payload }) => open.push(payload))
      expect(await subscribe(opened)).toBe("SUBSCRIBED")
      for (const [n, topic, isPrivate] of [
        [1, room, true],
        [2, `${room}-other`, true],
        [3, room, true],
        [4, room, false],
      ] as const)
        await admin.query("select realtime.send($1, 'note', $2, $3)", [{ n }, topic, isPrivate])
      await eventually(() => open.length === 1, "the public one")

      const heard: Array<{ payload: unknown; meta?: { replayed?: boolean; id: string } }> = []
      const channel = bob.client
        .channel(room, { config: { private: true, broadcast: { replay: { since: before, limit: 10 } } } })
        .on("broadcast", { event: "note" }, (message) => heard.push(message as never))
      expect(await subscribe(channel)).toBe("SUBSCRIBED")
      await eventually(() => heard.length === 2, "the replay")
      expect(heard.map((m) => [m.payload, m.meta?.replayed])).toEqual([
        [{ n: 1 }, true],
        [{ n: 3 }, true],
      ])
      await admin.query("select realtime.send($1, 'note', $2, true)", [{ n: 5 }, room])
      await eventually(() => heard.length === 3, "the live broadcast")
      expect(heard[2]).toMatchObject({ payload: { n: 5 }, meta: { id: expect.any(String) } })
      expect(heard[2]!.meta?.replayed).toBeUndefined()
      expect(new Set(heard.map((m) => m.meta?.id)).size).toBe(3)

      // Asked from after them: nothing to replay. Asked wrongly: refused.
      await bob.client.removeChannel(channel)
      const later: Array<unknown> = []
      const fresh = bob.client
        .channel(room, { config: { private: true, broadcast: { replay: { since: Date.now() + 60_000 } } } })
        .on("broadcast", { event: "note" }, (m) => later.push(m))
      expect(await subscribe(fresh)).toBe("SUBSCRIBED")
      await new Promise((r) => setTimeout(r, 300))
      expect(later).toEqual([])
      await bob.client.removeChannel(fresh)
      const wrong = bob.client.channel(room, {
        config: { private: true, broadcast: { replay: { since: 0, limit: 1000 } } },
      })
      expect(await subscribe(wrong)).toMatch(/^CHANNEL_ERROR: .*InvalidReplay/)
    })
  })

  describe("private channels", () => {
    it("lets in, and lets speak and show presence, whom the app's policies on realtime.messages allow", async () => {
      const room = `room-${randomUUID().slice(0, 8)}`
      const carol = await signedIn(reactor)
      clients.push(carol.client)
      await admin.query(
        "insert into room_members (room, user_id, can_speak) values ($1, $2, true), ($1, $3, false)",
        [room, ada.userId, bob.userId],
      )
      const private_ = { private: true, broadcast: { ack: true } }
      const heardByBob: Array<unknown> = []
      const heardByAda: Array<unknown> = []
      const listener = bob.client
        .channel(room, { config: private_ })
        .on("broadcast", { event: "wave" }, ({ payload }) => heardByBob.push(payload))
        .on("presence", { event: "sync" }, () => undefined)
      expect(await subscribe(listener)).toBe("SUBSCRIBED")
      const speaker = ada.client
        .channel(room, { config: private_ })
        .on("broadcast", { event: "wave" }, ({ payload }) => heardByAda.push(payload))
      expect(await subscribe(speaker)).toBe("SUBSCRIBED")
      // Not a member: refused at the door.
      const refused = carol.client.channel(room, { config: private_ })
      expect(await subscribe(refused)).toMatch(
        /^CHANNEL_ERROR: .*permissions to read from this Channel topic/,
      )

      expect(await speaker.send({ type: "broadcast", event: "wave", payload: { from: "ada" } })).toBe("ok")
      // A member who may listen but not speak: refused, and nobody hears it.
      expect(await listener.send({ type: "broadcast", event: "wave", payload: { from: "bob" } })).toBe(
        "error",
      )
      await eventually(() => heardByBob.length === 1, "ada's broadcast")
      await new Promise((r) => setTimeout(r, 200))
      expect(heardByBob).toEqual([{ from: "ada" }])
      expect(heardByAda).toEqual([])
      // Presence is writing too: a speaker may show it, a listener may not.
      expect(await speaker.track({ status: "talking" })).toBe("ok")
      expect(await listener.track({ status: "listening" })).toBe("error")
      await eventually(() => Object.keys(listener.presenceState()).length === 1, "ada's presence")
      expect(Object.values(listener.presenceState()).flat()).toEqual([
        expect.objectContaining({ status: "talking" }),
      ])
      // The policies are the same channel's only: the public channel of that name is another topic.
      await carol.client.removeChannel(refused)
      expect(await subscribe(carol.client.channel(room))).toBe("SUBSCRIBED")
    })
  })
})
