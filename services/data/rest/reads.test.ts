import { describe, expect, it } from "vitest"
import { call, json, useDatabase } from "./test/fixture.ts"
import { movies } from "./test/movies.ts"

const db = useDatabase(movies)

const ids = async (query: string) => {
  const response = await call(db, "films", { query: `select=id&order=id&${query}` })
  expect(response.status).toBe(200)
  return (json(response) as Array<{ id: number }>).map((r) => r.id)
}

const error = async (target: string, query: string) => {
  const response = await call(db, target, { query })
  return { status: response.status, ...(json(response) as object) }
}

describe("select", () => {
  it("returns every column for * in table order", async () => {
    const response = await call(db, "directors", { query: "id=eq.1" })
    expect(response.status).toBe(200)
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8")
    expect(json(response)).toEqual([{ id: 1, name: "Akira Kurosawa", born: "1910-03-23" }])
  })

  it("renames with alias:col and casts with ::", async () => {
    const response = await call(db, "films", { query: "select=name:title,year::text,rating::int&id=eq.1" })
    expect(json(response)).toEqual([{ name: "Rashomon", year: "1950", rating: 8 }])
  })

  it("reads into JSON, naming the field after the last key", async () => {
    const response = await call(db, "films", {
      query: "select=id,data->lang,data->>runtime,oscar:data->awards->>oscar,tags->0&id=eq.1",
    })
    expect(json(response)).toEqual([{ id: 1, lang: "ja", runtime: "88", oscar: "true", 0: "drama" }])
  })

  it("keeps JSON keys and values exactly as Postgres writes them", async () => {
    const response = await call(db, "films", { query: "select=title&id=eq.5" })
    expect(response.body).toBe('[{"title":"Untitled, \\"draft\\""}]')
  })

  it("answers 42703 for an unknown column", async () => {
    expect(await error("films", "select=id,nope")).toEqual({
      status: 400,
      code: "42703",
      message: "column films.nope does not exist",
      details: null,
      hint: null,
    })
  })

  it("reads computed fields (functions of the row) by name, in filters, order and embeds, never in *", async () => {
    const selected = await call(db, "films", { query: "select=title,decade,d:decade::text&id=eq.1" })
    expect(json(selected)).toEqual([{ title: "Rashomon", decade: 1950, d: "1950" }])
    expect(await ids("decade=eq.1950")).toEqual([1, 2])
    const ordered = await call(db, "directors", { query: "select=initials&order=initials.desc&id=lt.3" })
    expect(json(ordered)).toEqual([{ initials: "AV" }, { initials: "AK" }])
    const embedded = await call(db, "directors", {
      query: "select=name,films(title,decade)&id=eq.2&films.decade=eq.1980",
    })
    expect(json(embedded)).toEqual([{ name: "Agnès Varda", films: [{ title: "Vagabond", decade: 1980 }] }])
    const star = await call(db, "films", { query: "id=eq.1" })
    expect(Object.keys((json(star) as Array<object>)[0]!)).not.toContain("decade")
  })

  it("answers PGRST100 for a malformed select", async () => {
    expect(await error("films", "select=id,(")).toMatchObject({ status: 400, code: "PGRST100" })
  })

  it("refuses aggregates as PostgREST does by default", async () => {
    expect(await error("films", "select=count()")).toMatchObject({ status: 400, code: "PGRST123" })
  })

  it("answers PGRST205 for an unknown table, suggesting a close name", async () => {
    expect(await error("flims", "")).toEqual({
      status: 404,
      code: "PGRST205",
      message: "Could not find the table 'public.flims' in the schema cache",
      details: null,
      hint: "Perhaps you meant the table 'public.films'",
    })
  })
})

