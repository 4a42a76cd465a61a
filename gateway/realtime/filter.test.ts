import { postgresChangesFilter } from "@supabase/supabase-js"
import { describe, expect, it } from "vitest"
import { InvalidFilter, matches, parseFilter } from "./filter.ts"

const types = new Map([
  ["id", "int8"],
  ["title", "text"],
  ["done", "bool"],
  ["score", "float8"],
])
const row = { id: 42, title: "a,b (c)", done: false, score: 1.5, owner: null }
const test = (filter: string, r: Record<string, unknown> = row) => matches(parseFilter(filter), r, types)

describe("a postgres_changes filter", () => {
  it("compares numbers as numbers and text as text", () => {
    expect(test("id=eq.42")).toBe(true)
    expect(test("id=eq.042")).toBe(true)
    expect(test("id=neq.42")).toBe(false)
    expect(test("id=gt.9")).toBe(true)
    expect(test("id=lt.100")).toBe(true)
    expect(test("id=gte.42,id=lte.42")).toBe(true)
    expect(test("score=lt.2")).toBe(true)
    expect(test("title=gt.a")).toBe(true)
  })

  it("reads values quoted the way realtime-js quotes them", () => {
    const filter = postgresChangesFilter().eq("title", "a,b (c)").build()
    expect(filter).toBe('title=eq."a,b (c)"')
    expect(test(filter)).toBe(true)
    expect(test(postgresChangesFilter().in("id", [1, 42, 7]).build())).toBe(true)
    expect(test(postgresChangesFilter().in("title", ["x", "a,b (c)"]).build())).toBe(true)
    expect(test(postgresChangesFilter().in("id", [1, 2]).build())).toBe(false)
    expect(test('title=eq."say \\"hi\\""', { title: 'say "hi"' })).toBe(true)
  })

  it("ANDs comma-separated conditions", () => {
    expect(test("id=eq.42,done=eq.false")).toBe(true)
    expect(test("id=eq.42,done=eq.true")).toBe(false)
  })

  it("never matches NULL with a comparison, negated or not, but matches it with is", () => {
    expect(test("owner=eq.x")).toBe(false)
    expect(test("owner=neq.x")).toBe(false)
    expect(test("owner=not.eq.x")).toBe(false)
    expect(test("owner=is.null")).toBe(true)
    expect(test("owner=not.is.null")).toBe(false)
    expect(test("done=is.false")).toBe(true)
    expect(test("owner=isdistinct.x")).toBe(true)
  })

  it("supports not., like and ilike", () => {
    expect(test("id=not.in.(1,2)")).toBe(true)
    expect(test("title=like.a%")).toBe(true)
    // An unquoted comma ends the condition, as on Supabase.
    expect(() => parseFilter("title=ilike.A,%")).toThrow(InvalidFilter)
    expect(test('title=ilike."A,%"', { title: "a,b" })).toBe(true)
  })

  it("refuses what it cannot evaluate", () => {
    expect(() => parseFilter("id")).toThrow(InvalidFilter)
    expect(() => parseFilter("id=match.^a")).toThrow(InvalidFilter)
    expect(() => parseFilter("id=in.1,2")).toThrow(InvalidFilter)
    expect(() => parseFilter('title=eq."open')).toThrow(InvalidFilter)
  })

  it("lets a row that lacks the column through when partial (a DELETE's key-only old row)", () => {
    expect(matches(parseFilter("title=eq.x"), { id: 1 }, types, true)).toBe(true)
    expect(matches(parseFilter("id=eq.2"), { id: 1 }, types, true)).toBe(false)
  })
})
