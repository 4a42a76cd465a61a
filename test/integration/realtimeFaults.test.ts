// Realtime under faults: the gateway that holds the subscriptions dies (kill -9) while changes keep
// being committed; a new gateway comes up at the same address; the clients reconnect by themselves,
// resume from the last position each saw, and end with every change exactly once, in order.
import type { RealtimeChannel } from "@supabase/supabase-js"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort } from "../../platform/postgres/Embedded.ts"
import { appMigrations, eventually, type SignedIn, signedIn } from "../support/app.ts"
import { listeningPort, type RunningReactor, startReactor, stopProcess } from "../support/reactor.ts"

describe("realtime when its gateway is killed", () => {
  let reactor: RunningReactor
  let admin: pg.Client

  beforeAll(async () => {
    reactor = await startReactor("decomposed", {
      env: {
        REACTOR_DATABASE_APP_MIGRATIONS: appMigrations,
        REACTOR_SERVER_BIND: `127.0.0.1:${await freePort()}`,
      },
    })
    admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
  }, 90_000)
  afterAll(async () => {
    await admin?.end()
    await reactor?.stop()
  })

  it("lets every client resume after a new gateway takes over, missing and repeating nothing", async () => {
    const users: Array<SignedIn> = []
    for (let i = 0; i < 4; i++) users.push(await signedIn(reactor))
    const seen = new Map<string, Array<string>>()
    const channels: Array<RealtimeChannel> = []
    for (const user of users) {
      const titles: Array<string> = []
      seen.set(user.userId, titles)
      const channel = user.client
        .channel(`mine-${user.userId}`)
        .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (c) =>
          titles.push((c.new as { title: string }).title),
        )
        .on("system", {}, (p: Record<string, unknown>) => {
          // Each position seen goes into the next join, so a reconnect resumes from there.
          if (typeof p["position"] === "string")
            channel.updateJoinPayload({ postgres_changes_since: p["position"] })
        })
      channel.updateJoinPayload({ postgres_changes_since: null })
      await new Promise<void>((resolve, reject) =>
        channel.subscribe((status) =>
          status === "SUBSCRIBED" ? resolve() : status === "CHANNEL_ERROR" && reject(),
        ),
      )
      channels.push(channel)
    }

    const insert = (n: number) =>
      admin.query("insert into todos (owner, title) values ($1, $2)", [
        users[n % users.length]!.userId,
        `todo ${n}`,
      ])
    for (let n = 0; n < 20; n++) await insert(n)
    await eventually(() => [...seen.values()].every((t) => t.length === 5), "the first changes")

    const gateway = reactor.processes.get("gateway")!
    const port = listeningPort(gateway)
    await stopProcess(gateway, "SIGKILL")
    for (let n = 20; n < 60; n++) await insert(n)
    const replacement = await reactor.startRole("gateway")
    await eventually(() => listeningPort(replacement) === port, "the new gateway to listen", 20_000)
    for (let n = 60; n < 80; n++) await insert(n)

    await eventually(() => [...seen.values()].every((t) => t.length === 20), "every change", 30_000).catch(
      (error: Error) => {
        // Say what did arrive: a missing change and a late client look alike otherwise.
        const counts = users.map((u) => `${seen.get(u.userId)?.length ?? 0}`).join(", ")
        throw new Error(`${error.message}; changes seen per user: ${counts} of 20 each`)
      },
    )
    await new Promise((r) => setTimeout(r, 300))
    users.forEach((user, u) => {
      const expected = Array.from({ length: 80 }, (_, n) => n)
        .filter((n) => n % users.length === u)
        .map((n) => `todo ${n}`)
      expect(seen.get(user.userId)).toEqual(expected)
    })
    for (const user of users) await user.client.removeAllChannels()
  }, 60_000)
})
