// A few pipelining connections that many callers write to at once, for statements that are whole
// transactions by themselves, with the statements that trail them in their batch (SettingsQuery).
// No checkout: a statement goes to the connection with the fewest statements in flight and is
// written at once, so many travel to Postgres in one write and their answers come back in one
// read. A connection that fails is replaced on next use.
//
// Postgres answers a connection's statements in the order they came, so a slow one holds up every
// statement written behind it: one 3-second report would hold up every read sent to its
// connection for those seconds. So a statement runs on a connection of its own (`exclusive`, a
// pool checkout) the first time its shape is seen and whenever that shape last took longer than
// `slowMs`; and no statement is written to a connection whose oldest statement has been running
// longer than that; nor, with `queueMs`, behind more statements than it can expect to finish in
// that time.
import pg from "pg"
import { querySettled, type Settings, type Trailing } from "./SettingsQuery.ts"

export interface SharedConnections {
  readonly query: <R extends pg.QueryResultRow>(
    statement: pg.QueryConfig,
    settings: Settings,
    /** Run after `statement` in its transaction; the result is still `statement`'s. */
    trailing?: ReadonlyArray<Trailing>,
  ) => Promise<pg.QueryResult<R>>
  readonly end: () => Promise<void>
}

export interface SharedOptions {
  readonly count: number
  /**
   * Milliseconds a statement may expect to wait behind those already on a connection (by their
   * recent times); past it on every connection, it takes the pool. Default: no limit. Writes: a
   * connection's statements run one after another, each waiting for its commit's WAL flush,
   * which commits on different connections share. On a disk whose flush is slow, a deep queue
   * here would make writes wait long and cap them at one flush each.
   */
  readonly queueMs?: number
  /** A connection no one else writes to until it is released: the pool's. */
  readonly checkout: () => Promise<pg.PoolClient>
}

interface Lane {
  client: Promise<pg.Client> | undefined
  /** When each statement in flight was written, oldest first: Postgres answers in that order. */
  readonly sent: Array<number>
  /** When the lane last finished a statement: the one after it started running then at the latest. */
  lastDone: number
  /** Milliseconds its recent statements took each, their own time (a moving average). */
  ownMs: number
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

/**
 * Milliseconds a statement may take and still share a connection: above it, it delays enough
 * requests behind it to be worth a connection of its own. Times are measured in this process, so a
 * busy event loop makes statements look slower: they then take the pool, and come back once one
 * runs fast again.
 */
const slowMs = 25

/** Shapes remembered, at most; a client inventing shapes cannot grow the map without bound. */
const maxShapes = 10_000

export const make = (config: pg.ClientConfig, options: SharedOptions): SharedConnections => {
  const queueMs = options.queueMs ?? Number.POSITIVE_INFINITY
  const lanes: Array<Lane> = Array.from({ length: Math.max(1, options.count) }, () => ({
    client: undefined,
    sent: [],
    lastDone: 0,
    ownMs: 0,
    corked: false,
  }))
  /** Shapes (statement names, else texts) whose last run was quick enough to share a connection. */
  const quick = new Set<string>()
  let ended = false

  const remember = (shape: string, ms: number) => {
    if (ms <= slowMs) {
      if (quick.size >= maxShapes) quick.clear()
      quick.add(shape)
    } else {
      quick.delete(shape)
    }
  }

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

  /** The lane with the fewest statements in flight, of those not held up by a slow one. */
  const pick = (now: number): Lane | undefined => {
    let best: Lane | undefined
    for (const lane of lanes) {
      const oldest = lane.sent[0]
      if (oldest !== undefined && now - Math.max(oldest, lane.lastDone) > slowMs) continue
      if (lane.sent.length * lane.ownMs > queueMs) continue
      if (best === undefined || lane.sent.length < best.sent.length) best = lane
    }
    return best
  }

  const run = <R extends pg.QueryResultRow>(
    client: pg.ClientBase,
    statement: pg.QueryConfig,
    settings: Settings,
    trailing: ReadonlyArray<Trailing>,
  ) =>
    settings.length === 0 && trailing.length === 0
      ? client.query<R>(statement)
      : querySettled<R>(client, { ...statement, name: statement.name ?? "" }, settings, trailing)

  /** Timed from the checkout, so a wait for the pool does not make the statement look slow. */
  const exclusive = async <R extends pg.QueryResultRow>(
    shape: string,
    statement: pg.QueryConfig,
    settings: Settings,
    trailing: ReadonlyArray<Trailing>,
  ) => {
    const client = await options.checkout()
    const start = performance.now()
    try {
      const result = await run<R>(client, statement, settings, trailing)
      client.release()
      return result
    } catch (error) {
      // Postgres refused the statement: the connection is fine. Anything else leaves it in doubt.
      client.release(error instanceof pg.DatabaseError ? undefined : true)
      throw error
    } finally {
      remember(shape, performance.now() - start)
    }
  }

  const onLane = async <R extends pg.QueryResultRow>(
    lane: Lane,
    shape: string,
    statement: pg.QueryConfig,
    settings: Settings,
    trailing: ReadonlyArray<Trailing>,
    now: number,
  ) => {
    lane.sent.push(now)
    try {
      const client = await (lane.client ?? connect(lane))
      coalesce(lane, client)
      return await run<R>(client, statement, settings, trailing)
    } finally {
      const done = performance.now()
      const sent = lane.sent.shift() ?? now
      // Its own time: from when the statement before it finished, if it was still running then.
      const own = done - Math.max(sent, lane.lastDone)
      remember(shape, own)
      lane.ownMs += (own - lane.ownMs) / 8
      lane.lastDone = done
    }
  }

  const query = async <R extends pg.QueryResultRow>(
    statement: pg.QueryConfig,
    settings: Settings,
    trailing: ReadonlyArray<Trailing> = [],
  ) => {
    if (ended) throw new Error("the shared Postgres connections are closed")
    const shape = statement.name ?? statement.text
    const now = performance.now()
    const lane = quick.has(shape) ? pick(now) : undefined
    return lane === undefined
      ? exclusive<R>(shape, statement, settings, trailing)
      : onLane<R>(lane, shape, statement, settings, trailing, now)
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
