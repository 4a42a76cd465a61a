// Starts the servers every test file shares: one Postgres cluster (each test makes its own
// database in it). REACTOR_TEST_DATABASE_URL points the suite at an existing server instead.

import { execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import type { TestProject } from "vitest/node"
import { packageRoot } from "../../platform/paths.ts"
import * as Embedded from "../../platform/postgres/Embedded.ts"

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

/** Integration tests run Reactor from dist/ through bin/reactor.js, as users do: build it first. */
const build = () => {
  const tsc = join(packageRoot, "node_modules", ".bin", "tsc")
  execFileSync(tsc, ["-p", join(packageRoot, "tsconfig.build.json")], { stdio: "inherit" })
}

export default async function setup(project: TestProject) {
  build()
  const external = process.env["REACTOR_TEST_DATABASE_URL"]
  if (external !== undefined && external !== "") {
    project.provide("databaseUrl", external)
    return
  }
  const dir = mkdtempSync(join(tmpdir(), "reactor-test-pg-"))
  // Postgres runs as the OS user postgres when the suite runs as root: it must enter the directory.
  chmodSync(dir, 0o755)
  const scope = Effect.runSync(Scope.make())
  const cluster = await Effect.runPromise(
    Scope.provide(
      Embedded.start({
        dataDir: dir,
        port: 0,
        // A throwaway cluster: durability settings off, room for many test pools.
        settings: {
          fsync: "off",
          synchronous_commit: "off",
          full_page_writes: "off",
          max_connections: "400",
        },
      }),
      scope,
    ),
  )
  project.provide("databaseUrl", cluster.url)
  return async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
  }
}
