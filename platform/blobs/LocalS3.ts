// A real S3-compatible server on this machine: s3rver (a dev dependency) in a child process, on a
// free loopback port, with a temp directory that stop() removes. For tests and the benchmark only.
// It runs through s3rverMain.cjs, which makes s3rver's writes whole before it answers.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { packageRoot } from "../paths.ts"
import type { S3BlobStoreOptions } from "./S3BlobStore.ts"

/** An S3-compatible server on this machine, for tests and the benchmark. */
export interface S3Server {
  /** "s3rver", or what else serves (MinIO in a container for the tests). */
  readonly name: string
  readonly host: string
  readonly port: number
  readonly accessKey: string
  readonly secretKey: string
  readonly stop: () => Promise<void>
}

const readyTimeout = 15_000

const main = () => {
  try {
    createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js")
  } catch {
    throw new Error("s3rver is not installed: npm install (it is a dev dependency)")
  }
  // From the sources, also when this runs compiled in dist/ (the benchmark).
  return join(packageRoot, "platform", "blobs", "s3rverMain.cjs")
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
  })

export const startS3rver = async (): Promise<S3Server> => {
  const directory = mkdtempSync(join(tmpdir(), "reactor-s3rver-"))
  // Port 0: the server picks a free one and prints it.
  const child = spawn(
    process.execPath,
    [main(), "-d", directory, "-a", "127.0.0.1", "-p", "0", "--silent", "--no-vhost-buckets"],
    { stdio: ["ignore", "pipe", "pipe"] },
  )
  let output = ""
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${output}`)), readyTimeout)
    const read = (data: Buffer) => {
      output += data.toString()
      const listening = /listening on [^:]+:(\d+)/.exec(output)
      if (listening === null) return
      clearTimeout(timer)
      resolve(Number(listening[1]))
    }
    child.stdout?.on("data", read)
    child.stderr?.on("data", read)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`s3rver exited with ${code}: ${output}`))
    })
  }).catch((error) => {
    child.kill("SIGKILL")
    rmSync(directory, { recursive: true, force: true })
    throw error
  })
  return {
    name: "s3rver",
    host: "127.0.0.1",
    port,
    // s3rver's fixed credentials.
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    stop: async () => {
      child.kill("SIGTERM")
      await exited(child)
      rmSync(directory, { recursive: true, force: true })
    },
  }
}

/** What S3BlobStore.make needs to keep its blobs in `bucket` on this server. */
export const storeOptions = (server: S3Server, bucket: string): S3BlobStoreOptions => ({
  endPoint: server.host,
  port: server.port,
  useSSL: false,
  accessKey: server.accessKey,
  secretKey: server.secretKey,
  region: "us-east-1",
  bucket,
  pathStyle: true,
})

/** The environment that makes a Reactor process keep its blobs in `bucket` on this server. */
export const reactorEnv = (server: S3Server, bucket: string): Record<string, string> => ({
  REACTOR_STORAGE_BACKEND: "s3",
  REACTOR_STORAGE_S3_ENDPOINT: `http://${server.host}:${server.port}`,
  REACTOR_STORAGE_S3_BUCKET: bucket,
  REACTOR_STORAGE_S3_ACCESS_KEY: server.accessKey,
  REACTOR_STORAGE_S3_SECRET_KEY: server.secretKey,
})
