import { describe, expect, it } from "vitest"
import * as MembershipIndex from "./MembershipIndex.ts"

const members = { schema: "public", table: "members", columns: ["team", "user_id"], key: ["id"] }
const change = (
  type: "INSERT" | "UPDATE" | "DELETE",
  record: Record<string, unknown> | null,
  old_record: Record<string, unknown> | null = null,
) => ({ schema: "public", table: "members", type, record, old_record })

describe("MembershipIndex", () => {
  it("answers nothing for a table until it is loaded", () => {
    const index = MembershipIndex.make([members])
    expect(index.has("public", "members", { team: 1 })).toBeUndefined()
    expect(index.has("public", "others", { team: 1 })).toBeUndefined()
    index.load("public", "members", [])
    expect(index.has("public", "members", { team: 1 })).toBe(false)
  })

  it("follows inserts, updates and deletes whose old row holds only the key", () => {
    const index = MembershipIndex.make([members])
    index.load("public", "members", [{ id: 1, team: 1, user_id: "u1" }])
    expect(index.has("public", "members", { team: 1, user_id: "u1" })).toBe(true)
    index.apply(change("INSERT", { id: 2, team: 2, user_id: "u1" }))
    index.apply(change("UPDATE", { id: 1, team: 3, user_id: "u1" }, { id: 1 }))
    expect(index.has("public", "members", { team: 1, user_id: "u1" })).toBe(false)
    expect(index.has("public", "members", { team: 3, user_id: "u1" })).toBe(true)
    expect(index.has("public", "members", { user_id: "u1" })).toBe(true)
    index.apply(change("DELETE", null, { id: 2 }))
    index.apply(change("DELETE", null, { id: 1 }))
    expect(index.has("public", "members", { user_id: "u1" })).toBe(false)
  })

  it("matches integers whether they arrive as numbers or strings, and never NULL", () => {
    const index = MembershipIndex.make([members])
    index.load("public", "members", [
      { id: 1, team: "7", user_id: "u1" },
      { id: 2, team: 8, user_id: null },
    ])
    expect(index.has("public", "members", { team: 7 })).toBe(true)
    expect(index.has("public", "members", { team: "8" })).toBe(true)
    expect(index.has("public", "members", { team: 8, user_id: null })).toBe(false)
    expect(index.has("public", "members", { role: "admin" })).toBeUndefined()
  })

  it("unloads a table when a change cannot be followed, until it is loaded again", () => {
    const keyless = { ...members, key: [] }
    const index = MembershipIndex.make([keyless])
    index.load("public", "members", [
      { team: 1, user_id: "u1" },
      { team: 1, user_id: "u1" },
    ])
    index.apply(change("DELETE", null, { team: 1, user_id: "u1" }))
    expect(index.has("public", "members", { team: 1 })).toBe(true)
    // Without REPLICA IDENTITY FULL a keyless table's old row is missing.
    index.apply(change("UPDATE", { team: 2, user_id: "u1" }))
    expect(index.loaded("public", "members")).toBe(false)
    expect(index.has("public", "members", { team: 2 })).toBeUndefined()
    index.load("public", "members", [{ team: 2, user_id: "u1" }])
    expect(index.has("public", "members", { team: 2 })).toBe(true)
  })

  it("refuses rows whose values it cannot match exactly", () => {
    const index = MembershipIndex.make([members])
    index.load("public", "members", [{ id: 1, team: 2 ** 60, user_id: "u1" }])
    expect(index.loaded("public", "members")).toBe(false)
  })
})
