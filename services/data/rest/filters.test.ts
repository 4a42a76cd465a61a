import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { parseColumns, parseFilterKey, parseLogic, parseOpExpr, parseOpExprByGrammar } from "./filters.ts"
import type { Parsed } from "./grammar.ts"

const ok = <A>(parsed: Parsed<A>): A => {
  if (!parsed.ok) throw new Error(`${parsed.error.message}: ${parsed.error.details}`)
  return parsed.value
}

describe("a filter value", () => {
  it("reads the common operators by shortcut exactly as the grammar reads them", () => {
    const operator = fc.constantFrom("eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is", "in", "cs")
    const text = fc
      .tuple(fc.boolean(), operator, fc.constantFrom(".", "(any).", "", "e."), fc.string())
      .map(([not, op, dot, value]) => `${not ? "not." : ""}${op}${dot}${value}`)
    fc.assert(
      fc.property(text, (t) => {
        expect(parseOpExpr(t)).toEqual(parseOpExprByGrammar(t))
      }),
      { numRuns: 2_000 },
    )
  })

  it.each([
    ["eq.5", { kind: "quant", op: "eq", quantifier: undefined, value: "5" }],
    ["gte.2020-01-01", { kind: "quant", op: "gte", value: "2020-01-01" }],
    ["like.*ab*", { kind: "quant", op: "like", value: "*ab*" }],
    ["ilike(any).{a*,b*}", { kind: "quant", op: "ilike", quantifier: "any", value: "{a*,b*}" }],
    ["eq(all).{1,2}", { kind: "quant", op: "eq", quantifier: "all", value: "{1,2}" }],
    ["neq.x", { kind: "simple", op: "neq", value: "x" }],
    ["cs.{a,b}", { kind: "simple", op: "cs", value: "{a,b}" }],
    ['cd.{"k":"v"}', { kind: "simple", op: "cd", value: '{"k":"v"}' }],
    ["ov.[1,5]", { kind: "simple", op: "ov", value: "[1,5]" }],
    ["sl.(1,10)", { kind: "simple", op: "sl", value: "(1,10)" }],
    ["adj.[1,2)", { kind: "simple", op: "adj", value: "[1,2)" }],
    ["is.NULL", { kind: "is", value: "null" }],
    ["is.not_null", { kind: "is", value: "not_null" }],
    ["is.unknown", { kind: "is", value: "unknown" }],
    ["isdistinct.3", { kind: "isdistinct", value: "3" }],
    ["fts(english).cat & dog", { kind: "fts", op: "fts", config: "english", value: "cat & dog" }],
    ["wfts.cat or dog", { kind: "fts", op: "wfts", config: undefined, value: "cat or dog" }],
    ["match.^a.*$", { kind: "quant", op: "match", value: "^a.*$" }],
  ])("reads %s", (text, operation) => {
    expect(ok(parseOpExpr(text))).toMatchObject({ negated: false, operation })
  })

  it("reads in lists with quoted values holding commas, parentheses and escapes", () => {
    expect(ok(parseOpExpr('in.(1,"a,b","c)d","say \\"hi\\"",plain)'))).toEqual({
      negated: false,
      operation: { kind: "in", values: ["1", "a,b", "c)d", 'say "hi"', "plain"] },
    })
  })

  it("reads not. in front of any operator", () => {
    expect(ok(parseOpExpr("not.in.(1,2)"))).toMatchObject({ negated: true, operation: { kind: "in" } })
    expect(ok(parseOpExpr("not.is.null"))).toMatchObject({ negated: true, operation: { kind: "is" } })
  })

  it("keeps a top-level value whole, dots and commas included", () => {
    expect(ok(parseOpExpr("eq.a.b,c"))).toMatchObject({ operation: { value: "a.b,c" } })
  })

  it("refuses an unknown operator with PGRST100", () => {
    const parsed = parseOpExpr("equals.5")
    expect(parsed.ok).toBe(false)
    if (!parsed.ok) {
      expect(parsed.error).toMatchObject({ code: "PGRST100", status: 400 })
      expect(parsed.error.message).toContain('"failed to parse filter (equals.5)"')
    }
  })
})

describe("a filter key", () => {
  it("splits the embed path from the field and its JSON path", () => {
    expect(ok(parseFilterKey("films.roles.data->a->>b"))).toEqual({
      path: ["films", "roles"],
      field: {
        name: "data",
        path: [
          { arrow: "->", key: "a", index: false },
          { arrow: "->>", key: "b", index: false },
        ],
      },
    })
  })
})

describe("a logic tree", () => {
  it("reads nested and/or with negation and quoted values", () => {
    expect(
      ok(parseLogic("or", '(id.eq.1,and(year.gte.1950,title.like."A,B*"),not.or(a.is.null,b.in.(1,2)))')),
    ).toEqual({
      path: [],
      tree: {
        kind: "logic",
        negated: false,
        op: "or",
        children: [
          {
            kind: "filter",
            filter: {
              field: { name: "id", path: [] },
              expr: {
                negated: false,
                operation: { kind: "quant", op: "eq", quantifier: undefined, value: "1" },
              },
            },
          },
          {
            kind: "logic",
            negated: false,
            op: "and",
            children: [
              {
                kind: "filter",
                filter: {
                  field: { name: "year", path: [] },
                  expr: {
                    negated: false,
                    operation: { kind: "quant", op: "gte", quantifier: undefined, value: "1950" },
                  },
                },
              },
              {
                kind: "filter",
                filter: {
                  field: { name: "title", path: [] },
                  expr: {
                    negated: false,
                    operation: { kind: "quant", op: "like", quantifier: undefined, value: "A,B*" },
                  },
                },
              },
            ],
          },
          {
            kind: "logic",
            negated: true,
            op: "or",
            children: [
              {
                kind: "filter",
                filter: {
                  field: { name: "a", path: [] },
                  expr: { negated: false, operation: { kind: "is", value: "null" } },
                },
              },
              {
                kind: "filter",
                filter: {
                  field: { name: "b", path: [] },
                  expr: { negated: false, operation: { kind: "in", values: ["1", "2"] } },
                },
              },
            ],
          },
        ],
      },
    })
  })

  it("takes not. and an embed path from the key", () => {
    expect(ok(parseLogic("roles.not.and", "(a.eq.1,b.eq.2)"))).toMatchObject({
      path: ["roles"],
      tree: { kind: "logic", negated: true, op: "and" },
    })
  })

  it("keeps array literals whole inside a tree", () => {
    expect(ok(parseLogic("or", "(tags.cs.{a,b},id.eq.1)")).tree).toMatchObject({
      children: [{ filter: { expr: { operation: { op: "cs", value: "{a,b}" } } } }, {}],
    })
  })

  it("reports a malformed tree with PGRST100", () => {
    const parsed = parseLogic("or", "(id.eq.1")
    expect(parsed.ok).toBe(false)
    if (!parsed.ok) expect(parsed.error.code).toBe("PGRST100")
  })
})

describe("the columns parameter", () => {
  it("reads quoted and bare names", () => {
    expect(ok(parseColumns("columns", '"id","title",year'))).toEqual(["id", "title", "year"])
  })
})
