// Storage under faults, decomposed (gateway, storage worker and the rest as separate processes):
// a gateway killed -9 in the middle of an upload, and one killed between storing an upload's bytes
// and recording them. Afterwards no partial object is visible, and once the janitor has swept,
// metadata and bytes agree again.
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { Readable } from "node:stream"
import { Effect, Stream } from "effect"
import pg from "pg"
import { afterEach, describe, expect, it } from "vitest"
import * as DiskBlobStore from "../../platform/blobs/DiskBlobStore.ts"
import { reactorEnv, type S3Server, storeOptions } from "../../platform/blobs/LocalS3.ts"
import * as S3BlobStore from "../../platform/blobs/S3BlobStore.ts"
import {
  listeningPort,
  type RunningReactor,
  spawnRole,
  startReactor,
  stopProcess,
  waitFor,
} from "../support/reactor.ts"
import { startS3 } from "../support/s3.ts"

let reactor: RunningReactor | undefined
let s3: S3Server | undefined
afterEach(async () => {
  await reactor?.stop()
  await s3?.stop()
  reactor = undefined
  s3 = undefined
})

const bucket = "reactor-faults"

/** The blob store the reactor uses, seen through the same port, to count what it holds. */
const blobKeys = (running: RunningReactor) => {
  const store =
    s3 === undefined
      ? DiskBlobStore.make(join(running.env["REACTOR_SERVER_DATA_DIR"]!, "storage"))
      : S3BlobStore.make(storeOptions(s3, bucket))
  return Effect.runPromise(Stream.runCollect(store.list(""))).then((blobs) =>
    Array.from(blobs, (b) => b.key).sort(),
  )
}

const recordedKeys = async (running: RunningReactor) => {
  const client = new pg.Client(running.database.url)
  await client.connect()
  try {
    return (
      await client.query<{ blob_key: string }>("select blob_key from storage.objects order by 1")
    ).rows.map((r) => r.blob_key)
  } finally {
    await client.end()
  }
}

const createBucket = async (url: string, key: string, id: string) => {
  const response = await fetch(`${url}/storage/v1/bucket`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ id, name: id, public: false }),
  })
  // The body too, so a refusal says why.
  expect({ status: response.status, body: await response.text() }).toMatchObject({ status: 200 })
}

/** A new storage worker whose janitor sweeps everything at once (no upload is under way). */
const sweepingWorker = (running: RunningReactor) => {
  const worker = spawnRole("storage", { ...running.env, REACTOR_STORAGE_ORPHAN_GRACE_MS: "0" })
  running.processes.set("storage (sweeping)", worker)
  return worker
}

const gatewayAt = async (running: RunningReactor, name: string, env: Record<string, string> = {}) => {
  const gateway = spawnRole("gateway", { ...running.env, ...env })
  running.processes.set(name, gateway)
  await waitFor(() => listeningPort(gateway) !== undefined, `${name} to listen`)
  return `http://127.0.0.1:${listeningPort(gateway)}`
}