describe("filters", () => {
  it.each([
    ["id=eq.2", [2]],
    ["id=neq.2", [1, 3, 4, 5]],
    ["year=gt.1954", [3, 4]],
    ["year=gte.1954", [2, 3, 4]],
    ["year=lt.1954", [1]],
    ["year=lte.1954", [1, 2]],
    ["title=like.*samurai", []],
    ["title=ilike.*samurai", [2]],
    ["title=like.R*", [1]],
    ["title=match.^[RS]", [1, 2]],
    ["title=imatch.^v", [4]],
    ["year=is.null", [5]],
    ["year=is.not_null", [1, 2, 3, 4]],
    ["year=not.is.null", [1, 2, 3, 4]],
    ["year=isdistinct.1950", [2, 3, 4, 5]],
    ["id=in.(1,3)", [1, 3]],
    ["id=not.in.(1,3)", [2, 4, 5]],
    ['title=in.("Untitled, \\"draft\\"",Vagabond)', [4, 5]],
    ["id=in.()", []],
    ["tags=cs.{drama,crime}", [1]],
    ["tags=cd.{drama,action,crime}", [1, 2, 3, 4]],
    ["tags=ov.{action,crime}", [1, 2]],
    ['data=cs.{"lang":"fr"}', [3, 4]],
    ["shooting=sl.[1955,1970)", [1, 2]],
    ["shooting=sr.[1951,1952)", [2, 3]],
    ["shooting=nxr.[1950,1955)", [1, 2]],
    ["shooting=nxl.[1953,1960)", [2, 3]],
    ["shooting=adj.[1950,1953)", [1, 2]],
    ["shooting=ov.[1950,1954)", [2]],
    ["plot_vector=fts.samurai", [1, 2]],
    ["plot_vector=fts(english).samurai %26 village", [2]],
    ["plot=plfts.medical test", [3]],
    ["plot=phfts(english).French countryside", [4]],
    ["plot=wfts(english).samurai -village", [1]],
    ["title=like(any).{R*,V*}", [1, 4]],
    ["title=ilike(all).{*a*,*o*}", [1, 4]],
    ["id=eq(any).{1,2}", [1, 2]],
    ["id=gt(all).{1,2}", [3, 4, 5]],
  ])("%s", async (filter, expected) => {
    expect(await ids(filter)).toEqual(expected)
  })

  it("treats * in like as %", async () => {
    expect(await ids("title=like.*a*a*")).toEqual([2, 4])
  })

  it("reads is.true / is.false / is.unknown", async () => {
    await db.sql("create table flags (id int primary key, on_ boolean)")
    await db.sql("insert into flags values (1, true), (2, false), (3, null)")
    await db.reload()
    const flagIds = async (q: string) =>
      (json(await call(db, "flags", { query: `select=id&order=id&${q}` })) as Array<{ id: number }>).map(
        (r) => r.id,
      )
    expect(await flagIds("on_=is.true")).toEqual([1])
    expect(await flagIds("on_=is.false")).toEqual([2])
    expect(await flagIds("on_=is.unknown")).toEqual([3])
    expect(await flagIds("on_=not.is.true")).toEqual([2, 3])
  })

  it("filters on JSON paths", async () => {
    expect(await ids("data->>lang=eq.fr")).toEqual([3, 4])
    expect(await ids("data->runtime=gt.100")).toEqual([2, 4])
    expect(await ids("data->awards->>oscar=eq.true")).toEqual([1])
  })

  it("combines several filters with AND", async () => {
    expect(await ids("year=gt.1950&director_id=eq.2")).toEqual([3, 4])
  })

  it("reads or=(…) and and=(…) with nesting and negation", async () => {
    expect(await ids("or=(id.eq.1,year.gt.1980)")).toEqual([1, 4])
    expect(await ids("or=(id.eq.5,and(year.gte.1954,year.lte.1962))")).toEqual([2, 3, 5])
    expect(await ids("not.or=(id.eq.1,id.eq.2)")).toEqual([3, 4, 5])
    expect(await ids("and=(year.gt.1950,not.or(id.eq.2,id.eq.3))")).toEqual([4])
    expect(await ids('or=(title.eq."Untitled, \\"draft\\"",tags.cs.{crime})')).toEqual([1, 5])
    expect(await ids("or=(id.in.(1,2),data->>lang.eq.fr)")).toEqual([1, 2, 3, 4])
  })

  it("lets Postgres judge a value of the wrong type (22P02, 400)", async () => {
    expect(await error("films", "id=eq.abc")).toMatchObject({
      status: 400,
      code: "22P02",
      message: 'invalid input syntax for type integer: "abc"',
    })
  })

  it("answers PGRST100 for a malformed filter", async () => {
    expect(await error("films", "id=equals.1")).toMatchObject({ status: 400, code: "PGRST100" })
    expect(await error("films", "id=is.maybe")).toMatchObject({ status: 400, code: "PGRST100" })
  })

  it("answers 42703 for a filter on an unknown column", async () => {
    expect(await error("films", "nope=eq.1")).toMatchObject({ status: 400, code: "42703" })
  })

  it("never lets a value become SQL", async () => {
    expect(await ids("title=eq.'; drop table films; --")).toEqual([])
    expect(await ids("title=in.(x');drop table films;--)")).toEqual([])
    expect(await ids("data->>a'b=eq.1")).toEqual([])
    expect((await db.sql("select count(*)::int as n from films"))[0]).toEqual({ n: 5 })
  })
})

