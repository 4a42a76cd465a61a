// Delivers row changes to postgres_changes subscribers. Subscribers with the same channel topic,
// serializer, binding and audience share one uWS topic, so a change is authorized once per
// audience and serialized once per binding, whatever the number of subscribers. Changes go out
// in the order they arrive, one batch at a time.
import { Effect, Exit } from "effect"
import type { Claims } from "../../platform/jwt/Jwt.ts"
import { AudienceTable } from "./AudienceTable.ts"
import { type Binding, bindingMatches } from "./bindings.ts"
import type { Audience, ChangeAuthorizer } from "./ChangeAuthorizer.ts"
import type { ChangeHistory } from "./ChangeHistory.ts"
import { getOrSet } from "./getOrSet.ts"
import type { RowChange } from "./RowChange.ts"
import { encode, encodeRaw, type Vsn } from "./Serializer.ts"

/** One joined channel with postgres_changes bindings, as the hub sees it. */
export interface Subscriber {
  /** `realtime:<name>`. */
  readonly topic: string
  readonly vsn: Vsn
  readonly bindings: ReadonlyArray<Binding>
  /** Asked for positions (it passed `postgres_changes_since`): gets a `system` message after each batch. */
  readonly resumable: boolean
  readonly claims: () => Claims
  /** Sends one text frame to this subscriber alone. */
  readonly send: (text: string) => void
  readonly subscribe: (uwsTopic: string) => void
  readonly unsubscribe: (uwsTopic: string) => void
}

export interface HubOptions {
  readonly authorizer: ChangeAuthorizer
  readonly history: ChangeHistory
  /** uWS's app.publish: one frame to every socket subscribed to the topic. */
  readonly publish: (uwsTopic: string, text: string) => void
  /** Live changes held for one subscriber while its replay runs; beyond, it must reload. */
  readonly replayBufferLimit: number
}

class AudienceGroup {
  readonly members = new Set<Subscriber>()
  constructor(
    readonly uwsTopic: string,
    readonly key: string,
    readonly claims: Claims,
    readonly group: Group,
  ) {}
}

/** Subscribers of one (topic, vsn, binding, resumable): they get the same bytes. */
class Group {
  /** Per table (`schema.table`), per audience key. */
  readonly audiences = new Map<string, Map<string, AudienceGroup>>()
  /** Each member's audience group per table. */
  readonly members = new Map<Subscriber, Map<string, AudienceGroup>>()
  constructor(
    readonly key: string,
    readonly index: string,
    readonly topic: string,
    readonly vsn: Vsn,
    readonly resumable: boolean,
    readonly binding: Binding,
  ) {}
}

interface Replay {
  readonly buffer: Array<RowChange>
  overflow: boolean
}

interface Member {
  readonly groups: Array<Group>
  live: boolean
  replay: Replay | undefined
}

/** A `system` message about this channel's postgres_changes. */
const systemMessage = (vsn: Vsn, topic: string, payload: Record<string, unknown>) =>
  encode(vsn, {
    joinRef: null,
    ref: null,
    topic,
    event: "system",
    payload: { extension: "postgres_changes", ...payload, channel: topic.replace(/^realtime:/, "") },
  })

const positionMessage = (vsn: Vsn, topic: string, position: string) =>
  systemMessage(vsn, topic, { status: "ok", message: "Changes delivered up to position", position })

const reloadMessage = (vsn: Vsn, topic: string, message: string) =>
  systemMessage(vsn, topic, { status: "error", message })

const qualified = (schema: string, table: string) => `${schema}.${table}`

/** The change's `data` as realtime-js reads it, plus its position; once per change and column selection. */
const dataJson = (change: RowChange, select: ReadonlyArray<string> | undefined): string => {
  const pick = (row: Record<string, unknown> | null) =>
    row === null || select === undefined
      ? row
      : Object.fromEntries(select.filter((c) => c in row).map((c) => [c, row[c]]))
  const data: Record<string, unknown> = {
    schema: change.schema,
    table: change.table,
    commit_timestamp: change.commit_timestamp,
    type: change.type,
    columns: select === undefined ? change.columns : change.columns.filter((c) => select.includes(c.name)),
  }
  if (change.type !== "DELETE") data["record"] = pick(change.record)
  if (change.type !== "INSERT") data["old_record"] = pick(change.old_record)
  data["errors"] = null
  data["position"] = change.position
  return JSON.stringify(data)
}

