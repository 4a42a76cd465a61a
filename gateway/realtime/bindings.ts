// The postgres_changes bindings of a join: parsed, checked, and given the id the client routes by.
import { type ColumnTypes, type Condition, InvalidFilter, matches, parseFilter } from "./filter.ts"
import type { RowChange } from "./RowChange.ts"

export type ChangeEvent = "*" | "INSERT" | "UPDATE" | "DELETE"

export interface Binding {
  /** The same for every subscriber with the same binding, on every gateway. */
  readonly id: number
  readonly event: ChangeEvent
  readonly schema: string
  /** "*" when the binding names no table: every table of the schema. */
  readonly table: string
  readonly conditions: ReadonlyArray<Condition>
  readonly select: ReadonlyArray<string> | undefined
  /** What the join reply echoes: realtime-js compares event, schema, table and filter with what it sent. */
  readonly reply: {
    readonly id: number
    readonly event: string
    readonly schema: string
    readonly table: string | null
    readonly filter: string | null
  }
}

export class InvalidBinding extends Error {}

const events = new Set(["*", "INSERT", "UPDATE", "DELETE"])

/** 32-bit FNV-1a, never 0: realtime-js treats a falsy id as no id. */
export const hashId = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0 || 1
}

const optionalString = (value: unknown, name: string): string | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value !== "string") throw new InvalidBinding(`${name} must be a string`)
  return value
}

export const parseBinding = (value: unknown): Binding => {
  if (typeof value !== "object" || value === null) throw new InvalidBinding("a binding must be an object")
  const raw = value as Record<string, unknown>
  const event = optionalString(raw["event"], "event") ?? "*"
  const normalized = event.toUpperCase()
  if (!events.has(normalized)) throw new InvalidBinding(`unknown event "${event}"`)
  const schema = optionalString(raw["schema"], "schema")
  if (schema === undefined || schema === "") throw new InvalidBinding("a binding needs a schema")
  const table = optionalString(raw["table"], "table")
  const filter = optionalString(raw["filter"], "filter")
  const selectRaw = raw["select"]
  if (
    selectRaw !== undefined &&
    selectRaw !== null &&
    (!Array.isArray(selectRaw) || !selectRaw.every((c) => typeof c === "string"))
  )
    throw new InvalidBinding("select must be a list of column names")
  const select = (selectRaw ?? undefined) as ReadonlyArray<string> | undefined
  let conditions: ReadonlyArray<Condition>
  try {
    conditions = filter === undefined ? [] : parseFilter(filter)
  } catch (error) {
    if (error instanceof InvalidFilter) throw new InvalidBinding(`invalid filter: ${error.message}`)
    throw error
  }
  const id = hashId(JSON.stringify([normalized, schema, table ?? "*", filter ?? "", select ?? null]))
  return {
    id,
    event: normalized as ChangeEvent,
    schema,
    table: table === undefined || table === "" ? "*" : table,
    conditions,
    select,
    reply: { id, event, schema, table: table ?? null, filter: filter ?? null },
  }
}

export const parseBindings = (value: unknown): ReadonlyArray<Binding> => {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new InvalidBinding("postgres_changes must be a list")
  return value.map(parseBinding)
}

const types = new WeakMap<RowChange, ColumnTypes>()
const typesOf = (change: RowChange): ColumnTypes => {
  let map = types.get(change)
  if (map === undefined) {
    map = new Map(change.columns.map((c) => [c.name, c.type]))
    types.set(change, map)
  }
  return map
}

/** Whether a change is one this binding listens to: its table, its event, its filter. */
export const bindingMatches = (binding: Binding, change: RowChange): boolean => {
  if (binding.schema !== "*" && binding.schema !== change.schema) return false
  if (binding.table !== "*" && binding.table !== change.table) return false
  if (binding.event !== "*" && binding.event !== change.type) return false
  if (binding.conditions.length === 0) return true
  // A DELETE has no new row: its filter is read on the old one, which may hold only the key.
  return change.type === "DELETE"
    ? matches(binding.conditions, change.old_record ?? {}, typesOf(change), true)
    : matches(binding.conditions, change.record ?? {}, typesOf(change))
}
