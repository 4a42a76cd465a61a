import { createHash, randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync } from "node:fs"
import { mkdir, readdir, rename, rm, utimes, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { Effect } from "effect"
import { Client } from "minio"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { useContainers } from "../../test/support/nats.ts"
import { startMinio } from "../../test/support/s3.ts"
import * as DiskBlobStore from "./DiskBlobStore.ts"
import { type S3Server, startS3rver, storeOptions } from "./LocalS3.ts"
import { recycle } from "./Recycling.ts"
import * as S3BlobStore from "./S3BlobStore.ts"
import { blobStoreContract } from "./test/blobStoreContract.ts"

const mib = 1024 * 1024
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
async function* once(bytes: Buffer) {
  yield bytes
}

const diskStore = () => {
  const root = mkdtempSync(join(tmpdir(), "reactor-blobs-"))
  return { root, store: DiskBlobStore.make(root), close: () => rm(root, { recursive: true, force: true }) }
}

blobStoreContract("DiskBlobStore", async () => {
  const { root, store, close } = diskStore()
  const tmp = join(root, "tmp")
  return {
    store,
    largeSize: mib,
    temporaries: async () => (await readdir(tmp).catch(() => [])).length,
    abandonTemporary: async (ageMs) => {
      await mkdir(tmp, { recursive: true })
      const path = join(tmp, `${randomUUID()}.part`)
      await writeFile(path, randomBytes(1000))
      const then = new Date(Date.now() - ageMs - 60_000)
      await utimes(path, then, then)
    },
    memoryBudget: 8 * mib,
    close,
  }
})

describe("DiskBlobStore", () => {
  it("keeps each blob as a plain file under blobs/, and nothing in tmp/ once done", async () => {
    const { root, store, close } = diskStore()
    const bytes = randomBytes(5000)
    await run(store.put("7f/3a/7f3a-blob", once(bytes), { limit: 1e6, contentType: "" }))
    expect(readFileSync(join(root, "blobs", "7f/3a/7f3a-blob"))).toEqual(bytes)
    expect(await readdir(join(root, "tmp"))).toEqual([])
    await close()
  })

  it("gives each chunk back to a body that takes them, only once it is written", async () => {
    const { root, store, close } = diskStore()
    const pieces = Array.from({ length: 24 }, () => randomBytes(mib))
    const given: Array<Buffer> = []
    // Scribbles over every chunk it gets back at once, as a reused buffer is filled again: a chunk
    // given back before its bytes reached the file would leave scribbles in it.
    const body = Object.assign(Readable.from(pieces.map((piece) => Buffer.from(piece))), {
      [recycle]: (chunk: Buffer) => {
        given.push(chunk)
        chunk.fill(0xee)
      },
    })
    await run(store.put("re/cy/cled", body, { limit: 1e9, contentType: "" }))
    expect(readFileSync(join(root, "blobs", "re/cy/cled")).equals(Buffer.concat(pieces))).toBe(true)
    expect(given).toHaveLength(pieces.length)
    await close()
  })

  it("gives a file put in place by other means (a restore) an ETag of its own", async () => {
    const { root, store, close } = diskStore()
    const path = join(root, "blobs", "a/b")
    const { etag } = await run(store.put("a/b", once(randomBytes(100)), { limit: 1e6, contentType: "" }))
    expect(await run(store.stat("a/b"))).toMatchObject({ size: 100, etag })
    // The same size, written over by another file: its ETag is not the old blob's.
    await writeFile(`${path}.new`, randomBytes(100))
    await rename(`${path}.new`, path)
    const after = await run(store.stat("a/b"))
    expect(after).toMatchObject({ size: 100 })
    expect(after?.etag).not.toBe(etag)
    expect((await run(store.stat("a/b")))?.etag).toBe(after?.etag)
    await close()
  })
})

/** s3rver always; MinIO too where the suite gets its servers from containers (test/support/s3.ts). */
const s3Servers: ReadonlyArray<readonly [string, () => Promise<S3Server>]> = [
  ["s3rver", startS3rver],
  ...(useContainers() ? [["MinIO", startMinio] as const] : []),
]

for (const [name, start] of s3Servers) {
  let s3: S3Server
  beforeAll(async () => {
    s3 = await start()
  })
  afterAll(async () => {
    await s3?.stop()
  })

  const s3Options = (bucket = `t${randomBytes(6).toString("hex")}`) => ({
    ...storeOptions(s3, bucket),
    partSize: 5 * mib,
  })

  const rawClient = (options: ReturnType<typeof s3Options>) =>
    new Client({
      endPoint: options.endPoint,
      port: options.port,
      useSSL: false,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region,
      pathStyle: true,
    })

  const namesUnder = async (client: Client, bucket: string, prefix: string) => {
    if (!(await client.bucketExists(bucket))) return []
    const names: Array<string> = []
    for await (const item of client.listObjectsV2(bucket, prefix, true) as AsyncIterable<{ name?: string }>) {
      if (item.name !== undefined) names.push(item.name)
    }
    return names
  }

  /** Multipart uploads begun and neither completed nor aborted, as the server lists them. */
  const incompleteUploads = async (client: Client, bucket: string) => {
    if (!(await client.bucketExists(bucket))) return 0
    return (await client.listIncompleteUploadsQuery(bucket, "", "", "", "")).uploads.length
  }

  blobStoreContract(`S3BlobStore on ${name}`, async () => {
    const options = s3Options()
    const raw = rawClient(options)
    const store = S3BlobStore.make(options)
    return {
      store,
      largeSize: options.partSize,
      temporaries: () => incompleteUploads(raw, options.bucket),
      // The part filling and those on their way (three), the buffers outgrown on the way to a part,
      // and what the HTTP client and streams hold meanwhile: up to 31 MiB was seen, whatever the
      // blob's size; a store holding the 60 MB blob would exceed it.
      memoryBudget: 8 * options.partSize,
      abandonTemporary: async (ageMs) => {
        await run(store.stat("any"))
        // Died midway through a multipart upload.
        const key = `7f/${randomUUID()}`
        const uploadID = await raw.initiateNewMultipartUpload(options.bucket, key, {})
        await raw.uploadPart(
          { bucketName: options.bucket, objectName: key, uploadID, partNumber: 1, headers: {} },
          randomBytes(1000),
        )
        // S3 keeps whole seconds.
        await sleep(ageMs + 1_100)
      },
      close: async () => undefined,
    }
  })

  describe(`S3BlobStore on ${name}`, () => {
    it("makes its bucket on first use", async () => {
      const options = s3Options()
      const raw = rawClient(options)
      expect(await raw.bucketExists(options.bucket)).toBe(false)
      const store = S3BlobStore.make(options)
      expect(await run(store.stat("a"))).toBeUndefined()
      expect(await raw.bucketExists(options.bucket)).toBe(true)
    })

    it("uploads straight to the key, with its content type and S3's own ETag, also in parts", async () => {
      const options = s3Options()
      const raw = rawClient(options)
      const store = S3BlobStore.make(options)
      for (const size of [100, options.partSize * 3 + 1]) {
        const bytes = randomBytes(size)
        const info = await run(store.put(`k/${size}`, once(bytes), { limit: 1e9, contentType: "image/png" }))
        const object = await raw.statObject(options.bucket, `k/${size}`)
        expect(object.metaData).toMatchObject({ "content-type": "image/png" })
        expect(info.etag).toBe(object.etag.replaceAll('"', ""))
      }
      // One PUT's ETag is the MD5 of its bytes, as S3 makes it.
      const small = randomBytes(1000)
      expect(await run(store.put("k/small", once(small), { limit: 1e9, contentType: "" }))).toMatchObject({
        etag: md5(small),
      })
      expect(await namesUnder(raw, options.bucket, "")).toEqual(
        ["k/100", `k/${options.partSize * 3 + 1}`, "k/small"].sort(),
      )
      expect(await incompleteUploads(raw, options.bucket)).toBe(0)
    })

    it("answers the ETag of an object written by other means, and copies it", async () => {
      const options = s3Options()
      const raw = rawClient(options)
      const store = S3BlobStore.make(options)
      await run(store.stat("a"))
      const bytes = randomBytes(1000)
      await raw.putObject(options.bucket, "foreign", bytes)
      expect(await run(store.stat("foreign"))).toMatchObject({ size: 1000, etag: md5(bytes) })
      expect(await run(store.copy("foreign", "copied"))).toMatchObject({ size: 1000, etag: md5(bytes) })
    })

    it("fails with BlobStoreError when S3 cannot be reached", async () => {
      const store = S3BlobStore.make({ ...s3Options(), port: 1 })
      const error = await run(Effect.flip(store.stat("a")))
      expect(error).toMatchObject({ _tag: "BlobStoreError" })
    })
  })
}
