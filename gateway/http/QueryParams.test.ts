import { describe, expect, it } from "vitest"
import { QueryParams } from "./QueryParams.ts"

describe("a query string", () => {
  const cases = [
    "",
    "?",
    "a=1",
    "?a=1&b=2",
    "a=1&a=2",
    "a",
    "a=",
    "=x",
    "&&a=1&&",
    "a=1=2",
    "grant_type=password",
    "select=id,name&order=name.desc&name=eq.Ada",
    "a=%20x&b=y",
    "a=x+y",
    "a%3D=1",
    "a=%ZZ",
    "a=%E2%82%AC",
    "select=*,author:users(name)&id=in.(1,2,3)",
  ]
  const names = ["a", "b", "", "grant_type", "select", "order", "name", "id", "a=", "missing"]

  it.each(cases)("%j answers every key as URLSearchParams does", (raw) => {
    const ours = new QueryParams(raw)
    const theirs = new URLSearchParams(raw)
    for (const name of names) {
      expect(ours.get(name)).toBe(theirs.get(name))
      expect(ours.has(name)).toBe(theirs.has(name))
      expect(ours.getAll(name)).toEqual(theirs.getAll(name))
    }
  })
})
