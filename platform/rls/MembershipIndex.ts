// The rows of the tables membership policies read, held in memory and kept current with their
// changes, so that `team_id IN (SELECT ... WHERE user_id = auth.uid())` needs no query.
import type { MembershipLookup } from "./evaluate.ts"
import type { MembershipTable } from "./resolve.ts"

/** A committed change as the realtime hub receives it; UPDATE and DELETE old rows may hold only the key. */
export interface RowChange {
  readonly schema: string
  readonly table: string
  readonly type: "INSERT" | "UPDATE" | "DELETE"
  readonly record: Readonly<Record<string, unknown>> | null
  readonly old_record: Readonly<Record<string, unknown>> | null
}

export interface MembershipIndex extends MembershipLookup {
  /** Replaces the table's rows (as `to_jsonb` gives them) and marks it loaded. */
  readonly load: (schema: string, table: string, rows: Iterable<Readonly<Record<string, unknown>>>) => void
  /**
   * Applies one change of a tracked table. A change it cannot follow (an old row without the key
   * or, for a table without one, without every tracked column) unloads the table until reloaded.
   */
  readonly apply: (change: RowChange) => void
  /** Whether `has` answers for the table; reload it when this turns false. */
  readonly loaded: (schema: string, table: string) => boolean
}

type Values = ReadonlyArray<string | null>

interface TableState {
  readonly columns: ReadonlyArray<string>
  /** Positions in `columns` that identify a row: the primary key, else every column. */
  readonly identity: ReadonlyArray<number>
  readonly keyed: boolean
  loaded: boolean
  /** identity → the row's tracked values and, without a primary key, how many rows have them. */
  readonly rows: Map<string, { readonly values: Values; count: number }>
  /** Sorted condition columns → values of those columns → number of rows having them. */
  readonly indexes: Map<
    string,
    { readonly positions: ReadonlyArray<number>; readonly counts: Map<string, number> }
  >
}

/** A JSON value as the text both sides are matched on; undefined for what cannot be matched exactly. */
const canonical = (value: unknown): string | null | undefined => {
  if (value === null) return null
  if (typeof value === "string") return value
  if (typeof value === "boolean") return String(value)
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value)
  return undefined
}

const idOf = (table: string, schema: string) => JSON.stringify([schema, table])

export const make = (tables: ReadonlyArray<MembershipTable>): MembershipIndex => {
  const states = new Map<string, TableState>()
  for (const t of tables) {
    const previous = states.get(idOf(t.table, t.schema))
    const columns = [...new Set([...(previous?.columns ?? []), ...t.key, ...t.columns])]
    const identity = t.key.length > 0 ? t.key.map((k) => columns.indexOf(k)) : columns.map((_, i) => i)
    const keyed = t.key.length > 0
    states.set(idOf(t.table, t.schema), {
      columns,
      identity,
      keyed,
      loaded: false,
      rows: new Map(),
      indexes: new Map(),
    })
  }

  const project = (state: TableState, record: Readonly<Record<string, unknown>>): Values | undefined => {
    const values: Array<string | null> = []
    for (const column of state.columns) {
      const value = Object.hasOwn(record, column) ? canonical(record[column]) : undefined
      if (value === undefined) return undefined
      values.push(value)
    }
    return values
  }

  /** The identity of a row from a record holding at least the identity columns. */
  const identityOf = (state: TableState, record: Readonly<Record<string, unknown>>): string | undefined => {
    const values: Array<string | null> = []
    for (const position of state.identity) {
      const column = state.columns[position]!
      const value = Object.hasOwn(record, column) ? canonical(record[column]) : undefined
      if (value === undefined) return undefined
      values.push(value)
    }
    return JSON.stringify(values)
  }

  const count = (state: TableState, values: Values, delta: number) => {
    for (const { positions, counts } of state.indexes.values()) {
      const picked = positions.map((p) => values[p] ?? null)
      // A NULL never equals a condition's value.
      if (picked.includes(null)) continue
      const key = JSON.stringify(picked)
      const next = (counts.get(key) ?? 0) + delta
      if (next === 0) counts.delete(key)
      else counts.set(key, next)
    }
  }

  const add = (state: TableState, values: Values) => {
    const id = JSON.stringify(state.identity.map((p) => values[p]))
    const existing = state.rows.get(id)
    if (existing !== undefined && state.keyed) {
      // The same primary key again (a replayed insert): the newer row replaces it.
      count(state, existing.values, -1)
      state.rows.delete(id)
    }
    const entry = state.rows.get(id)
    if (entry === undefined) state.rows.set(id, { values, count: 1 })
    else entry.count++
    count(state, values, 1)
  }

  const remove = (state: TableState, id: string): boolean => {
    const entry = state.rows.get(id)
    if (entry === undefined) return false
    entry.count--
    if (entry.count === 0) state.rows.delete(id)
    count(state, entry.values, -1)
    return true
  }

  const unload = (state: TableState) => {
    state.loaded = false
    state.rows.clear()
    state.indexes.clear()
  }

  return {
    load: (schema, table, rows) => {
      const state = states.get(idOf(table, schema))
      if (state === undefined) return
      unload(state)
      for (const row of rows) {
        const values = project(state, row)
        if (values === undefined) return unload(state)
        add(state, values)
      }
      state.loaded = true
    },

    apply: (change) => {
      const state = states.get(idOf(change.table, change.schema))
      if (state === undefined || !state.loaded) return
      // Without an old row, an UPDATE kept its primary key; a table without one cannot be followed.
      const old =
        change.type === "INSERT" ? undefined : (change.old_record ?? (state.keyed ? change.record : null))
      if (old !== undefined) {
        const id = old === null ? undefined : identityOf(state, old)
        if (id === undefined || !remove(state, id)) return unload(state)
      }
      if (change.type !== "DELETE") {
        const values = change.record === null ? undefined : project(state, change.record)
        if (values === undefined) return unload(state)
        add(state, values)
      }
    },

    has: (schema, table, conditions) => {
      const state = states.get(idOf(table, schema))
      if (state === undefined || !state.loaded) return undefined
      const columns = Object.keys(conditions).sort()
      const positions = columns.map((c) => state.columns.indexOf(c))
      if (positions.includes(-1)) return undefined
      const values = columns.map((c) => canonical(conditions[c]))
      if (values.includes(undefined)) return undefined
      if (values.includes(null)) return false
      const signature = JSON.stringify(columns)
      let index = state.indexes.get(signature)
      if (index === undefined) {
        index = { positions, counts: new Map() }
        state.indexes.set(signature, index)
        const built = index
        for (const { values: row, count: n } of state.rows.values()) {
          const picked = positions.map((p) => row[p] ?? null)
          if (picked.includes(null)) continue
          const key = JSON.stringify(picked)
          built.counts.set(key, (built.counts.get(key) ?? 0) + n)
        }
      }
      return (index.counts.get(JSON.stringify(values)) ?? 0) > 0
    },

    loaded: (schema, table) => states.get(idOf(table, schema))?.loaded === true,
  }
}
