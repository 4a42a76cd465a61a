// Who is present on each topic, as Phoenix Presence shapes it: per key, one meta per tracking
// channel, each with a unique `phx_ref`. Holds this gateway's own presences and a copy of the
// other gateways' (learned through the relay); every change comes back as a joins/leaves diff.
import type { PresenceMap, PresenceMeta } from "./BroadcastRelay.ts"
import { getOrSet } from "./getOrSet.ts"

export interface PresenceDiff {
  readonly joins: PresenceMap
  readonly leaves: PresenceMap
}

interface Entry {
  readonly key: string
  readonly meta: PresenceMeta
  /** The gateway it lives on. */
  readonly origin: string
}

const add = (map: Record<string, { metas: Array<PresenceMeta> }>, key: string, meta: PresenceMeta) => {
  const slot = map[key]
  if (slot === undefined) map[key] = { metas: [meta] }
  else slot.metas.push(meta)
}

export const isEmpty = (diff: PresenceDiff) =>
  Object.keys(diff.joins).length === 0 && Object.keys(diff.leaves).length === 0

export class Presence {
  /** Per topic, per phx_ref. */
  private readonly topics = new Map<string, Map<string, Entry>>()
  /** The ref each local tracker (a channel join) holds on its topic. */
  private readonly trackers = new Map<string, { readonly topic: string; readonly ref: string }>()
  private refs = 0

  constructor(private readonly origin: string) {}

  private entries(topic: string): Map<string, Entry> {
    return getOrSet(this.topics, topic, () => new Map<string, Entry>())
  }

  private drop(topic: string, entries: Map<string, Entry>) {
    if (entries.size === 0) this.topics.delete(topic)
  }

  /** Tracks or re-tracks (a new meta replaces the tracker's previous one) a local channel's presence. */
  track(
    topic: string,
    tracker: string,
    key: string,
    payload: Readonly<Record<string, unknown>>,
  ): PresenceDiff {
    const leaves: Record<string, { metas: Array<PresenceMeta> }> = {}
    const joins: Record<string, { metas: Array<PresenceMeta> }> = {}
    const entries = this.entries(topic)
    const previous = this.trackers.get(tracker)
    const ref = `${this.origin}.${(++this.refs).toString(36)}`
    let meta: PresenceMeta = { ...payload, phx_ref: ref }
    if (previous !== undefined) {
      const old = entries.get(previous.ref)
      if (old !== undefined) {
        entries.delete(previous.ref)
        add(leaves, old.key, old.meta)
        meta = { ...meta, phx_ref_prev: old.meta.phx_ref }
      }
    }
    entries.set(ref, { key, meta, origin: this.origin })
    this.trackers.set(tracker, { topic, ref })
    add(joins, key, meta)
    return { joins, leaves }
  }

  untrack(tracker: string): { readonly topic: string; readonly diff: PresenceDiff } | undefined {
    const tracked = this.trackers.get(tracker)
    if (tracked === undefined) return undefined
    this.trackers.delete(tracker)
    const entries = this.entries(tracked.topic)
    const entry = entries.get(tracked.ref)
    entries.delete(tracked.ref)
    this.drop(tracked.topic, entries)
    if (entry === undefined) return undefined
    const leaves: Record<string, { metas: Array<PresenceMeta> }> = {}
    add(leaves, entry.key, entry.meta)
    return { topic: tracked.topic, diff: { joins: {}, leaves } }
  }

  state(topic: string, only?: string): PresenceMap {
    const state: Record<string, { metas: Array<PresenceMeta> }> = {}
    for (const entry of this.topics.get(topic)?.values() ?? [])
      if (only === undefined || entry.origin === only) add(state, entry.key, entry.meta)
    return state
  }

  /** This gateway's own presences on a topic, for another gateway that asks. */
  localState(topic: string): PresenceMap {
    return this.state(topic, this.origin)
  }

  /** Another gateway's diff; returns what changed here. */
  applyRemote(topic: string, origin: string, diff: PresenceDiff): PresenceDiff {
    const entries = this.entries(topic)
    const joins: Record<string, { metas: Array<PresenceMeta> }> = {}
    const leaves: Record<string, { metas: Array<PresenceMeta> }> = {}
    for (const [key, { metas }] of Object.entries(diff.leaves))
      for (const meta of metas) {
        const entry = entries.get(meta.phx_ref)
        if (entry?.origin !== origin) continue
        entries.delete(meta.phx_ref)
        add(leaves, key, entry.meta)
      }
    for (const [key, { metas }] of Object.entries(diff.joins))
      for (const meta of metas) {
        if (entries.has(meta.phx_ref)) continue
        entries.set(meta.phx_ref, { key, meta, origin })
        add(joins, key, meta)
      }
    this.drop(topic, entries)
    return { joins, leaves }
  }

  /** Another gateway's whole state on a topic replaces what this one knew of it. */
  replaceRemote(topic: string, origin: string, state: PresenceMap): PresenceDiff {
    const known = this.state(topic, origin)
    const incoming = new Set(Object.values(state).flatMap(({ metas }) => metas.map((m) => m.phx_ref)))
    const gone: Record<string, { metas: Array<PresenceMeta> }> = {}
    for (const [key, { metas }] of Object.entries(known))
      for (const meta of metas) if (!incoming.has(meta.phx_ref)) add(gone, key, meta)
    return this.applyRemote(topic, origin, { joins: state, leaves: gone })
  }

  /** No local channel follows the topic any more: forget the other gateways' presences on it. */
  forgetRemote(topic: string): void {
    const entries = this.topics.get(topic)
    if (entries === undefined) return
    for (const [ref, entry] of entries) if (entry.origin !== this.origin) entries.delete(ref)
    this.drop(topic, entries)
  }

  /** A gateway went away: its presences leave every topic. */
  dropRemote(origin: string): Array<{ readonly topic: string; readonly diff: PresenceDiff }> {
    const changed: Array<{ topic: string; diff: PresenceDiff }> = []
    for (const topic of [...this.topics.keys()]) {
      const state = this.state(topic, origin)
      if (Object.keys(state).length > 0)
        changed.push({ topic, diff: this.applyRemote(topic, origin, { joins: {}, leaves: state }) })
    }
    return changed
  }
}