describe("order", () => {
  it("orders by several columns with directions and null placement", async () => {
    const response = await call(db, "films", {
      query: "select=id&order=director_id.desc.nullslast,year.desc",
    })
    expect((json(response) as Array<{ id: number }>).map((r) => r.id)).toEqual([4, 3, 2, 1, 5])
    expect(
      (
        json(await call(db, "films", { query: "select=id&order=year.nullsfirst" })) as Array<{ id: number }>
      ).map((r) => r.id),
    ).toEqual([5, 1, 2, 3, 4])
  })

  it("orders by a JSON path", async () => {
    const response = await call(db, "films", { query: "select=id&order=data->runtime.desc.nullslast" })
    expect(json(response)).toEqual([{ id: 2 }, { id: 4 }, { id: 3 }, { id: 1 }, { id: 5 }])
  })

  it("answers PGRST100 for a malformed order", async () => {
    expect(await error("films", "order=id.sideways")).toMatchObject({ status: 400, code: "PGRST100" })
  })
})

describe("paging and counting", () => {
  it("pages with limit and offset and says so in Content-Range", async () => {
    const response = await call(db, "films", { query: "select=id&order=id&limit=2&offset=1" })
    expect(response.status).toBe(200)
    expect(response.headers["content-range"]).toBe("1-2/*")
    expect(json(response)).toEqual([{ id: 2 }, { id: 3 }])
  })

  it("pages with the Range header", async () => {
    const response = await call(db, "films", { query: "select=id&order=id", range: "0-1" })
    expect(response.headers["content-range"]).toBe("0-1/*")
    expect(json(response)).toEqual([{ id: 1 }, { id: 2 }])
  })

  it("answers 206 with the exact total when the page is partial", async () => {
    const response = await call(db, "films", { query: "select=id&order=id&limit=2", prefer: "count=exact" })
    expect(response.status).toBe(206)
    expect(response.headers["content-range"]).toBe("0-1/5")
    expect(response.headers["preference-applied"]).toBe("count=exact")
  })

  it("answers 200 when the page holds the whole total", async () => {
    const response = await call(db, "films", { query: "select=id", prefer: "count=exact" })
    expect(response.status).toBe(200)
    expect(response.headers["content-range"]).toBe("0-4/5")
  })

  it("writes */0 for an empty counted result", async () => {
    const response = await call(db, "films", { query: "id=eq.99", prefer: "count=exact" })
    expect(response.status).toBe(200)
    expect(response.headers["content-range"]).toBe("*/0")
    expect(response.body).toBe("[]")
  })

  it("counts only the filtered rows", async () => {
    const response = await call(db, "films", { query: "director_id=eq.1&limit=1", prefer: "count=exact" })
    expect(response.headers["content-range"]).toBe("0-0/2")
  })

  it("estimates with count=planned and count=estimated", async () => {
    const planned = await call(db, "films", { query: "select=id&limit=1", prefer: "count=planned" })
    expect(planned.headers["content-range"]).toMatch(/^0-0\/\d+$/)
    expect(planned.headers["preference-applied"]).toBe("count=planned")
    const estimated = await call(db, "films", { query: "select=id&limit=1", prefer: "count=estimated" })
    expect(estimated.headers["content-range"]).toBe("0-0/5")
  })

  it("answers PGRST103 (416) past the end of a counted result", async () => {
    expect(
      await call(db, "films", { query: "offset=10", prefer: "count=exact" }).then((r) => ({
        status: r.status,
        ...(json(r) as object),
      })),
    ).toEqual({
      status: 416,
      code: "PGRST103",
      message: "Requested range not satisfiable",
      details: "An offset of 10 was requested, but there are only 5 rows.",
      hint: null,
    })
  })

  it("allows limit=0", async () => {
    const response = await call(db, "films", { query: "limit=0" })
    expect(response.body).toBe("[]")
    expect(response.headers["content-range"]).toBe("*/*")
  })

  it("answers HEAD without a body but with the count", async () => {
    const response = await call(db, "films", { method: "HEAD", prefer: "count=exact" })
    expect(response.status).toBe(200)
    expect(response.body).toBe("")
    expect(response.headers["content-range"]).toBe("0-4/5")
  })
})

