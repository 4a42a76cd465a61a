import { describe, expect, it } from "vitest"
import {
  cast,
  claimText,
  compare,
  fromRow,
  fromText,
  normalizeDecimal,
  Undecidable,
  Unknown,
} from "./SqlValue.ts"

describe("SqlValue", () => {
  it("normalizes decimals and orders them numerically", () => {
    expect(["-0012.3400e1", "0.000", "1e3", ".5", "-0.0"].map(normalizeDecimal)).toEqual([
      "-123.4",
      "0",
      "1000",
      "0.5",
      "0",
    ])
    expect(normalizeDecimal("NaN")).toBeUndefined()
    expect(compare("number", "-1.5", "-1.25")).toBeLessThan(0)
    expect(compare("number", 10n, "9.99")).toBeGreaterThan(0)
    expect(compare("number", "2", 2n)).toBe(0)
  })

  it("reads text as the type's input function does, and refuses what Postgres might read otherwise", () => {
    expect(fromText("uuid", "6F1C2A4E-0000-4000-8000-00000000000A")).toBe(
      "6f1c2a4e-0000-4000-8000-00000000000a",
    )
    expect(fromText("int4", " -12 ")).toBe(-12n)
    expect(fromText("bool", " Yes")).toBe(true)
    for (const [type, text] of [
      ["uuid", "6f1c2a4e00004000800000000000000a"],
      ["int4", "0x10"],
      ["int4", "2147483648"],
      ["int2", "1_000"],
      ["bool", "o"],
      ["numeric", "Infinity"],
    ] as const) {
      expect(() => fromText(type, text), `${type} ${text}`).toThrow(Undecidable)
    }
  })

  it("reads row values as to_jsonb gives them, Unknown where JSON.parse may have rounded", () => {
    expect(fromRow("int8", 5)).toBe(5n)
    expect(fromRow("int8", "9007199254740993")).toBe(9007199254740993n)
    expect(fromRow("int8", 2 ** 60)).toBe(Unknown)
    expect(fromRow("numeric", 2)).toBe("2")
    expect(fromRow("numeric", 2.5)).toBe(Unknown)
    expect(fromRow("numeric", "2.50")).toBe("2.5")
    expect(fromRow("text", null)).toBeNull()
    expect(fromRow("uuid", "6F1C2A4E-0000-4000-8000-00000000000A")).toBe(Unknown)
  })

  it("prints claims as ->> does", () => {
    expect([claimText("a"), claimText(5), claimText(1.5), claimText(true), claimText(null)]).toEqual([
      "a",
      "5",
      "1.5",
      "true",
      null,
    ])
    expect(claimText(1e21)).toBe(Unknown)
    expect(claimText({ a: 1 })).toBe(Unknown)
  })

  it("casts between the types evaluated in memory", () => {
    expect(cast(7n, "int4", "text")).toBe("7")
    expect(cast(true, "bool", "int4")).toBe(1n)
    expect(cast(0n, "int4", "bool")).toBe(false)
    expect(cast(5n, "int4", "numeric")).toBe("5")
    expect(() => cast(2n ** 40n, "int8", "int4")).toThrow(Undecidable)
    expect(cast(null, "text", "uuid")).toBeNull()
  })
})
