import { describe, expect, it } from "vitest"
import { parseOrder } from "./order.ts"

describe("the order grammar", () => {
  it("reads several terms with directions and null placement", () => {
    const parsed = parseOrder("year.desc.nullslast,title,data->>lang.asc,rating.nullsfirst")
    expect(parsed.ok && parsed.value).toEqual([
      { field: { name: "year", path: [] }, relation: undefined, direction: "desc", nulls: "nullslast" },
      { field: { name: "title", path: [] }, relation: undefined, direction: undefined, nulls: undefined },
      {
        field: { name: "data", path: [{ arrow: "->>", key: "lang", index: false }] },
        relation: undefined,
        direction: "asc",
        nulls: undefined,
      },
      { field: { name: "rating", path: [] }, relation: undefined, direction: undefined, nulls: "nullsfirst" },
    ])
  })

  it("reads an order on a to-one embed's column", () => {
    const parsed = parseOrder("directors(name).desc")
    expect(parsed.ok && parsed.value).toEqual([
      { field: { name: "name", path: [] }, relation: "directors", direction: "desc", nulls: undefined },
    ])
  })

  it("refuses an unknown modifier", () => {
    const parsed = parseOrder("year.down")
    expect(parsed.ok).toBe(false)
    if (!parsed.ok)
      expect(parsed.error.message).toBe('"failed to parse order (year.down)" (line 1, column 5)')
  })
})