describe("singular and other media", () => {
  it("answers one object for vnd.pgrst.object+json", async () => {
    const response = await call(db, "directors", {
      query: "select=name&id=eq.2",
      accept: "application/vnd.pgrst.object+json",
    })
    expect(response.status).toBe(200)
    expect(response.headers["content-type"]).toBe("application/vnd.pgrst.object+json; charset=utf-8")
    expect(json(response)).toEqual({ name: "Agnès Varda" })
  })

  it("answers PGRST116 when not exactly one row", async () => {
    for (const [query, rows] of [
      ["director_id=eq.1", 2],
      ["id=eq.99", 0],
    ] as const) {
      const response = await call(db, "films", { query, accept: "application/vnd.pgrst.object+json" })
      expect(response.status).toBe(406)
      expect(json(response)).toEqual({
        code: "PGRST116",
        details: `The result contains ${rows} rows`,
        hint: null,
        message: "Cannot coerce the result to a single JSON object",
      })
    }
  })

  it("strips nulls when asked", async () => {
    const response = await call(db, "directors", {
      query: "id=eq.3",
      accept: "application/vnd.pgrst.array+json;nulls=stripped",
    })
    expect(json(response)).toEqual([{ id: 3, name: "Nobody" }])
  })

  it("answers CSV", async () => {
    const response = await call(db, "directors", {
      query: "select=id,name&order=id&limit=2",
      accept: "text/csv",
    })
    expect(response.headers["content-type"]).toBe("text/csv; charset=utf-8")
    expect(response.body).toBe('id,name\n1,"Akira Kurosawa"\n2,"Agnès Varda"')
  })

  it("answers PGRST107 for a media type it does not serve", async () => {
    const response = await call(db, "films", { accept: "application/xml" })
    expect(response.status).toBe(406)
    expect(json(response)).toMatchObject({
      code: "PGRST107",
      message: "None of these media types are available: application/xml",
    })
  })
})

describe("Prefer handling", () => {
  it("refuses unknown preferences under handling=strict", async () => {
    const response = await call(db, "films", { prefer: "handling=strict, bogus=1" })
    expect(response.status).toBe(400)
    expect(json(response)).toMatchObject({ code: "PGRST122", details: "Invalid preferences: bogus=1" })
  })

  it("ignores them otherwise", async () => {
    expect((await call(db, "films", { prefer: "bogus=1" })).status).toBe(200)
  })
})
