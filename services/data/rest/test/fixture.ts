// A test database with a schema, and PostgREST requests run against it as a given role.
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as Postgres from "../../../../platform/postgres/Postgres.ts"
import { createTestDatabase, type TestDatabase } from "../../../../test/support/database.ts"
import { load, type SchemaCache } from "../../schema/SchemaCache.ts"
import { execute } from "../execute.ts"
import { toResponse } from "../PostgrestError.ts"
import type { RestRequest, RestResponse } from "../RestRequest.ts"

export interface Fixture {
  readonly postgres: Postgres.PostgresShape
  readonly cache: () => SchemaCache
  /** Runs SQL as the superuser, outside any request. */
  readonly sql: (
    text: string,
    values?: ReadonlyArray<unknown>,
  ) => Promise<ReadonlyArray<Record<string, unknown>>>
  readonly reload: () => Promise<void>
}

export interface Call {
  readonly method?: RestRequest["method"]
  readonly rpc?: boolean
  readonly query?: ReadonlyArray<readonly [string, string]> | string
  readonly prefer?: string
  readonly accept?: string
  readonly range?: string
  readonly body?: unknown
  readonly schema?: string
  /** Run as this role (with `request.jwt.claims`); the superuser when absent. */
  readonly role?: string
  readonly claims?: Record<string, unknown>
  /** Leave `role` out of execute's options, so it reads the role itself. */
  readonly hideRole?: boolean
}

/** Creates a database with `ddl` for the test file, torn down after it. */
export const useDatabase = (ddl: string, schemas: ReadonlyArray<string> = ["public"]): Fixture => {
  let db: TestDatabase
  let scope: Scope.Closeable
  let postgres: Postgres.PostgresShape
  let cache: SchemaCache
  const fixture: Fixture = {
    get postgres() {
      return postgres
    },
    cache: () => cache,
    sql: async (text, values) => (await postgres.pool.query(text, values as Array<unknown>)).rows,
    reload: async () => {
      cache = await Effect.runPromise(load(postgres, schemas))
    },
  }
  beforeAll(async () => {
    db = await createTestDatabase()
    scope = Effect.runSync(Scope.make())
    postgres = await Effect.runPromise(Scope.provide(Postgres.make(db.url, 4), scope))
    await postgres.pool.query(ddl)
    await fixture.reload()
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await db.drop()
  })
  return fixture
}

export const toQuery = (query: Call["query"]): ReadonlyArray<readonly [string, string]> => {
  if (query === undefined) return []
  if (typeof query !== "string") return query
  return [...new URLSearchParams(query)]
}

/** The response to `target` as PostgREST would answer it; errors become their error responses. */
export const call = (fixture: Fixture, target: string, options: Call = {}): Promise<RestResponse> => {
  const request: RestRequest = {
    method: options.method ?? "GET",
    schema: options.schema ?? "public",
    target: { kind: options.rpc ? "rpc" : "table", name: target },
    query: toQuery(options.query),
    prefer: options.prefer,
    accept: options.accept,
    range: options.range,
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body),
  }
  const program = fixture.postgres
    .transaction((tx) =>
      Effect.gen(function* () {
        if (options.role !== undefined) {
          yield* tx.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", [
            options.role,
            JSON.stringify(options.claims ?? { role: options.role }),
          ])
        }
        return yield* execute(
          tx,
          fixture.cache(),
          request,
          options.role === undefined || options.hideRole ? {} : { role: options.role },
        )
      }),
    )
    .pipe(
      Effect.catchTag("PostgrestError", (e) => Effect.succeed(toResponse(e))),
      Effect.catchTag("PgError", (e) => Effect.die(e)),
    )
  return Effect.runPromise(program)
}

/** The parsed JSON body. */
export const json = (response: RestResponse): unknown => JSON.parse(response.body)
