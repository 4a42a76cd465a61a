import { describe, expect, it } from "vitest"
import { applied, parsePrefer } from "./prefer.ts"

describe("the Prefer header", () => {
  it("reads several comma-separated preferences", () => {
    expect(
      parsePrefer("resolution=merge-duplicates, count=exact,return=representation , missing=default"),
    ).toEqual({
      return: "representation",
      count: "exact",
      resolution: "merge-duplicates",
      missing: "default",
      handling: undefined,
      tx: undefined,
      maxAffected: undefined,
      invalid: [],
    })
  })

  it("keeps the first value of a preference given twice", () => {
    expect(parsePrefer("return=minimal, return=representation").return).toBe("minimal")
  })

  it("collects preferences it does not know", () => {
    expect(parsePrefer("handling=strict, max-affected=5, frobnicate").invalid).toEqual(["frobnicate"])
    expect(parsePrefer("handling=strict, max-affected=5").maxAffected).toBe(5)
  })

  it("echoes the honoured preferences in PostgREST's order", () => {
    const prefs = parsePrefer("count=exact, return=representation, resolution=ignore-duplicates, tx=rollback")
    expect(applied(prefs, { resolution: true, return: true })).toBe(
      "resolution=ignore-duplicates, return=representation, count=exact",
    )
    expect(applied(parsePrefer(undefined), {})).toBeUndefined()
  })
})