export class Hub {
  private readonly groups = new Map<string, Group>()
  /** Every audience group per `schema.table`, across groups: whom a change of the table may reach. */
  private readonly tables = new Map<string, AudienceTable<AudienceGroup>>()
  /** Groups by `schema.table`, `schema.*` or `*.*`, to find a change's groups in three lookups. */
  private readonly index = new Map<string, Set<Group>>()
  private readonly members = new Map<Subscriber, Member>()
  private readonly replaying = new Set<Subscriber>()
  private topics = 0
  /** The position of the last change received: the end of a replay, the start of live delivery. */
  private last: string | undefined
  /** Batches and replay hand-overs run one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly options: HubOptions) {}

  get subscribers(): number {
    return this.members.size
  }

  /** Starts delivery to a subscriber; with `since`, first what it missed after that position. */
  join(subscriber: Subscriber, since: string | undefined): void {
    const member: Member = { groups: [], live: since === undefined, replay: undefined }
    this.members.set(subscriber, member)
    for (const binding of subscriber.bindings) {
      const group = this.groupFor(subscriber, binding)
      member.groups.push(group)
      group.members.set(subscriber, new Map())
      for (const table of group.audiences.keys()) this.assign(group, subscriber, member, table)
      if (binding.table !== "*" && binding.schema !== "*")
        this.assign(group, subscriber, member, qualified(binding.schema, binding.table))
    }
    if (since !== undefined) this.replay(subscriber, member, since)
  }

  leave(subscriber: Subscriber): void {
    const member = this.members.get(subscriber)
    if (member === undefined) return
    this.members.delete(subscriber)
    this.replaying.delete(subscriber)
    for (const group of member.groups) {
      for (const [table, audience] of group.members.get(subscriber) ?? []) {
        audience.members.delete(subscriber)
        if (member.live) subscriber.unsubscribe(audience.uwsTopic)
        this.dropIfEmpty(group, table, audience)
      }
      group.members.delete(subscriber)
      if (group.members.size === 0) {
        this.groups.delete(group.key)
        this.index.get(group.index)?.delete(group)
      }
    }
  }

  /**
   * The subscriber's claims changed: move it to the audiences its new claims belong to. Queued
   * behind the batch under way: moved between a batch's authorization and its publishing, the
   * subscriber would be in neither audience the batch was decided for, and miss its changes.
   */
  reauthorize(subscriber: Subscriber): void {
    void this.enqueue(async () => this.move(subscriber))
  }

  /** The policies changed: every subscriber is moved to the audience it now belongs to (queued too). */
  reauthorizeAll(): void {
    void this.enqueue(async () => {
      for (const subscriber of [...this.members.keys()]) this.move(subscriber)
    })
  }

  private move(subscriber: Subscriber): void {
    const member = this.members.get(subscriber)
    if (member === undefined) return
    for (const group of member.groups) {
      const mine = group.members.get(subscriber)!
      for (const [table, audience] of [...mine]) {
        const [schema, name] = splitQualified(table)
        if (this.options.authorizer.audienceOf(schema, name, subscriber.claims()) === audience.key) continue
        audience.members.delete(subscriber)
        if (member.live) subscriber.unsubscribe(audience.uwsTopic)
        this.dropIfEmpty(group, table, audience)
        this.assign(group, subscriber, member, table)
      }
    }
  }

