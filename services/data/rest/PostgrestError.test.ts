import { describe, expect, it } from "vitest"
import { PgError } from "../../../platform/postgres/Postgres.ts"
import { ambiguousRelationship, fromPgError, notSingular, statusOf, toResponse } from "./PostgrestError.ts"

const pgError = (code: string, message: string, extra: Record<string, string> = {}) =>
  new PgError({ code, constraint: undefined, message, cause: { code, message, ...extra } })

describe("PostgREST's status for a SQLSTATE", () => {
  it.each([
    ["23505", 409],
    ["23503", 409],
    ["25006", 405],
    ["42P01", 404],
    ["42883", 404],
    ["08006", 503],
    ["53300", 503],
    ["53400", 500],
    ["P0001", 400],
    ["PT402", 402],
    ["28000", 403],
    ["0L000", 403],
    ["0P000", 403],
    ["22P02", 400],
    ["23502", 400],
    ["42703", 400],
    ["XX000", 500],
    ["40001", 500],
  ])("%s is %i", (code, status) => {
    expect(statusOf(code, "", true)).toBe(status)
  })

  it("answers 401 to anon and 403 to others on insufficient privilege", () => {
    expect(fromPgError(pgError("42501", "permission denied for table films"), "anon").status).toBe(401)
    expect(fromPgError(pgError("42501", "permission denied for table films"), "authenticated").status).toBe(
      403,
    )
  })

  it("takes details and hint from the Postgres error", () => {
    expect(
      fromPgError(
        pgError("23505", 'duplicate key value violates unique constraint "films_pkey"', {
          detail: "Key (id)=(1) already exists.",
        }),
        "anon",
      ),
    ).toMatchObject({
      status: 409,
      code: "23505",
      message: 'duplicate key value violates unique constraint "films_pkey"',
      details: "Key (id)=(1) already exists.",
      hint: null,
    })
  })

  it("reads RAISE SQLSTATE 'PGRST' as the error and status it carries", () => {
    const raised = pgError("PGRST", '{"code":"123","message":"Nope","details":"d","hint":"h"}', {
      detail: '{"status":418,"headers":{}}',
    })
    expect(fromPgError(raised, "anon")).toMatchObject({
      status: 418,
      code: "123",
      message: "Nope",
      details: "d",
      hint: "h",
    })
  })
})

describe("the error body", () => {
  it("has PostgREST's keys", () => {
    expect(JSON.parse(toResponse(notSingular(2)).body)).toEqual({
      code: "PGRST116",
      details: "The result contains 2 rows",
      hint: null,
      message: "Cannot coerce the result to a single JSON object",
    })
  })

  it("sends PGRST201's details as a JSON array", () => {
    const error = ambiguousRelationship("a", "b", [
      {
        cardinality: "many-to-one",
        embedding: "a with b",
        relationship: "x using a(b_id) and b(id)",
        hint: "b!x",
      },
    ])
    const response = toResponse(error)
    expect(response.status).toBe(300)
    expect(JSON.parse(response.body).details).toEqual([
      { cardinality: "many-to-one", embedding: "a with b", relationship: "x using a(b_id) and b(id)" },
    ])
  })
})
