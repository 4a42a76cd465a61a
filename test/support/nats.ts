// A real nats-server with JetStream for one test file: a free port, a temp store, and the ways
// a server goes away (stop, restart on the same port and store, kill -9).
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

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
