import { describe, expect, it } from "vitest"
import { negotiate } from "./media.ts"

describe("Accept negotiation", () => {
  it("answers JSON when nothing or anything is accepted", () => {
    expect(negotiate(undefined)).toMatchObject({
      shape: "array",
      contentType: "application/json; charset=utf-8",
    })
    expect(negotiate("*/*")).toMatchObject({ shape: "array" })
    expect(negotiate("text/html,application/xhtml+xml,*/*;q=0.8")).toMatchObject({ shape: "array" })
  })

  it("answers one object for vnd.pgrst.object", () => {
    expect(negotiate("application/vnd.pgrst.object+json")).toMatchObject({
      shape: "object",
      contentType: "application/vnd.pgrst.object+json; charset=utf-8",
    })
  })

  it("strips nulls when asked", () => {
    expect(negotiate("application/vnd.pgrst.array+json;nulls=stripped")).toMatchObject({ stripNulls: true })
  })

  it("prefers the higher quality", () => {
    expect(negotiate("application/json;q=0.5, text/csv")).toMatchObject({ shape: "csv" })
  })

  it("lists what was asked when nothing fits", () => {
    expect(negotiate("text/html, application/xml")).toEqual(["text/html", "application/xml"])
  })
})
