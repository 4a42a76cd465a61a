import { describe, expect, it } from "vitest"
import { call, json, useDatabase } from "./test/fixture.ts"
import { movies } from "./test/movies.ts"

const db = useDatabase(movies)

const get = async (target: string, query: string) => {
  const response = await call(db, target, { query })
  return { status: response.status, body: json(response) }
}

describe("embedding", () => {
  it("embeds a many-to-one as an object, or null when there is none", async () => {
    expect(await get("films", "select=id,directors(name)&id=in.(1,5)&order=id")).toEqual({
      status: 200,
      body: [
        { id: 1, directors: { name: "Akira Kurosawa" } },
        { id: 5, directors: null },
      ],
    })
  })

  it("embeds a one-to-many as an array, empty when there is none", async () => {
    expect(await get("directors", "select=name,films(title)&order=id&films.order=id")).toEqual({
      status: 200,
      body: [
        { name: "Akira Kurosawa", films: [{ title: "Rashomon" }, { title: "Seven Samurai" }] },
        { name: "Agnès Varda", films: [{ title: "Cléo from 5 to 7" }, { title: "Vagabond" }] },
        { name: "Nobody", films: [] },
      ],
    })
  })

  it("embeds a many-to-many through its junction table", async () => {
    expect(await get("films", "select=title,actors(name)&id=eq.1&actors.order=name")).toEqual({
      status: 200,
      body: [{ title: "Rashomon", actors: [{ name: "Takashi Shimura" }, { name: "Toshiro Mifune" }] }],
    })
  })

  it("embeds a one-to-one as an object both ways", async () => {
    expect(await get("users", "select=name,profiles(bio)&order=id")).toEqual({
      status: 200,
      body: [
        { name: "ann", profiles: { bio: "hello" } },
        { name: "bob", profiles: null },
      ],
    })
    expect(await get("profiles", "select=bio,users(name)")).toEqual({
      status: 200,
      body: [{ bio: "hello", users: { name: "ann" } }],
    })
  })

  it("aliases embeds and nests them", async () => {
    expect(
      await get(
        "films",
        "select=title,director:directors(name,work:films(title))&id=eq.3&director.work.order=id.desc",
      ),
    ).toEqual({
      status: 200,
      body: [
        {
          title: "Cléo from 5 to 7",
          director: { name: "Agnès Varda", work: [{ title: "Vagabond" }, { title: "Cléo from 5 to 7" }] },
        },
      ],
    })
  })

  it("drops rows without a match under !inner", async () => {
    const { body } = await get("films", "select=id,directors!inner(name)&order=id")
    expect((body as Array<{ id: number }>).map((r) => r.id)).toEqual([1, 2, 3, 4])
    const directors = await get("directors", "select=id,films!inner(id)&order=id")
    expect((directors.body as Array<{ id: number }>).map((r) => r.id)).toEqual([1, 2])
  })

  it("keeps every row under !left", async () => {
    const { body } = await get("films", "select=id,directors!left(name)&order=id")
    expect(body).toHaveLength(5)
  })

  it("filters the embedded rows without dropping the parent", async () => {
    expect(await get("directors", "select=id,films(id)&order=id&films.year=gt.1960")).toEqual({
      status: 200,
      body: [
        { id: 1, films: [] },
        { id: 2, films: [{ id: 3 }, { id: 4 }] },
        { id: 3, films: [] },
      ],
    })
    expect(await get("films", "select=id,directors(name)&id=lt.3&directors.name=eq.Nobody&order=id")).toEqual(
      {
        status: 200,
        body: [
          { id: 1, directors: null },
          { id: 2, directors: null },
        ],
      },
    )
  })

  it("filters parents by embedded rows with !inner and an embedded filter", async () => {
    expect(await get("films", "select=id,directors!inner(name)&directors.name=like.Agn*&order=id")).toEqual({
      status: 200,
      body: [
        { id: 3, directors: { name: "Agnès Varda" } },
        { id: 4, directors: { name: "Agnès Varda" } },
      ],
    })
  })

  it("reads or=(…) on an embedded resource", async () => {
    expect(await get("directors", "select=id,films(id)&id=eq.1&films.or=(id.eq.1,year.gt.2000)")).toEqual({
      status: 200,
      body: [{ id: 1, films: [{ id: 1 }] }],
    })
  })

  it("keeps or drops parents by rel=not.is.null and rel=is.null", async () => {
    const withFilms = await get("directors", "select=id,films(id)&films.year=gt.1960&films=not.is.null")
    expect((withFilms.body as Array<{ id: number }>).map((r) => r.id)).toEqual([2])
    const withoutFilms = await get("directors", "select=id,films(id)&films=is.null&order=id")
    expect((withoutFilms.body as Array<{ id: number }>).map((r) => r.id)).toEqual([3])
    const noDirector = await get("films", "select=id,directors(id)&directors=is.null")
    expect((noDirector.body as Array<{ id: number }>).map((r) => r.id)).toEqual([5])
    const either = await get("films", "select=id,directors(id)&or=(directors.not.is.null,id.eq.5)&order=id")
    expect((either.body as Array<{ id: number }>).map((r) => r.id)).toEqual([1, 2, 3, 4, 5])
  })

  it("refuses other operators on an embedded resource with PGRST120", async () => {
    expect(await get("films", "select=id,directors(id)&directors=eq.1")).toMatchObject({
      status: 400,
      body: { code: "PGRST120" },
    })
  })

  it("omits an empty embed from the output but still filters by it", async () => {
    expect(await get("films", "select=id,directors!inner()&directors.name=eq.Agnès Varda&order=id")).toEqual({
      status: 200,
      body: [{ id: 3 }, { id: 4 }],
    })
  })

  it("orders, limits and offsets embedded arrays", async () => {
    expect(
      await get("directors", "select=id,films(id)&id=eq.1&films.order=id.desc&films.limit=1&films.offset=1"),
    ).toEqual({ status: 200, body: [{ id: 1, films: [{ id: 1 }] }] })
  })

  it("orders parents by a to-one embed's column", async () => {
    const { body } = await get("films", "select=id,directors(name)&order=directors(name).asc.nullslast,id")
    expect((body as Array<{ id: number }>).map((r) => r.id)).toEqual([3, 4, 1, 2, 5])
  })

  it("refuses ordering by a to-many embed with PGRST118", async () => {
    expect(await get("directors", "select=id,films(id)&order=films(id)")).toMatchObject({
      status: 400,
      body: { code: "PGRST118" },
    })
  })

  it("spreads a to-one embed's columns into the parent", async () => {
    expect(await get("films", "select=title,...directors(director:name,born)&id=eq.1")).toEqual({
      status: 200,
      body: [{ title: "Rashomon", director: "Akira Kurosawa", born: "1910-03-23" }],
    })
  })

  it("refuses to spread a to-many embed", async () => {
    expect(await get("directors", "select=name,...films(title)")).toMatchObject({
      status: 400,
      body: { code: "PGRST119" },
    })
  })

  it("embeds through views by the foreign keys of the columns they show, as PostgREST infers them", async () => {
    // View to table (many-to-one), table to view (one-to-many), view to view.
    expect(await get("film_list", "select=title,directors(name)&id=eq.1")).toEqual({
      status: 200,
      body: [{ title: "Rashomon", directors: { name: "Akira Kurosawa" } }],
    })
    expect(await get("directors", "select=name,film_list(title)&id=eq.2&film_list.order=id")).toEqual({
      status: 200,
      body: [{ name: "Agnès Varda", film_list: [{ title: "Cléo from 5 to 7" }, { title: "Vagabond" }] }],
    })
    expect(await get("film_list", "select=title,director_names(full_name)&id=eq.3")).toEqual({
      status: 200,
      body: [{ title: "Cléo from 5 to 7", director_names: { full_name: "Agnès Varda" } }],
    })
    expect(
      await get("director_names", "select=full_name,film_list(title)&id=eq.1&film_list.order=id"),
    ).toEqual({
      status: 200,
      body: [{ full_name: "Akira Kurosawa", film_list: [{ title: "Rashomon" }, { title: "Seven Samurai" }] }],
    })
  })

  it("embeds computed relationships, functions of the row, by their name", async () => {
    expect(await get("directors", "select=name,directed(title)&id=eq.1&directed.order=id")).toEqual({
      status: 200,
      body: [{ name: "Akira Kurosawa", directed: [{ title: "Rashomon" }, { title: "Seven Samurai" }] }],
    })
    expect(await get("films", "select=title,director_of(name)&id=in.(3,5)&order=id")).toEqual({
      status: 200,
      body: [
        { title: "Cléo from 5 to 7", director_of: { name: "Agnès Varda" } },
        { title: 'Untitled, "draft"', director_of: null },
      ],
    })
    // Filtered, inner-joined and ordered by like any embed.
    expect(
      await get("directors", "select=name,directed!inner(title)&directed.year=gt.1980&order=id"),
    ).toEqual({ status: 200, body: [{ name: "Agnès Varda", directed: [{ title: "Vagabond" }] }] })
    expect(
      await get("films", "select=title,director_of()&id=lt.5&order=director_of(name).desc,id"),
    ).toMatchObject({
      status: 200,
      body: [
        { title: "Rashomon" },
        { title: "Seven Samurai" },
        { title: "Cléo from 5 to 7" },
        { title: "Vagabond" },
      ],
    })
  })

  it("answers PGRST200 when there is no relationship", async () => {
    expect(await get("films", "select=id,users(id)")).toEqual({
      status: 400,
      body: {
        code: "PGRST200",
        details:
          "Searched for a foreign key relationship between 'films' and 'users' in the schema 'public', but no matches were found.",
        hint: null,
        message: "Could not find a relationship between 'films' and 'users' in the schema cache",
      },
    })
  })

  it("answers PGRST201 (300) when two foreign keys could be meant", async () => {
    const { status, body } = await get("messages", "select=id,users(name)")
    expect(status).toBe(300)
    expect(body).toMatchObject({
      code: "PGRST201",
      message: "Could not embed because more than one relationship was found for 'messages' and 'users'",
      hint: "Try changing 'users' to one of the following: 'users!messages_receiver_id_fkey', 'users!messages_sender_id_fkey'. Find the desired relationship in the 'details' key.",
    })
    expect((body as { details: unknown }).details).toEqual([
      {
        cardinality: "many-to-one",
        embedding: "messages with users",
        relationship: "messages_receiver_id_fkey using messages(receiver_id) and users(id)",
      },
      {
        cardinality: "many-to-one",
        embedding: "messages with users",
        relationship: "messages_sender_id_fkey using messages(sender_id) and users(id)",
      },
    ])
  })

  it("disambiguates by a foreign key's name or column", async () => {
    expect(
      await get(
        "messages",
        "select=id,from:users!messages_sender_id_fkey(name),to:users!receiver_id(name)&id=eq.1",
      ),
    ).toEqual({ status: 200, body: [{ id: 1, from: { name: "ann" }, to: { name: "bob" } }] })
    expect(await get("messages", "select=id,sender_id(name)&id=eq.2")).toEqual({
      status: 200,
      body: [{ id: 2, sender_id: { name: "bob" } }],
    })
  })

  it("follows a self-reference up by column and down by table", async () => {
    expect(
      await get("employees", "select=name,manager:manager_id(name),reports:employees(name)&id=eq.2"),
    ).toEqual({
      status: 200,
      body: [{ name: "Grace", manager: { name: "Ada" }, reports: [{ name: "Ken" }] }],
    })
  })

  it("answers PGRST108 for a filter on a resource that is not embedded", async () => {
    expect(await get("films", "select=id&roles.character=eq.x")).toMatchObject({
      status: 400,
      body: {
        code: "PGRST108",
        message: "'roles' is not an embedded resource in this request",
        hint: "Verify that 'roles' is included in the 'select' query parameter.",
      },
    })
  })

  it("counts with the inner joins applied", async () => {
    const response = await call(db, "films", {
      query: "select=id,directors!inner(id)&limit=1",
      prefer: "count=exact",
    })
    expect(response.headers["content-range"]).toBe("0-0/4")
  })
})
