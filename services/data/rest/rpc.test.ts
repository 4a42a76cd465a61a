import { describe, expect, it } from "vitest"
import { call, json, useDatabase } from "./test/fixture.ts"
import { movies } from "./test/movies.ts"

const db = useDatabase(movies)

const rpc = (name: string, options: Parameters<typeof call>[2] = {}) =>
  call(db, name, { rpc: true, ...options })

describe("rpc", () => {
  it("calls a scalar function with POST and JSON arguments", async () => {
    const response = await rpc("add", { method: "POST", body: { a: 2, b: 3 } })
    expect(response.status).toBe(200)
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8")
    expect(response.body).toBe("5")
  })

  it("calls with GET and arguments from the query, leaving out defaulted ones", async () => {
    expect((await rpc("add", { query: "a=41" })).body).toBe("42")
    expect((await rpc("hello")).body).toBe('"hello"')
  })

  it("answers 204 for a void function", async () => {
    expect(await rpc("noop", { method: "POST" })).toEqual({ status: 204, headers: {}, body: "" })
  })

  it("passes the whole body to a single unnamed json parameter", async () => {
    const response = await rpc("echo", { method: "POST", body: [1, { two: 2 }] })
    expect(json(response)).toEqual([1, { two: 2 }])
  })

  it("returns a set of rows, filtered, ordered, selected and paged", async () => {
    const response = await rpc("films_since", {
      method: "POST",
      body: { since: 1950 },
      query: "select=id,title&director_id=eq.1&order=id.desc&limit=1",
      prefer: "count=exact",
    })
    expect(response.status).toBe(206)
    expect(response.headers["content-range"]).toBe("0-0/2")
    expect(json(response)).toEqual([{ id: 2, title: "Seven Samurai" }])
  })

  it("tells GET arguments from filters", async () => {
    const response = await rpc("films_since", { query: "since=1960&select=id&id=neq.3" })
    expect(json(response)).toEqual([{ id: 4 }])
  })

  it("embeds related rows in a function's table rows", async () => {
    const response = await rpc("films_since", { query: "since=1985&select=title,directors(name)" })
    expect(json(response)).toEqual([{ title: "Vagabond", directors: { name: "Agnès Varda" } }])
  })

  it("reads computed fields and relationships of a function's table rows", async () => {
    const response = await rpc("films_since", {
      query: "since=1960&select=title,decade,director_of(initials)&decade=eq.1980",
    })
    expect(json(response)).toEqual([{ title: "Vagabond", decade: 1980, director_of: { initials: "AV" } }])
  })

  it("answers one object for a function returning one row", async () => {
    const response = await rpc("best_film", { query: "select=title" })
    expect(json(response)).toEqual({ title: "Seven Samurai" })
  })

  it("returns a set of scalars and a table of OUT columns", async () => {
    expect(json(await rpc("numbers", { query: "n=3" }))).toEqual([1, 2, 3])
    expect(json(await rpc("director_counts", { query: "films=gt.0" }))).toEqual([
      { director: "Agnès Varda", films: 2 },
      { director: "Akira Kurosawa", films: 2 },
    ])
  })

  it("answers one object from a set with vnd.pgrst.object, or PGRST116", async () => {
    const one = await rpc("films_since", { query: "since=1980", accept: "application/vnd.pgrst.object+json" })
    expect(json(one)).toMatchObject({ id: 4 })
    const many = await rpc("films_since", {
      query: "since=1900",
      accept: "application/vnd.pgrst.object+json",
    })
    expect(many.status).toBe(406)
  })

  it("passes repeated GET parameters to a variadic function", async () => {
    expect((await rpc("sum_all", { query: "nums=1&nums=2&nums=3" })).body).toBe("6")
    expect((await rpc("sum_all", { method: "POST", body: { nums: [4, 5] } })).body).toBe("9")
  })

  it("answers PGRST202 (404) for an unknown function or arguments", async () => {
    const unknown = await rpc("nope", { method: "POST", body: { a: 1 } })
    expect(unknown.status).toBe(404)
    expect(json(unknown)).toEqual({
      code: "PGRST202",
      details:
        "Searched for the function public.nope with parameter a or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
      hint: null,
      message: "Could not find the function public.nope(a) in the schema cache",
    })
    const wrongArgs = await rpc("add", { query: "x=1" })
    expect(wrongArgs.status).toBe(404)
    expect(json(wrongArgs)).toMatchObject({
      message: "Could not find the function public.add(x) in the schema cache",
    })
    const none = await rpc("add")
    expect(json(none)).toMatchObject({
      message: "Could not find the function public.add without parameters in the schema cache",
    })
  })

  it("maps RAISE to PostgREST's statuses", async () => {
    const pay = await rpc("pay", { method: "POST" })
    expect(pay.status).toBe(402)
    expect(json(pay)).toMatchObject({ code: "PT402", message: "Payment Required" })
    const failed = await rpc("fail_with", { method: "POST", body: { msg: "boom" } })
    expect(failed.status).toBe(400)
    expect(json(failed)).toEqual({ code: "P0001", details: "it broke", hint: "try again", message: "boom" })
  })

  it("lets a function set the response status and headers", async () => {
    const response = await rpc("set_status", { method: "POST" })
    expect(response.status).toBe(202)
    expect(response.headers["x-custom"]).toBe("yes")
    expect(response.body).toBe('"accepted"')
  })

  it("writes with POST and returns the written row", async () => {
    const response = await rpc("insert_actor", { method: "POST", body: { id: 50, name: "New Face" } })
    expect(json(response)).toEqual({ id: 50, name: "New Face" })
  })

  it("answers HEAD without a body", async () => {
    const response = await rpc("numbers", { method: "HEAD", query: "n=2" })
    expect(response.status).toBe(200)
    expect(response.body).toBe("")
  })

  it("refuses methods other than GET, HEAD and POST with PGRST101", async () => {
    const response = await rpc("hello", { method: "PATCH" })
    expect(response.status).toBe(405)
    expect(json(response)).toMatchObject({ code: "PGRST101", message: "Cannot use the PATCH method on RPC" })
  })

  it("answers PGRST102 for a body that is not JSON", async () => {
    expect(json(await rpc("add", { method: "POST", body: "{" }))).toMatchObject({ code: "PGRST102" })
  })

  it("applies max-affected under handling=strict only to set-returning functions", async () => {
    const tooMany = await rpc("numbers", { query: "n=5", prefer: "handling=strict, max-affected=3" })
    expect(json(tooMany)).toMatchObject({ code: "PGRST124" })
    const scalar = await rpc("hello", { prefer: "handling=strict, max-affected=3" })
    expect(json(scalar)).toMatchObject({ code: "PGRST128" })
  })
})
