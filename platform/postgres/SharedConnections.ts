// A few pipelining connections that many callers write to at once, for statements that are whole
// transactions by themselves (SettingsQuery). No checkout: a statement goes to the connection with
// the fewest statements in flight and is written at once, so many travel to Postgres in one write
// and their answers come back in one read. A connection that fails is replaced on next use.
import pg from "pg"
import { querySettled, type Settings } from "./SettingsQuery.ts"

export interface SharedConnections {
  readonly query: <R extends pg.QueryResultRow>(
    statement: pg.QueryConfig,
    settings: Settings,
  ) => Promise<pg.QueryResult<R>>
  readonly end: () => Promise<void>
}

interface Lane {
  client: Promise<pg.Client> | undefined
  inFlight: number
  corked: boolean
}

/**
 * Holds a connection's writes until the event loop has handled what it is handling now, so the
 * statements of many requests leave in one write to the socket rather than one write each.
 */
const coalesce = (lane: Lane, client: pg.Client) => {
  if (lane.corked) return
  const stream = (
    client as unknown as { connection: { stream: NodeJS.WritableStream & { cork(): void; uncork(): void } } }
  ).connection.stream
  stream.cork()
  lane.corked = true
  setImmediate(() => {
    lane.corked = false
    stream.uncork()
  })
}

export const make = (config: pg.ClientConfig, count: number): SharedConnections => {
  const lanes: Array<Lane> = Array.from({ length: Math.max(1, count) }, () => ({
    client: undefined,
    inFlight: 0,
    corked: false,
  }))
  let ended = false

  const connect = (lane: Lane) => {
    const client = new pg.Client({ ...config, pipeline: true } as pg.ClientConfig)
    const forget = () => {
      if (lane.client === connecting) lane.client = undefined
    }
    // Statements in flight on a failed connection fail with its error; the lane starts afresh.
    client.on("error", forget)
    client.on("end", forget)
    const connecting = client.connect().then(
      () => client,
      (error) => {
        forget()
        throw error
      },
    )
    lane.client = connecting
    return connecting
  }

  const query = async <R extends pg.QueryResultRow>(statement: pg.QueryConfig, settings: Settings) => {
    if (ended) throw new Error("the shared Postgres connections are closed")
    let lane = lanes[0]!
    for (const candidate of lanes) if (candidate.inFlight < lane.inFlight) lane = candidate
    lane.inFlight++
    try {
      const client = await (lane.client ?? connect(lane))
      coalesce(lane, client)
      if (settings.length === 0) return await client.query<R>(statement)
      return await querySettled<R>(client, { ...statement, name: statement.name ?? "" }, settings)
    } finally {
      lane.inFlight--
    }
  }

  const end = async () => {
    ended = true
    await Promise.all(
      lanes.map(async (lane) => {
        const client = await lane.client?.catch(() => undefined)
        lane.client = undefined
        await client?.end().catch(() => undefined)
      }),
    )
  }

  return { query, end }
}