  publishChanges(changes: ReadonlyArray<RowChange>): Effect.Effect<void> {
    return Effect.promise(() => this.enqueue(() => this.deliverBatch(changes)))
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task)
    // One failing task must not stop the ones after it.
    this.queue = run.catch(() => undefined)
    return run
  }

  private groupFor(subscriber: Subscriber, binding: Binding): Group {
    const key = `${subscriber.vsn}\u0000${subscriber.topic}\u0000${binding.id}\u0000${subscriber.resumable}`
    let group = this.groups.get(key)
    if (group === undefined) {
      const index = qualified(binding.schema, binding.schema === "*" ? "*" : binding.table)
      group = new Group(key, index, subscriber.topic, subscriber.vsn, subscriber.resumable, binding)
      this.groups.set(key, group)
      getOrSet(this.index, index, () => new Set()).add(group)
    }
    return group
  }

  /** Puts a member in its audience group for one table, joining its uWS topic when live. */
  private assign(group: Group, subscriber: Subscriber, member: Member, table: string): AudienceGroup {
    const [schema, name] = splitQualified(table)
    const claims = subscriber.claims()
    const key = this.options.authorizer.audienceOf(schema, name, claims)
    const byKey = getOrSet(group.audiences, table, () => new Map<string, AudienceGroup>())
    let audience = byKey.get(key)
    if (audience === undefined) {
      audience = new AudienceGroup(`c:${++this.topics}`, key, claims, group)
      byKey.set(key, audience)
      getOrSet(this.tables, table, () => new AudienceTable<AudienceGroup>(schema!, name!)).add(audience)
    }
    audience.members.add(subscriber)
    group.members.get(subscriber)!.set(table, audience)
    if (member.live) subscriber.subscribe(audience.uwsTopic)
    return audience
  }

  private dropIfEmpty(group: Group, table: string, audience: AudienceGroup): void {
    if (audience.members.size > 0) return
    group.audiences.get(table)?.delete(audience.key)
    const audiences = this.tables.get(table)
    audiences?.remove(audience)
    if (audiences?.size === 0) this.tables.delete(table)
  }

  /** A schema-wide binding learns a table when its first change comes: its members get audiences. */
  private audiencesFor(group: Group, table: string): Map<string, AudienceGroup> {
    let byKey = group.audiences.get(table)
    if (byKey === undefined) {
      for (const subscriber of group.members.keys()) {
        const member = this.members.get(subscriber)
        if (member !== undefined) this.assign(group, subscriber, member, table)
      }
      byKey = group.audiences.get(table) ?? new Map()
    }
    return byKey
  }

  /**
   * The audience groups that may see `change`, and the distinct audiences among them to ask: those
   * the authorizer's index leaves (all, without one) whose binding matches the change.
   */
  private candidates(change: RowChange, table: string) {
    // Schema-wide bindings learn the table with its first change: their audiences join the table's.
    for (const key of [qualified(change.schema, "*"), "*.*"])
      for (const group of this.index.get(key) ?? [])
        if (bindingMatches(group.binding, change)) this.audiencesFor(group, table)
    const audienceGroups: Array<AudienceGroup> = []
    const audiences = new Map<string, Claims>()
    const known = this.tables.get(table)
    if (known === undefined) return { audienceGroups, audiences }
    const matches = new Map<Group, boolean>()
    for (const audience of known.candidates(change, this.options.authorizer.index?.())) {
      if (audience.members.size === 0) continue
      let match = matches.get(audience.group)
      if (match === undefined) {
        match = bindingMatches(audience.group.binding, change)
        matches.set(audience.group, match)
      }
      if (!match) continue
      audienceGroups.push(audience)
      audiences.set(audience.key, audience.claims)
    }
    return { audienceGroups, audiences }
  }

  private async deliverBatch(changes: ReadonlyArray<RowChange>): Promise<void> {
    const resumable = new Map<AudienceGroup, Group>()
    for (const change of changes) {
      this.last = change.position
      if (this.replaying.size > 0) this.hold(change)
      const table = qualified(change.schema, change.table)
      const { audienceGroups, audiences } = this.candidates(change, table)
      if (audiences.size === 0) continue
      const keys = [...audiences.keys()]
      const verdicts = await this.allowed(
        change,
        keys.map((key): Audience => ({ key, claims: audiences.get(key)! })),
      )
      const allowed = new Set(keys.filter((_, i) => verdicts[i] === true))
      const data = new Map<string, string>()
      const frames = new Map<Group, string>()
      // Audiences created while `allowed` ran were not asked about: they get nothing of this change.
      for (const audience of audienceGroups) {
        if (!allowed.has(audience.key) || audience.members.size === 0) continue
        const group = audience.group
        const text = getOrSet(frames, group, () => this.frame(group, change, data))
        this.options.publish(audience.uwsTopic, text)
        if (group.resumable) resumable.set(audience, group)
      }
    }
    const last = changes.at(-1)?.position
    if (last === undefined) return
    for (const [audience, group] of resumable)
      if (audience.members.size > 0)
        this.options.publish(audience.uwsTopic, positionMessage(group.vsn, group.topic, last))
  }

  private frame(group: Group, change: RowChange, cache: Map<string, string>): string {
    const select = group.binding.select
    const selectKey = select === undefined ? "" : select.join("\u0000")
    const data = getOrSet(cache, selectKey, () => dataJson(change, select))
    return encodeRaw(
      group.vsn,
      group.topic,
      "postgres_changes",
      `{"ids":[${group.binding.id}],"data":${data}}`,
    )
  }

  private async allowed(
    change: RowChange,
    audiences: ReadonlyArray<Audience>,
  ): Promise<ReadonlyArray<boolean>> {
    // An authorizer that fails shows the change to no one rather than stopping delivery.
    const exit = await Effect.runPromiseExit(this.options.authorizer.allowed(change, audiences))
    return Exit.isSuccess(exit) ? exit.value : []
  }

  /** Keeps a live change for the subscribers whose replay is running. */
  private hold(change: RowChange): void {
    for (const subscriber of this.replaying) {
      const replay = this.members.get(subscriber)?.replay
      if (replay === undefined || replay.overflow) continue
      if (!subscriber.bindings.some((b) => bindingMatches(b, change))) continue
      if (replay.buffer.length >= this.options.replayBufferLimit) {
        replay.overflow = true
        replay.buffer.length = 0
      } else replay.buffer.push(change)
    }
  }

  /**
   * Replays what the history holds after `since` up to the last change received now, while changes
   * received from now on are held; then, in the delivery queue, sends those held and goes live.
   * The two sets meet at `until`, so nothing is missed or sent twice.
   */
  private replay(subscriber: Subscriber, member: Member, since: string): void {
    member.replay = { buffer: [], overflow: false }
    this.replaying.add(subscriber)
    const until = this.last
    const stillHere = () => this.members.get(subscriber) === member
    const bindings = subscriber.bindings.map((b) => ({ schema: b.schema, table: b.table }))
    Effect.runPromiseExit(this.options.history.since(since, bindings, until)).then(async (exit) => {
      let sent = new Set<string>()
      let last: string | undefined
      let reload = false
      if (Exit.isSuccess(exit)) {
        for (const change of exit.value) {
          if (!stillHere()) return
          await this.deliverTo(subscriber, member, change)
          sent.add(change.position)
          last = change.position
        }
      } else {
        reload = true
        subscriber.send(
          reloadMessage(
            subscriber.vsn,
            subscriber.topic,
            `Position ${since} is older than the retained change history: reload the data, then subscribe again`,
          ),
        )
      }
      await this.enqueue(async () => {
        if (!stillHere()) return
        const replay = member.replay!
        if (replay.overflow && !reload) {
          reload = true
          subscriber.send(
            reloadMessage(
              subscriber.vsn,
              subscriber.topic,
              "Too many changes arrived during the replay: reload the data, then subscribe again",
            ),
          )
        }
        if (!reload)
          for (const change of replay.buffer) {
            if (sent.has(change.position)) continue
            await this.deliverTo(subscriber, member, change)
            last = change.position
            if (!stillHere()) return
          }
        sent = new Set()
        member.replay = undefined
        this.replaying.delete(subscriber)
        member.live = true
        for (const group of member.groups)
          for (const audience of group.members.get(subscriber)!.values())
            subscriber.subscribe(audience.uwsTopic)
        if (subscriber.resumable && last !== undefined)
          subscriber.send(positionMessage(subscriber.vsn, subscriber.topic, last))
      })
    })
  }

  /** One change to one subscriber, outside the shared topics (a replay). */
  private async deliverTo(subscriber: Subscriber, member: Member, change: RowChange): Promise<void> {
    const groups = member.groups.filter((g) => bindingMatches(g.binding, change))
    if (groups.length === 0) return
    const table = qualified(change.schema, change.table)
    const audiences = groups.map(
      (g) => g.members.get(subscriber)?.get(table) ?? this.assign(g, subscriber, member, table),
    )
    const verdict = await this.allowed(change, [{ key: audiences[0]!.key, claims: subscriber.claims() }])
    if (verdict[0] !== true) return
    const cache = new Map<string, string>()
    for (const group of groups) subscriber.send(this.frame(group, change, cache))
  }
}

const splitQualified = (table: string): [string, string] => {
  const dot = table.indexOf(".")
  return [table.slice(0, dot), table.slice(dot + 1)]
}
