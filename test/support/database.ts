// A fresh database per test, in the suite's shared cluster, so tests run in any order.
import { randomBytes } from "node:crypto"
import pg from "pg"
import { inject } from "vitest"

export interface TestDatabase {
  readonly url: string
  readonly name: string
  readonly drop: () => Promise<void>
}

const withDatabase = (database: string) => {
  const url = new URL(inject("databaseUrl"))
  url.pathname = `/${database}`
  return url.toString()
}

const admin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: withDatabase("postgres") })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export const createTestDatabase = async (): Promise<TestDatabase> => {
  const name = `t_${randomBytes(6).toString("hex")}`
  await admin((c) => c.query(`create database ${name}`))
  return {
    url: withDatabase(name),
    name,
    drop: () => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  }
}
