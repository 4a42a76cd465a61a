import type { SupabaseClient } from "@supabase/supabase-js"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as BroadcastRelay from "./BroadcastRelay.ts"
import {
  anonKey,
  client,
  eventually,
  type Gateway,
  serviceKey,
  sleep,
  startGateway,
  subscribed,
  userToken,
} from "./test/harness.ts"

let gateway: Gateway
let other: Gateway
let anon: string
const clients: Array<SupabaseClient> = []
beforeAll(async () => {
  anon = await anonKey()
  const relay = BroadcastRelay.memory()
  gateway = await startGateway({ relay })
  other = await startGateway({ relay })
})
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.removeAllChannels()))
})
afterAll(async () => {
  await gateway.stop()
  await other.stop()
})

const connect = (at: Gateway = gateway, realtime: Record<string, unknown> = {}) => {
  const c = client(at.url, anon, realtime)
  clients.push(c)
  return c
}

let rooms = 0
const room = () => `chat-${++rooms}`

/** Joins `name` and collects the broadcasts it receives. */
const member = async (
  c: SupabaseClient,
  name: string,
  broadcast: { self?: boolean; ack?: boolean } = {},
  isPrivate = false,
) => {
  const received: Array<{ event: string; payload: unknown }> = []
  const channel = c
    .channel(name, { config: { broadcast, private: isPrivate } })
    .on("broadcast", { event: "*" }, (m) => received.push({ event: m.event, payload: m["payload"] }))
  expect(await subscribed(channel)).toEqual({ status: "SUBSCRIBED" })
  return { channel, received }
}

describe("broadcast", () => {
  it("reaches the other members of the topic, not the sender unless it asks with self", async () => {
    const name = room()
    const sender = await member(connect(), name)
    const selfish = await member(connect(), name, { self: true })
    const listener = await member(connect(), name)
    const outsider = await member(connect(), room())
    expect(await sender.channel.send({ type: "broadcast", event: "hello", payload: { n: 1 } })).toBe("ok")
    expect(await selfish.channel.send({ type: "broadcast", event: "mine", payload: { n: 2 } })).toBe("ok")
    await eventually(() => listener.received.length === 2 && selfish.received.length === 2)
    await sleep(50)
    expect(listener.received).toEqual([
      { event: "hello", payload: { n: 1 } },
      { event: "mine", payload: { n: 2 } },
    ])
    expect(selfish.received).toEqual(listener.received)
    expect(sender.received).toEqual([{ event: "mine", payload: { n: 2 } }])
    expect(outsider.received).toEqual([])
  })

  it("acknowledges a broadcast when the channel asks for acks", async () => {
    const name = room()
    const acked = await member(connect(), name, { ack: true })
    const listener = await member(connect(), name)
    expect(await acked.channel.send({ type: "broadcast", event: "e", payload: {} })).toBe("ok")
    await eventually(() => listener.received.length === 1)
  })

  it("reaches members between serializer versions and across gateways", async () => {
    const name = room()
    const sender = await member(connect(gateway, { vsn: "1.0.0" }), name)
    const v2 = await member(connect(gateway), name)
    const remote = await member(connect(other), name)
    const remoteV1 = await member(connect(other, { vsn: "1.0.0" }), name)
    await sender.channel.send({ type: "broadcast", event: "e", payload: { from: "v1" } })
    await v2.channel.send({ type: "broadcast", event: "e", payload: { from: "v2" } })
    await eventually(
      () => remote.received.length === 2 && remoteV1.received.length === 2 && sender.received.length === 1,
    )
    expect(remote.received.map((m) => m.payload)).toEqual([{ from: "v1" }, { from: "v2" }])
    expect(remoteV1.received).toEqual(remote.received)
    expect(v2.received).toEqual([{ event: "e", payload: { from: "v1" } }])
  })

  it("delivers httpSend and the REST broadcast endpoint, here and on other gateways", async () => {
    const name = room()
    const here = await member(connect(), name)
    const there = await member(connect(other), name)
    const sender = connect().channel(name)
    expect(await sender.httpSend("rest", { via: "httpSend" })).toEqual({ success: true })
    const response = await fetch(`${gateway.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: { apikey: anon, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ topic: name, event: "rest", payload: { via: "api" } }] }),
    })
    expect(response.status).toBe(202)
    await eventually(() => here.received.length === 2 && there.received.length === 2)
    expect(here.received).toEqual([
      { event: "rest", payload: { via: "httpSend" } },
      { event: "rest", payload: { via: "api" } },
    ])
    expect(there.received).toEqual(here.received)
  })

  it("carries binary payloads as bytes", async () => {
    const name = room()
    const here = await member(connect(), name)
    const sender = await member(connect(), name)
    await sender.channel.send({ type: "broadcast", event: "bin", payload: new Uint8Array([1, 2, 3]).buffer })
    await connect()
      .channel(name)
      .httpSend("bin", new Uint8Array([4, 5]))
    await eventually(() => here.received.length === 2)
    expect(here.received.map((m) => [...new Uint8Array(m.payload as ArrayBuffer)])).toEqual([
      [1, 2, 3],
      [4, 5],
    ])
  })

  it("refuses REST broadcasts without an apikey, and private ones the caller may not write", async () => {
    const body = JSON.stringify({ messages: [{ topic: "x", event: "e", payload: {} }] })
    const missing = await fetch(`${gateway.url}/realtime/v1/api/broadcast`, { method: "POST", body })
    expect(missing.status).toBe(401)
    const privateBody = JSON.stringify({
      messages: [{ topic: "staff", event: "e", payload: {}, private: true }],
    })
    const denied = await fetch(`${gateway.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: {
        apikey: anon,
        authorization: `Bearer ${await userToken("gina")}`,
        "content-type": "application/json",
      },
      body: privateBody,
    })
    expect(denied.status).toBe(403)
    const allowed = await fetch(`${gateway.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: {
        apikey: anon,
        authorization: `Bearer ${await serviceKey()}`,
        "content-type": "application/json",
      },
      body: privateBody,
    })
    expect(allowed.status).toBe(202)
  })

  it("keeps private channels apart from public ones of the same name, and refuses readers without permission", async () => {
    const name = room()
    const user = connect()
    await user.realtime.setAuth(await userToken("hank"))
    const privateMember = await member(user, name, {}, true)
    const publicMember = await member(connect(), name)
    const anonymous = connect()
    const refused = await subscribed(anonymous.channel(name, { config: { private: true } }))
    expect(refused.status).toBe("CHANNEL_ERROR")
    expect(refused.error?.message).toContain("Unauthorized")
    await fetch(`${gateway.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: {
        apikey: anon,
        authorization: `Bearer ${await serviceKey()}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ messages: [{ topic: name, event: "secret", payload: {}, private: true }] }),
    })
    await eventually(() => privateMember.received.length === 1)
    await sleep(50)
    expect(publicMember.received).toEqual([])
  })
})
