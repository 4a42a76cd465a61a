// A real nats-server with JetStream for one test file: a free port, a temp store, and the ways
// a server goes away (stop, restart on the same port and store, kill -9). With
// REACTOR_TEST_SERVICES=containers it is a container from testcontainers instead, with the same
// interface.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { GenericContainer, StartedTestContainer } from "testcontainers"

export interface NatsServer {
  readonly url: string
  readonly port: number
  readonly storeDir: string
  /** Stops the server for good and removes its store. */
  readonly stop: () => Promise<void>
  /** Stops the server (if it runs) and starts it again on the same port with the same store. */
  readonly restart: () => Promise<void>
  /** Kills the server without letting it shut down cleanly; `restart` brings it back. */
  readonly kill9: () => Promise<void>
}

const host = "127.0.0.1"
const readyTimeout = 10_000
const exitTimeout = 5_000

const ensureInstalled = () => {
  const probe = spawnSync("nats-server", ["--version"], { stdio: "ignore" })
  if (probe.error !== undefined) {
    throw new Error(
      "nats-server is not installed: apt-get install -y nats-server (the README's test command does this)",
    )
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

// The server sends INFO as soon as it accepts a client; JetStream is enabled before it listens.
const answersInfo = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("data", (data) => done(data.toString().startsWith("INFO")))
    socket.once("error", () => done(false))
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const exited = (child: ChildProcess, timeoutMs: number) =>
  new Promise<boolean>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => resolve(false), timeoutMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

export const startNats = async (): Promise<NatsServer> => {
  if (useContainers()) return startNatsContainer()
  ensureInstalled()
  const port = await freePort()
  const storeDir = mkdtempSync(join(tmpdir(), "reactor-nats-"))
  let child: ChildProcess | undefined
  let output = ""

  const launch = async () => {
    output = ""
    const server = spawn("nats-server", ["-a", host, "-p", String(port), "-js", "-sd", storeDir], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000)
    }
    server.stdout?.on("data", keep)
    server.stderr?.on("data", keep)
    server.on("error", (error) => keep(Buffer.from(`${error.message}\n`)))
    child = server
    const deadline = Date.now() + readyTimeout
    while (Date.now() < deadline) {
      if (server.exitCode !== null || server.signalCode !== null) break
      if (await answersInfo(port)) return
      await sleep(50)
    }
    server.kill("SIGKILL")
    throw new Error(`nats-server did not start on port ${port} within ${readyTimeout} ms:\n${output}`)
  }

  const halt = async (signal: NodeJS.Signals) => {
    const running = child
    child = undefined
    if (running === undefined) return
    running.kill(signal)
    if (!(await exited(running, exitTimeout))) {
      running.kill("SIGKILL")
      await exited(running, exitTimeout)
    }
  }

  await launch()
  return {
    url: `nats://${host}:${port}`,
    port,
    storeDir,
    stop: async () => {
      await halt("SIGTERM")
      rmSync(storeDir, { recursive: true, force: true })
    },
    restart: async () => {
      await halt("SIGTERM")
      await launch()
    },
    kill9: () => halt("SIGKILL"),
  }
}

// --- REACTOR_TEST_SERVICES=containers ------------------------------------------------------------

/** Whether the suite gets its servers from testcontainers (REACTOR_TEST_SERVICES=containers). */
export const useContainers = () => {
  const services = process.env["REACTOR_TEST_SERVICES"]
  if (services === undefined || services === "") return false
  if (services === "containers") return true
  throw new Error(`REACTOR_TEST_SERVICES=${services} is not understood: set it to "containers" or unset it`)
}

const noEngine =
  "REACTOR_TEST_SERVICES=containers needs a running Docker engine: start dockerd, or unset it to use the embedded servers"

/**
 * testcontainers, loaded only in containers mode, once a Docker engine answers. Its reaper (Ryuk)
 * is an image from Docker Hub, which machines without a registry cannot pull, so it is off unless
 * TESTCONTAINERS_RYUK_DISABLED says otherwise: the suite stops every container it starts.
 */
export const containerRuntime = async () => {
  process.env["TESTCONTAINERS_RYUK_DISABLED"] ??= "true"
  const testcontainers = await import("testcontainers")
  try {
    await testcontainers.getContainerRuntimeClient()
  } catch (error) {
    throw new Error(`${noEngine}\n(${error instanceof Error ? error.message : String(error)})`)
  }
  return testcontainers
}

/** Starts a container; when that fails for an image the engine lacks, says how to build one. */
export const startContainer = async (
  container: GenericContainer,
  image: string,
  variable: string,
  /** How to get the image when the engine lacks it (default: build one with test-images.sh). */
  howToGet = `build local images with scripts/test-images.sh (as root) and set ${variable} to one of them.`,
): Promise<StartedTestContainer> => {
  try {
    return await container.start()
  } catch (error) {
    const { ImageName, getContainerRuntimeClient } = await import("testcontainers")
    const client = await getContainerRuntimeClient()
    const present = await client.image.exists(ImageName.fromString(image)).catch(() => true)
    const hint = present
      ? ""
      : `\nThe image ${image} is not on this Docker engine and could not be pulled. Without a registry, ${howToGet}`
    throw new Error(
      `could not start a container from ${image}: ${error instanceof Error ? error.message : String(error)}${hint}`,
    )
  }
}

/** A loopback address for the engine's host name (Node may resolve "localhost" to ::1 first). */
export const containerHost = (container: StartedTestContainer) =>
  container.getHost() === "localhost" ? host : container.getHost()

const natsImage = () => process.env["REACTOR_TEST_NATS_IMAGE"] || "nats:2.10-alpine"

const startNatsContainer = async (): Promise<NatsServer> => {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await containerRuntime()
  const image = natsImage()
  // A host port chosen here and bound explicitly: a restarted container keeps it, so the URL stays.
  // (So the engine must run on this machine, as dockerd does here; a remote DOCKER_HOST is not served.)
  const port = await freePort()
  const storePath = "/data"
  const container = await startContainer(
    new GenericContainer(image)
      .withCommand(["-js", "-sd", storePath])
      .withExposedPorts({ container: 4222, host: port })
      .withLabels({ "reactor.test": "nats" })
      .withWaitStrategy(Wait.forLogMessage("Server is ready"))
      .withStartupTimeout(readyTimeout),
    image,
    "REACTOR_TEST_NATS_IMAGE",
  )
  const address = containerHost(container)
  const docker = (await getContainerRuntimeClient()).container

  // The log line may come from before a restart (log times have one-second steps): ask the server.
  const ready = async () => {
    const deadline = Date.now() + readyTimeout
    while (Date.now() < deadline) {
      if (await answersInfo(port)) return
      await sleep(50)
    }
    throw new Error(`the ${image} container did not answer on port ${port} within ${readyTimeout} ms`)
  }

  const running = async () => (await docker.inspect(docker.getById(container.getId()))).State.Running

  let stopped = false
  try {
    await ready()
  } catch (error) {
    await container.stop()
    throw error
  }
  return {
    url: `nats://${address}:${port}`,
    port,
    // The store lives in the container's own filesystem, which a restart keeps.
    storeDir: `container:${container.getId().slice(0, 12)}:${storePath}`,
    stop: async () => {
      if (stopped) return
      stopped = true
      // A container that failed to come back from a restart was removed already.
      await container.stop().catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error
      })
    },
    restart: async () => {
      // SIGTERM and up to exitTimeout to shut down, then the same container starts again.
      await container.restart({ timeout: exitTimeout })
      await ready()
    },
    kill9: async () => {
      if (!(await running())) return
      await docker.getById(container.getId()).kill({ signal: "SIGKILL" })
      const deadline = Date.now() + exitTimeout
      while ((await running()) && Date.now() < deadline) await sleep(50)
    },
  }
}
