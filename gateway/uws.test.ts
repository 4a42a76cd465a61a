import { describe, expect, it } from "vitest"
import { loadUws, NativeUwsUnavailable } from "./uws.ts"

describe("loading uWebSockets.js", () => {
  it("loads the native binary for this Node", () => {
    expect(typeof loadUws(false).App).toBe("function")
  })

  it("refuses the slow fallback when no binary fits, saying how to proceed", () => {
    expect(() => loadUws(false, "999")).toThrow(NativeUwsUnavailable)
    expect(() => loadUws(false, "999")).toThrow(/allow_slow_uws/)
  })

  it("takes the fallback only when told to", () => {
    const fallback = loadUws(true, "999")
    expect(typeof fallback.App).toBe("function")
    expect(fallback).not.toBe(loadUws(false))
  })
})
