import { describe, expect, it } from "vitest"
import { parseSelect } from "./select.ts"

const ok = (text: string) => {
  const parsed = parseSelect(text)
  if (!parsed.ok) throw new Error(parsed.error.message)
  return parsed.value
}

describe("the select grammar", () => {
  it("reads columns, * and aliases", () => {
    expect(ok("id,name:title,*")).toEqual([
      {
        kind: "field",
        field: { name: "id", path: [] },
        alias: undefined,
        cast: undefined,
        aggregate: undefined,
      },
      {
        kind: "field",
        field: { name: "title", path: [] },
        alias: "name",
        cast: undefined,
        aggregate: undefined,
      },
      { kind: "star" },
    ])
  })

  it("reads casts and JSON paths with array indexes", () => {
    expect(ok("year::text,data->a->>b,tags->0")).toMatchObject([
      { field: { name: "year" }, cast: "text" },
      {
        field: {
          name: "data",
          path: [
            { arrow: "->", key: "a", index: false },
            { arrow: "->>", key: "b", index: false },
          ],
        },
      },
      { field: { name: "tags", path: [{ arrow: "->", key: "0", index: true }] } },
    ])
  })

  it("reads embeds with aliases, hints, join types and nesting", () => {
    expect(ok("title,boss:employees!manager_id!inner(name,reports:employees(name))")).toMatchObject([
      { kind: "field" },
      {
        kind: "embed",
        name: "employees",
        alias: "boss",
        hint: "manager_id",
        join: "inner",
        spread: false,
        children: [{ kind: "field" }, { kind: "embed", alias: "reports", name: "employees", children: [{}] }],
      },
    ])
  })

  it("reads a spread and an empty embed", () => {
    expect(ok("...directors(name),roles()")).toMatchObject([
      { kind: "embed", name: "directors", spread: true },
      { kind: "embed", name: "roles", children: [] },
    ])
  })

  it("tells a hint from a join type only by the whole word", () => {
    expect(ok("films!inner_fk(id)")).toMatchObject([{ hint: "inner_fk", join: undefined }])
  })

  it("reads quoted names and names with dashes", () => {
    expect(ok('"my col",some-name')).toMatchObject([
      { field: { name: "my col" } },
      { field: { name: "some-name" } },
    ])
  })

  it("parses aggregates so they can be refused", () => {
    expect(ok("count(),rating.avg()")).toMatchObject([
      { aggregate: "count" },
      { field: { name: "rating" }, aggregate: "avg" },
    ])
  })

  it("refuses malformed input with PGRST100 and the position", () => {
    const parsed = parseSelect("id,films(title")
    expect(parsed.ok).toBe(false)
    if (!parsed.ok) {
      expect(parsed.error.code).toBe("PGRST100")
      expect(parsed.error.status).toBe(400)
      expect(parsed.error.message).toBe(
        '"failed to parse select parameter (id,films(title)" (line 1, column 15)',
      )
    }
  })
})