describe.each(["disk", "s3"] as const)("Storage under faults (decomposed, %s)", (backend) => {
  const start = async () => {
    s3 = backend === "s3" ? await startS3() : undefined
    reactor = await startReactor("decomposed", { env: s3 === undefined ? {} : reactorEnv(s3, bucket) })
    return reactor
  }

  it("shows no object after a gateway is killed mid-upload, and sweeps what the upload left", async () => {
    const running = await start()
    await createBucket(running.url, running.serviceKey, "uploads")
    // 40 MB at 1 MB per 30 ms: still arriving when the gateway dies.
    const chunk = Buffer.alloc(1024 * 1024, 1)
    let sent = 0
    const body = new Readable({
      read() {
        if (sent >= 40) return this.push(null)
        sent++
        setTimeout(() => this.push(chunk), 30)
      },
    })
    const upload = fetch(`${running.url}/storage/v1/object/uploads/big.bin`, {
      method: "POST",
      headers: { authorization: `Bearer ${running.serviceKey}`, "content-type": "application/octet-stream" },
      body: Readable.toWeb(body) as never,
      duplex: "half",
    } as RequestInit).catch((error: Error) => error)
    await waitFor(() => sent >= 12, "the upload to be under way")
    await stopProcess(running.processes.get("gateway")!, "SIGKILL")
    expect(await upload).toBeInstanceOf(Error)
    expect(await recordedKeys(running)).toEqual([])
    expect(await blobKeys(running)).toEqual([])
    if (backend === "disk") {
      const tmp = join(running.env["REACTOR_SERVER_DATA_DIR"]!, "storage", "tmp")
      const parts = () => (existsSync(tmp) ? readdirSync(tmp).filter((f) => f.endsWith(".part")) : [])
      expect(parts().length).toBeGreaterThan(0)
      await stopProcess(running.processes.get("storage")!)
      sweepingWorker(running)
      await waitFor(() => parts().length === 0, "the janitor to remove the unfinished upload")
    }
    const url = await gatewayAt(running, "gateway (again)")
    const download = await fetch(`${url}/storage/v1/object/uploads/big.bin`, {
      headers: { authorization: `Bearer ${running.serviceKey}` },
    })
    expect(await download.json()).toMatchObject({ statusCode: "404", error: "NoSuchKey" })
  }, 120_000)

  it("puts bytes and metadata back in agreement after a gateway dies between storing and recording", async () => {
    const running = await start()
    await createBucket(running.url, running.serviceKey, "uploads")
    const ok = await fetch(`${running.url}/storage/v1/object/uploads/kept.txt`, {
      method: "POST",
      headers: { authorization: `Bearer ${running.serviceKey}`, "content-type": "text/plain" },
      body: "kept",
    })
    expect(ok.status).toBe(200)
    const faulty = await gatewayAt(running, "gateway (faulty)", { REACTOR_TEST_FAULT: "storage:after-blob" })
    const cut = await fetch(`${faulty}/storage/v1/object/uploads/lost.txt`, {
      method: "POST",
      headers: { authorization: `Bearer ${running.serviceKey}`, "content-type": "text/plain" },
      body: "stored but never recorded",
    }).catch((error: Error) => error)
    expect(cut).toBeInstanceOf(Error)
    const recorded = await recordedKeys(running)
    expect(recorded).toHaveLength(1)
    // The bytes of the cut upload are there, and nothing points at them.
    expect((await blobKeys(running)).length).toBe(2)
    await stopProcess(running.processes.get("storage")!)
    sweepingWorker(running)
    await waitFor(async () => (await blobKeys(running)).length === 1, "the janitor to remove the unused blob")
    expect(await blobKeys(running)).toEqual(recorded)
    const kept = await fetch(`${running.url}/storage/v1/object/uploads/kept.txt`, {
      headers: { authorization: `Bearer ${running.serviceKey}` },
    })
    expect(await kept.text()).toBe("kept")
  }, 120_000)
})

describe("Storage when its S3 server is gone (one process)", () => {
  it("answers uploads and downloads with a 500 in the Storage shape, and keeps serving", async () => {
    s3 = await startS3()
    reactor = await startReactor("single", { env: reactorEnv(s3, "reactor-gone") })
    await createBucket(reactor.url, reactor.serviceKey, "uploads")
    const headers = { authorization: `Bearer ${reactor.serviceKey}` }
    const kept = await fetch(`${reactor.url}/storage/v1/object/uploads/kept.txt`, {
      method: "POST",
      headers: { ...headers, "content-type": "text/plain" },
      body: "kept",
    })
    expect(kept.status).toBe(200)
    await s3.stop()
    s3 = undefined
    const upload = await fetch(`${reactor.url}/storage/v1/object/uploads/new.txt`, {
      method: "POST",
      headers: { ...headers, "content-type": "text/plain" },
      body: "new",
    })
    expect({ status: upload.status, body: await upload.json() }).toMatchObject({
      status: 500,
      body: { statusCode: "500" },
    })
    const download = await fetch(`${reactor.url}/storage/v1/object/uploads/kept.txt`, { headers })
    expect(download.status).toBe(500)
    expect((await fetch(`${reactor.url}/health`)).status).toBe(200)
  }, 60_000)
})
