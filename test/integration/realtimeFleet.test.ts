// Several gateways side by side: each follows the changes from the bus and serves its own
// subscribers; broadcasts and presence cross from one gateway's members to another's.
import { randomUUID } from "node:crypto"
import type { RealtimeChannel, SupabaseClient } from "@supabase/supabase-js"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { appMigrations, eventually, type SignedIn, signedIn } from "../support/app.ts"
import { listeningPort, type RunningReactor, startReactor } from "../support/reactor.ts"
import { supabaseClient } from "../support/supabase.ts"

const subscribe = (channel: RealtimeChannel) =>
  new Promise<void>((resolve, reject) =>
    channel.subscribe((status, error) =>
      status === "SUBSCRIBED" ? resolve() : error !== undefined && reject(error),
    ),
  )

describe("realtime across two gateways", () => {
  let reactor: RunningReactor
  let admin: pg.Client
  let ada: SignedIn
  let secondUrl: string
  const clients: Array<SupabaseClient> = []

  beforeAll(async () => {
    reactor = await startReactor("decomposed", { env: { REACTOR_DATABASE_APP_MIGRATIONS: appMigrations } })
    admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
    const second = await reactor.startRole("gateway", "second gateway")
    await eventually(() => listeningPort(second) !== undefined, "the second gateway", 20_000)
    secondUrl = `http://127.0.0.1:${listeningPort(second)}`
    ada = await signedIn(reactor)
    clients.push(ada.client)
  }, 90_000)
  afterAll(async () => {
    for (const client of clients) await client.removeAllChannels()
    await admin?.end()
    await reactor?.stop()
  })

  /** The same user, connected to the second gateway. */
  const onSecond = async () => {
    const client = supabaseClient(secondUrl, reactor.anonKey)
    clients.push(client)
    await client.realtime.setAuth(ada.token)
    return client
  }

  it("delivers a change to subscribers on both gateways, once each", async () => {
    const first: Array<string> = []
    const second: Array<string> = []
    const watch = (client: SupabaseClient, into: Array<string>) =>
      subscribe(
        client
          .channel(`todos-${randomUUID().slice(0, 8)}`)
          .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (c) =>
            into.push((c.new as { title: string }).title),
          ),
      )
    await watch(ada.client, first)
    await watch(await onSecond(), second)
    for (const title of ["one", "two", "three"]) {
      await admin.query("insert into todos (owner, title) values ($1, $2)", [ada.userId, title])
    }
    await eventually(() => first.length === 3 && second.length === 3)
    await new Promise((r) => setTimeout(r, 200))
    expect(first).toEqual(["one", "two", "three"])
    expect(second).toEqual(["one", "two", "three"])
  })

  it("carries broadcasts and presence from one gateway's members to the other's", async () => {
    const topic = `room-${randomUUID().slice(0, 8)}`
    const heard: Array<unknown> = []
    const listener = (await onSecond())
      .channel(topic, { config: { presence: { key: "listener" } } })
      .on("broadcast", { event: "wave" }, ({ payload }) => heard.push(payload))
      .on("presence", { event: "sync" }, () => undefined)
    await subscribe(listener)
    const sender = ada.client
      .channel(topic, { config: { presence: { key: "sender" } } })
      .on("presence", { event: "sync" }, () => undefined)
    await subscribe(sender)
    await sender.track({ at: "first gateway" })
    await sender.send({ type: "broadcast", event: "wave", payload: { hello: "across" } })
    await eventually(() => heard.length === 1, "the broadcast")
    expect(heard).toEqual([{ hello: "across" }])
    await eventually(() => listener.presenceState()["sender"] !== undefined, "the presence")
    expect(listener.presenceState()["sender"]).toEqual([expect.objectContaining({ at: "first gateway" })])
  })

  it("delivers a broadcast sent from SQL to the members on both gateways, once each", async () => {
    const topic = `news-${randomUUID().slice(0, 8)}`
    const first: Array<unknown> = []
    const second: Array<unknown> = []
    await subscribe(
      ada.client.channel(topic).on("broadcast", { event: "e" }, ({ payload }) => first.push(payload)),
    )
    await subscribe(
      (await onSecond())
        .channel(topic)
        .on("broadcast", { event: "e" }, ({ payload }) => second.push(payload)),
    )
    await admin.query("select realtime.send($1, 'e', $2, false)", [{ n: 1 }, topic])
    await eventually(() => first.length === 1 && second.length === 1, "the broadcast on both")
    await new Promise((r) => setTimeout(r, 200))
    expect([first, second]).toEqual([[{ n: 1 }], [{ n: 1 }]])
  })
})
