import { describe, expect, it } from "vitest"
import { useDatabase } from "../rest/test/fixture.ts"
import { matchRelationships, relationshipsOf } from "./relationships.ts"
import { findColumn, findRelation, findRoutines } from "./SchemaCache.ts"

const db = useDatabase(
  `
create schema api;
create type api.point2 as (x int, y int);
create table api.authors (id int primary key, name text not null, born date default now());
create table api.books (
  id bigint generated always as identity primary key,
  title text,
  author_id int references api.authors(id),
  editor_id int references api.authors(id),
  isbn text unique,
  words int generated always as (length(title)) stored
);
create table api.tags (id int primary key, name text);
create table api.book_tags (book_id bigint references api.books(id), tag_id int references api.tags(id), primary key (book_id, tag_id));
create table api.covers (book_id bigint primary key references api.books(id), url text);
create view api.titles as select id, title from api.books;
create table hidden (id int);
create function api.add(a int, b int default 2) returns int language sql immutable as $$ select a + b $$;
create function api.books_by(author int) returns setof api.books language sql stable as $$ select * from api.books where author_id = author $$;
create function api.origin() returns api.point2 language sql as $$ select (0, 0)::api.point2 $$;
create function api.pairs(out a int, out b text) returns setof record language sql as $$ select 1, 'x' $$;
create function api.touch() returns void language sql volatile as $$ $$;
create function api.sum_all(variadic nums int[]) returns int language sql as $$ select 0 $$;
`,
  ["api"],
)

describe("the schema cache", () => {
  it("holds the exposed schemas' tables and views with their columns", () => {
    const cache = db.cache()
    expect(cache.schemas).toEqual(["api"])
    expect(findRelation(cache, "public", "hidden")).toBeUndefined()
    const books = findRelation(cache, "api", "books")!
    expect(books.kind).toBe("table")
    expect(books.primaryKey).toEqual(["id"])
    expect(books.columns.map((c) => c.name)).toEqual([
      "id",
      "title",
      "author_id",
      "editor_id",
      "isbn",
      "words",
    ])
    expect(findColumn(books, "id")).toMatchObject({
      type: "bigint",
      typeSchema: "pg_catalog",
      typeName: "int8",
      hasDefault: true,
    })
    expect(findColumn(books, "words")).toMatchObject({ generated: true, hasDefault: true })
    expect(findColumn(findRelation(cache, "api", "authors")!, "name")).toMatchObject({
      nullable: false,
      hasDefault: false,
    })
    // A view showing a table's key has it, and the foreign keys to those columns reach the view.
    expect(findRelation(cache, "api", "titles")).toMatchObject({ kind: "view", primaryKey: ["id"] })
    expect(cache.foreignKeys).toContainEqual(
      expect.objectContaining({ schema: "api", table: "covers", refTable: "titles", refColumns: ["id"] }),
    )
  })

  it("holds foreign keys with their columns in order", () => {
    expect(db.cache().foreignKeys.find((fk) => fk.name === "books_author_id_fkey")).toEqual({
      name: "books_author_id_fkey",
      schema: "api",
      table: "books",
      columns: ["author_id"],
      refSchema: "api",
      refTable: "authors",
      refColumns: ["id"],
    })
  })

  it("holds functions with their arguments and result shape", () => {
    const cache = db.cache()
    expect(findRoutines(cache, "api", "add")[0]).toMatchObject({
      args: [
        { name: "a", type: "integer", hasDefault: false, variadic: false },
        { name: "b", type: "integer", hasDefault: true },
      ],
      returns: { kind: "scalar", set: false, type: "integer" },
      volatility: "immutable",
    })
    expect(findRoutines(cache, "api", "books_by")[0]!.returns).toMatchObject({
      kind: "composite",
      set: true,
      relation: { schema: "api", name: "books" },
    })
    expect(findRoutines(cache, "api", "origin")[0]!.returns.columns.map((c) => c.name)).toEqual(["x", "y"])
    expect(findRoutines(cache, "api", "pairs")[0]!.returns).toMatchObject({ kind: "composite", set: true })
    expect(findRoutines(cache, "api", "pairs")[0]!.returns.columns.map((c) => c.name)).toEqual(["a", "b"])
    expect(findRoutines(cache, "api", "touch")[0]).toMatchObject({
      returns: { kind: "void" },
      volatility: "volatile",
    })
    expect(findRoutines(cache, "api", "sum_all")[0]!.args[0]).toMatchObject({ name: "nums", variadic: true })
  })

  it("is plain data that survives JSON", () => {
    const cache = db.cache()
    expect(JSON.parse(JSON.stringify(cache))).toEqual(cache)
  })
})

describe("relationships", () => {
  const from = (table: string) => relationshipsOf(db.cache(), findRelation(db.cache(), "api", table)!)
  const summary = (table: string) =>
    from(table)
      .map((r) => `${r.cardinality} ${r.target.name} ${r.junction?.name ?? r.constraint}`)
      .sort()

  it("derives many-to-one, one-to-many, one-to-one and many-to-many", () => {
    expect(summary("books")).toEqual([
      "many-to-many tags book_tags",
      "many-to-one authors books_author_id_fkey",
      "many-to-one authors books_editor_id_fkey",
      "one-to-many book_tags book_tags_book_id_fkey",
      "one-to-one covers covers_book_id_fkey",
    ])
    expect(summary("authors")).toEqual([
      "one-to-many books books_author_id_fkey",
      "one-to-many books books_editor_id_fkey",
    ])
  })

  it("matches an embed by table, constraint or column, and narrows by hint", () => {
    const books = from("books")
    expect(matchRelationships(books, "authors", undefined)).toHaveLength(2)
    expect(matchRelationships(books, "authors", "editor_id").map((r) => r.constraint)).toEqual([
      "books_editor_id_fkey",
    ])
    expect(matchRelationships(books, "authors", "books_author_id_fkey")).toHaveLength(1)
    expect(matchRelationships(books, "author_id", undefined).map((r) => r.target.name)).toEqual(["authors"])
    expect(matchRelationships(books, "tags", "book_tags").map((r) => r.cardinality)).toEqual(["many-to-many"])
  })

  it("sees new tables after a reload", async () => {
    await db.sql("create table api.late (id int primary key)")
    expect(findRelation(db.cache(), "api", "late")).toBeUndefined()
    await db.reload()
    expect(findRelation(db.cache(), "api", "late")).toBeDefined()
  })
})
