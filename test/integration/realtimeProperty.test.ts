// The property realtime must have: for random rows, random policies of the documented grammar and
// random subscribers, what each subscriber receives is exactly what SELECT returns under its claims.
import { randomUUID } from "node:crypto"
import type { SupabaseClient } from "@supabase/supabase-js"
import { Effect } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sign } from "../../platform/jwt/Jwt.ts"
import { eventually } from "../support/app.ts"
import { random } from "../support/random.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"
import { supabaseClient } from "../support/supabase.ts"

const users = Array.from({ length: 4 }, () => randomUUID())

/** A USING expression from the grammar README documents: claims, constants, AND/OR/NOT, IN, membership. */
const policy = (next: () => number, depth = 0): string => {
  const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(next() * xs.length)]!
  if (depth >= 2 || next() < 0.45) {
    return pick([
      "owner = auth.uid()",
      "team = ((auth.jwt() ->> 'team_id'))::int",
      "status = 'open'",
      "score > 5",
      "score is null",
      "is_public",
      "team in (1, 2)",
      "(auth.jwt() -> 'app_metadata' ->> 'level') = 'gold'",
      "team in (select m.team from members m where m.user_id = auth.uid())",
    ])
  }
  const op = pick(["and", "or", "not"])
  return op === "not"
    ? `not (${policy(next, depth + 1)})`
    : `(${policy(next, depth + 1)}) ${op} (${policy(next, depth + 1)})`
}

describe.each(topologies)("Realtime delivers exactly what SELECT returns (%s)", (topology) => {
  let reactor: RunningReactor
  let admin: pg.Client
  const clients: Array<SupabaseClient> = []

  beforeAll(async () => {
    reactor = await startReactor(topology)
    admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
    await admin.query(`create table members (user_id uuid, team int);
      grant select on members to authenticated;`)
    for (const [i, user] of users.entries()) {
      await admin.query("insert into members values ($1, $2), ($1, $3)", [user, i % 3, (i + 1) % 3])
    }
  }, 90_000)
  afterAll(async () => {
    for (const client of clients) await client.removeAllChannels()
    await admin?.end()
    await reactor?.stop()
  })

  const seeds = topology === "single" ? [11, 23, 37, 41, 53] : [67, 79]
  it.each(seeds)(
    "holds for seed %i",
    async (seed) => {
      const next = random(seed).next
      const table = `items_${seed}`
      const using = policy(next)
      await admin.query(`create table ${table} (
        id int primary key, owner uuid, team int, status text, score int, is_public boolean not null);
      alter table ${table} enable row level security;
      create policy p on ${table} for select to authenticated using (${using});
      grant select on ${table} to authenticated;`)

      const subscribers = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const claims: Record<string, unknown> = {
            role: "authenticated",
            aud: "authenticated",
            sub: users[Math.floor(next() * users.length)],
            exp: Math.floor(Date.now() / 1000) + 600,
            app_metadata: { level: next() < 0.5 ? "gold" : "silver" },
          }
          if (next() < 0.7) claims["team_id"] = Math.floor(next() * 4)
          const token = await Effect.runPromise(sign(reactor.secret, claims))
          const client = supabaseClient(reactor.url, reactor.anonKey)
          clients.push(client)
          await client.realtime.setAuth(token)
          const seen: Array<number> = []
          const channel = client
            .channel(`${table}-${i}`)
            .on("postgres_changes", { event: "INSERT", schema: "public", table }, (c) =>
              seen.push((c.new as { id: number }).id),
            )
          await new Promise<void>((resolve, reject) =>
            channel.subscribe((status, error) =>
              status === "SUBSCRIBED" ? resolve() : error !== undefined && reject(error),
            ),
          )
          return { claims, seen }
        }),
      )

      for (let id = 1; id <= 30; id++) {
        await admin.query(`insert into ${table} values ($1, $2, $3, $4, $5, $6)`, [
          id,
          next() < 0.15 ? null : users[Math.floor(next() * users.length)],
          next() < 0.15 ? null : Math.floor(next() * 4),
          next() < 0.5 ? "open" : "closed",
          next() < 0.25 ? null : Math.floor(next() * 10),
          next() < 0.3,
        ])
      }

      for (const { claims, seen } of subscribers) {
        await admin.query("begin")
        await admin.query(
          "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)",
          [JSON.stringify(claims)],
        )
        const { rows } = await admin.query<{ id: number }>(`select id from ${table} order by id`)
        await admin.query("rollback")
        const expected = rows.map((r) => r.id)
        // On a timeout the comparison below still runs, so a failure shows what arrived.
        await eventually(() => seen.length >= expected.length, "the deliveries", 8_000).catch(() => undefined)
        await new Promise((r) => setTimeout(r, 100))
        expect({ seed, using, claims, seen }).toEqual({ seed, using, claims, seen: expected })
      }
    },
    60_000,
  )
})
