import { describe, expect, it } from "vitest"
import { contentRange, rangeStatus, topRange } from "./range.ts"

describe("paging", () => {
  it("intersects the Range header with limit and offset", () => {
    expect(topRange(undefined, undefined)).toEqual({ offset: 0, limit: undefined })
    expect(topRange("0-9", undefined)).toEqual({ offset: 0, limit: 10 })
    expect(topRange(undefined, { offset: 5, limit: 10 })).toEqual({ offset: 5, limit: 10 })
    expect(topRange("0-9", { offset: 5, limit: undefined })).toEqual({ offset: 5, limit: 5 })
    expect(topRange("10-", undefined)).toEqual({ offset: 10, limit: undefined })
    expect(topRange(undefined, { offset: 3, limit: 0 })).toEqual({ offset: 3, limit: 0 })
  })

  it("refuses a Range whose end comes before its start", () => {
    expect(() => topRange("9-2", undefined)).toThrow()
  })

  it("writes Content-Range as PostgREST does", () => {
    expect(contentRange(0, 14, undefined)).toBe("0-14/*")
    expect(contentRange(0, 24, 3573458)).toBe("0-24/3573458")
    expect(contentRange(0, -1, 0)).toBe("*/0")
    expect(contentRange(1, 0, 7)).toBe("*/7")
    expect(contentRange(0, -1, undefined)).toBe("*/*")
  })

  it("answers 206 for part of a known total and 416 past its end", () => {
    expect(rangeStatus(0, 10, undefined)).toBe(200)
    expect(rangeStatus(0, 10, 10)).toBe(200)
    expect(rangeStatus(0, 10, 50)).toBe(206)
    expect(rangeStatus(60, 0, 50)).toBe(416)
  })
})
