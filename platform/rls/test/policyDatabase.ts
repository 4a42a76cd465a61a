// A fresh database with the platform's roles and auth helpers (migrations/00002_auth), for policy tests.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import pg from "pg"
import { createTestDatabase } from "../../../test/support/database.ts"
import { platformMigrations } from "../../paths.ts"
import * as Postgres from "../../postgres/Postgres.ts"

export interface PolicyDatabase {
  readonly postgres: Postgres.PostgresShape
  readonly close: () => Promise<void>
}

export const policyDatabase = async (poolSize = 4): Promise<PolicyDatabase> => {
  const db = await createTestDatabase()
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    await client.query(readFileSync(join(platformMigrations, "00002_auth", "index.sql"), "utf8"))
  } finally {
    await client.end()
  }
  const scope = Effect.runSync(Scope.make())
  const postgres = await Effect.runPromise(Scope.provide(Postgres.make(db.url, poolSize), scope))
  return {
    postgres,
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await db.drop()
    },
  }
}
