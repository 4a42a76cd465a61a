import { describe, expect, it } from "vitest"
import { byteRange } from "./range.ts"

describe("a download's Range header", () => {
  it("reads one range, open-ended, or a suffix", () => {
    expect(byteRange("bytes=0-4", 10)).toEqual({ start: 0, end: 4 })
    expect(byteRange("bytes=5-", 10)).toEqual({ start: 5, end: 9 })
    expect(byteRange("bytes=-3", 10)).toEqual({ start: 7, end: 9 })
    expect(byteRange("bytes=-30", 10)).toEqual({ start: 0, end: 9 })
    expect(byteRange("bytes=8-100", 10)).toEqual({ start: 8, end: 9 })
  })

  it("cannot serve a range past the end", () => {
    expect(byteRange("bytes=10-", 10)).toBe("unsatisfiable")
    expect(byteRange("bytes=-0", 10)).toBe("unsatisfiable")
    expect(byteRange("bytes=0-0", 0)).toBe("unsatisfiable")
  })

  it("ignores what it does not understand, serving the whole object", () => {
    for (const header of ["bytes=0-1,4-5", "items=0-1", "bytes=5-2", "bytes=-", "nonsense"]) {
      expect(byteRange(header, 10)).toBeUndefined()
    }
  })
})
