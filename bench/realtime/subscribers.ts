// The realtime load's clients, in a process of their own: `count` WebSockets spread over `teams`,
// each joined as a user of its team (reactor) or subscribed to its team's topic (raw floor). Every
// message carries the writer's `sent_at`; this process counts deliveries and their latency.
// Commands on stdin: `mark` starts a measuring window, `report` prints it as one JSON line.
import { randomUUID } from "node:crypto"
import { createInterface } from "node:readline"
import { Effect } from "effect"
import { sign } from "../../platform/jwt/Jwt.ts"
import { openLeanSocket } from "./LeanSocket.ts"

const [url = "", countText, teamsText, mode] = process.argv.slice(2)
const count = Number(countText)
const teams = Number(teamsText)
const secret = process.env["BENCH_SECRET"] ?? ""

/** The user of subscriber `i`: a member of team i % teams, as a JWT the gateway verifies. */
const tokenOf = (i: number) =>
  Effect.runPromise(
    sign(secret, {
      role: "authenticated",
      aud: "authenticated",
      sub: randomUUID(),
      team_id: i % teams,
      exp: Math.floor(Date.now() / 1000) + 3_600,
    }),
  )

let delivered = 0
let latencies: Array<number> = []
let joined = 0
let failed = 0

// Reading every frame as text would cost this process more than the server spends sending it:
// the stamp is found and read from the bytes.
const stamp = Buffer.from('"sent_at":')
const sentAt = (data: Buffer): number | undefined => {
  const at = data.indexOf(stamp)
  if (at < 0) return undefined
  let value = 0
  for (let i = at + stamp.length; i < data.length; i++) {
    const digit = data[i]! - 48
    if (digit < 0 || digit > 9) break
    value = value * 10 + digit
  }
  return value
}

const onMessage = (data: Buffer) => {
  const sent = sentAt(data)
  if (sent === undefined) {
    const text = data.toString()
    if (text.includes('"phx_reply"') && text.includes('"status":"ok"') && text.includes("postgres_changes"))
      joined++
    else if (text.includes('"status":"error"')) failed++
    return
  }
  delivered++
  latencies.push(Date.now() - sent)
}

const open = async (i: number) => {
  const token = mode === "raw" ? "" : await tokenOf(i)
  const team = i % teams
  const socket = await openLeanSocket(mode === "raw" ? `${url}?team=${team}` : url, onMessage)
  if (mode === "raw") joined++
  else
    socket.send(
      JSON.stringify({
        topic: `realtime:team-${team}`,
        event: "phx_join",
        ref: "1",
        join_ref: "1",
        payload: {
          config: {
            broadcast: { self: false, ack: false },
            presence: { key: "", enabled: false },
            postgres_changes: [{ event: "INSERT", schema: "public", table: "team_items" }],
            private: false,
          },
          access_token: token,
        },
      }),
    )
  // Phoenix's heartbeat, so an idle socket is not closed during a long run.
  setInterval(
    () => socket.send(JSON.stringify({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "h" })),
    25_000,
  ).unref()
}

const main = async () => {
  for (let i = 0; i < count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, k) => open(i + k)))
  }
  const deadline = Date.now() + 60_000
  while (joined + failed < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  process.stdout.write(`${JSON.stringify({ ready: true, joined, failed })}\n`)
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line === "mark") {
      delivered = 0
      latencies = []
    } else if (line === "report") {
      const sorted = latencies.sort((a, b) => a - b)
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
      process.stdout.write(`${JSON.stringify({ delivered, p50: at(0.5), p99: at(0.99) })}\n`)
    }
  })
}

await main()
