import { describe, expect, it } from "vitest"
import { bindingMatches, InvalidBinding, parseBindings } from "./bindings.ts"
import type { RowChange } from "./RowChange.ts"

const change = (
  type: RowChange["type"],
  record: Record<string, unknown> | null,
  old: Record<string, unknown> | null,
): RowChange => ({
  position: "1",
  schema: "public",
  table: "todos",
  type,
  commit_timestamp: "2025-01-01T00:00:00Z",
  columns: [{ name: "id", type: "int8" }],
  record,
  old_record: old,
})

describe("postgres_changes bindings", () => {
  it("get the same id for the same binding, whoever sends it, and different ids otherwise", () => {
    const [a, b] = parseBindings([
      { event: "INSERT", schema: "public", table: "todos", filter: "id=eq.1" },
      { event: "INSERT", schema: "public", table: "todos", filter: "id=eq.2" },
    ])
    const [again] = parseBindings([{ event: "INSERT", schema: "public", table: "todos", filter: "id=eq.1" }])
    expect(a!.id).toBe(again!.id)
    expect(a!.id).not.toBe(b!.id)
    expect(Number.isInteger(a!.id) && a!.id > 0).toBe(true)
  })

  it("echo what the client sent, in its order, for realtime-js to compare", () => {
    const bindings = parseBindings([
      { event: "*", schema: "public" },
      { event: "delete", schema: "public", table: "todos" },
    ])
    expect(bindings.map((b) => b.reply)).toEqual([
      { id: bindings[0]!.id, event: "*", schema: "public", table: null, filter: null },
      { id: bindings[1]!.id, event: "delete", schema: "public", table: "todos", filter: null },
    ])
  })

  it("refuse unknown events, missing schemas and bad filters", () => {
    expect(() => parseBindings([{ event: "TRUNCATE", schema: "public" }])).toThrow(InvalidBinding)
    expect(() => parseBindings([{ event: "*" }])).toThrow(InvalidBinding)
    expect(() => parseBindings([{ event: "*", schema: "public", filter: "id=match.x" }])).toThrow(
      InvalidBinding,
    )
  })

  it("match a change by table, event and filter; a DELETE by its old row", () => {
    const [binding] = parseBindings([{ event: "*", schema: "public", table: "todos", filter: "id=eq.1" }])
    expect(bindingMatches(binding!, change("INSERT", { id: 1 }, null))).toBe(true)
    expect(bindingMatches(binding!, change("UPDATE", { id: 2 }, { id: 1 }))).toBe(false)
    expect(bindingMatches(binding!, change("DELETE", null, { id: 1 }))).toBe(true)
    const [inserts] = parseBindings([{ event: "INSERT", schema: "public" }])
    expect(bindingMatches(inserts!, change("INSERT", { id: 5 }, null))).toBe(true)
    expect(bindingMatches(inserts!, change("DELETE", null, { id: 5 }))).toBe(false)
  })
})
