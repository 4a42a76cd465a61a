// Bad input never stops realtime: seeded random Phoenix frames — malformed JSON, wrong shapes,
// unknown events, bad join configs and filters, junk tokens, huge and binary frames of unknown
// kinds — in both serializers. Each socket must still answer a heartbeat after its junk, and a
// well-formed subscriber must still get its changes.
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { eventually } from "../support/app.ts"
import { random } from "../support/random.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"

type Vsn = "1.0.0" | "2.0.0"

const encode = (
  vsn: Vsn,
  m: { joinRef: unknown; ref: unknown; topic: unknown; event: unknown; payload: unknown },
) =>
  vsn === "1.0.0"
    ? JSON.stringify({ join_ref: m.joinRef, ref: m.ref, topic: m.topic, event: m.event, payload: m.payload })
    : JSON.stringify([m.joinRef, m.ref, m.topic, m.event, m.payload])

const junk = (next: () => number, vsn: Vsn, keys: ReadonlyArray<unknown>): string | Buffer => {
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
  const r = next()
  if (r < 0.08)
    return pick(["", "{", "null", "[]", "[1,2,3,4,5]", "\u0000", "x".repeat(70_000), '{"topic":5}'])
  if (r < 0.16)
    return Buffer.from([
      pick([0, 3, 4, 255]),
      ...Array.from({ length: Math.floor(next() * 12) }, () => pick([0, 1, 5, 255])),
    ])
  const bindings = pick<unknown>([
    [{ event: "*", schema: "public", table: "things" }],
    [
      {
        event: "INSERT",
        schema: "public",
        table: "things",
        filter: pick(["n=eq.1", "n=bogus.1", "n=in.(1,2", "=", "nope=eq.x", "n=eq."]),
      },
    ],
    [{ event: "x", schema: 1 }],
    [{ event: "*", schema: "public", table: "nope" }],
    [{ event: "*", schema: "*" }],
    [null],
    "junk",
  ])
  const payload = pick<unknown>([
    {},
    null,
    5,
    "s",
    [],
    {
      config: {
        broadcast: {
          self: pick([true, "x"]),
          ack: pick([true, 1]),
          replay: pick([{ since: "x", limit: 99 }, { since: 0, limit: 1 }, 5]),
        },
        presence: pick([{ key: 1 }, { key: "k", enabled: true }, null]),
        postgres_changes: bindings,
        private: pick([true, false, "yes"]),
      },
      access_token: pick(keys),
    },
    { type: "broadcast", event: pick(["e", 5, null]), payload: pick([{ a: 1 }, "x".repeat(100_000), null]) },
    { type: "presence", event: pick(["track", "untrack", "x"]), payload: pick([{ a: 1 }, null]) },
    { access_token: pick(keys) },
    { postgres_changes_since: pick(["x", "1:2", 5]) },
  ])
  return encode(vsn, {
    joinRef: pick(["1", null, 5]),
    ref: pick(["1", null, 7]),
    topic: pick(["realtime:a", "realtime:", "phoenix", "", `realtime:${"z".repeat(3000)}`, null, 5]),
    event: pick([
      "phx_join",
      "phx_leave",
      "broadcast",
      "presence",
      "access_token",
      "heartbeat",
      "nope",
      null,
    ]),
    payload,
  })
}

/** Opens a socket, sends `frames`, then a heartbeat: whether the heartbeat was answered. */
const survives = (url: string, vsn: Vsn, frames: ReadonlyArray<string | Buffer>) =>
  new Promise<boolean>((resolve) => {
    const ws = new WebSocket(url)
    const timer = setTimeout(() => {
      ws.terminate()
      resolve(false)
    }, 10_000)
    const done = (answered: boolean) => {
      clearTimeout(timer)
      ws.close()
      resolve(answered)
    }
    ws.on("open", () => {
      for (const frame of frames) ws.send(frame)
      ws.send(encode(vsn, { joinRef: null, ref: "beat", topic: "phoenix", event: "heartbeat", payload: {} }))
    })
    ws.on("message", (data, isBinary) => {
      if (!isBinary && String(data).includes('"beat"') && String(data).includes("phx_reply")) done(true)
    })
    ws.on("close", () => done(false))
    ws.on("error", () => undefined)
  })

describe.each(topologies)("Realtime under random bad frames (%s)", (topology) => {
  let reactor: RunningReactor
  let admin: pg.Client

  beforeAll(async () => {
    reactor = await startReactor(topology)
    admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
    await admin.query("create table things (id int primary key, n int); grant select on things to anon")
  }, 90_000)
  afterAll(async () => {
    await admin?.end()
    await reactor?.stop()
  })

  it("keeps every socket answering, and keeps delivering changes", async () => {
    const next = random(topology === "single" ? 31 : 32).next
    const keys = [reactor.anonKey, reactor.serviceKey, "x.y.z", 5, null]
    const results: Array<boolean> = []
    for (const vsn of ["1.0.0", "2.0.0"] as const) {
      const url = `${reactor.url.replace("http", "ws")}/realtime/v1/websocket?apikey=${reactor.anonKey}&vsn=${vsn}`
      for (let batch = 0; batch < 4; batch++) {
        const sockets = Array.from({ length: 6 }, () =>
          Array.from({ length: 25 }, () => junk(next, vsn, keys)),
        )
        results.push(...(await Promise.all(sockets.map((frames) => survives(url, vsn, frames)))))
      }
    }
    expect(results.filter((answered) => !answered)).toEqual([])

    // A well-formed subscriber after all that still gets its change.
    const ws = new WebSocket(
      `${reactor.url.replace("http", "ws")}/realtime/v1/websocket?apikey=${reactor.anonKey}&vsn=1.0.0`,
    )
    const received: Array<string> = []
    ws.on("message", (data) => received.push(String(data)))
    await new Promise((resolve) => ws.once("open", resolve))
    ws.send(
      encode("1.0.0", {
        joinRef: "1",
        ref: "1",
        topic: "realtime:after",
        event: "phx_join",
        payload: { config: { postgres_changes: [{ event: "INSERT", schema: "public", table: "things" }] } },
      }),
    )
    await eventually(() => received.some((m) => m.includes("Subscribed to PostgreSQL")), "the subscription")
    await admin.query("insert into things values (1, 42)")
    await eventually(
      () => received.some((m) => m.includes('"postgres_changes"') && m.includes('"n":42')),
      "the change",
    )
    ws.close()
  }, 120_000)
})
