import { createHash, randomBytes, randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { mkdir, readdir, rename, rm, unlink, utimes, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { Client } from "minio"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as DiskBlobStore from "./DiskBlobStore.ts"
import { type S3rver, startS3rver, storeOptions } from "./LocalS3.ts"
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

  it("hashes a blob again when its MD5 sidecar is missing or describes another file", async () => {
    const { root, store, close } = diskStore()
    const path = join(root, "blobs", "a/b")
    await run(store.put("a/b", once(randomBytes(100)), { limit: 1e6, contentType: "" }))
    await unlink(`${path}.md5`)
    const same = readFileSync(path)
    expect(await run(store.stat("a/b"))).toMatchObject({ size: 100, etag: md5(same) })
    expect(existsSync(`${path}.md5`)).toBe(true)
    // As if the process died between renaming the blob and its sidecar into place: the blob in
    // place is another file (a new inode), which the sidecar does not describe.
    const other = randomBytes(100)
    await writeFile(`${path}.new`, other)
    await rename(`${path}.new`, path)
    expect(await run(store.stat("a/b"))).toMatchObject({ size: 100, etag: md5(other) })
    // The sidecar now describes the file in place.
    expect(readFileSync(`${path}.md5`, "utf8").startsWith(md5(other))).toBe(true)
    await close()
  })
})

let s3: S3rver
beforeAll(async () => {
  s3 = await startS3rver()
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

blobStoreContract("S3BlobStore on s3rver", async () => {
  const options = s3Options()
  const raw = rawClient(options)
  const store = S3BlobStore.make(options)
  return {
    store,
    largeSize: options.partSize,
    temporaries: async () => (await namesUnder(raw, options.bucket, ".tmp/")).length,
    // One part in memory, and what sending it takes.
    memoryBudget: 3 * options.partSize,
    abandonTemporary: async (ageMs) => {
      await run(store.stat("any"))
      // Died after completing its upload, before copying it into place.
      await raw.putObject(options.bucket, `.tmp/${randomUUID()}`, randomBytes(1000))
      // Died midway through a multipart upload: s3rver cannot list these, real S3 cleans them too.
      const key = `.tmp/${randomUUID()}`
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

describe("S3BlobStore", () => {
  it("makes its bucket on first use", async () => {
    const options = s3Options()
    const raw = rawClient(options)
    expect(await raw.bucketExists(options.bucket)).toBe(false)
    const store = S3BlobStore.make(options)
    expect(await run(store.stat("a"))).toBeUndefined()
    expect(await raw.bucketExists(options.bucket)).toBe(true)
  })

  it("keeps the MD5 and content type on the object, also after a multipart upload", async () => {
    const options = s3Options()
    const raw = rawClient(options)
    const store = S3BlobStore.make(options)
    for (const size of [100, options.partSize * 2 + 1]) {
      const bytes = randomBytes(size)
      await run(store.put(`k/${size}`, once(bytes), { limit: 1e9, contentType: "image/png" }))
      const object = await raw.statObject(options.bucket, `k/${size}`)
      expect(object.metaData).toMatchObject({ md5: md5(bytes), "content-type": "image/png" })
    }
    expect(await namesUnder(raw, options.bucket, "")).toEqual(
      ["k/100", `k/${options.partSize * 2 + 1}`].sort(),
    )
  })

  it("hashes an object written by other means once asked", async () => {
    const options = s3Options()
    const raw = rawClient(options)
    const store = S3BlobStore.make(options)
    await run(store.stat("a"))
    const bytes = randomBytes(1000)
    await raw.putObject(options.bucket, "foreign", bytes)
    expect(await run(store.stat("foreign"))).toMatchObject({ size: 1000, etag: md5(bytes) })
    expect(await run(store.copy("foreign", "copied"))).toMatchObject({ size: 1000, etag: md5(bytes) })
    expect((await raw.statObject(options.bucket, "copied")).metaData).toMatchObject({ md5: md5(bytes) })
  })

  it("fails with BlobStoreError when S3 cannot be reached", async () => {
    const store = S3BlobStore.make({ ...s3Options(), port: 1 })
    const error = await run(Effect.flip(store.stat("a")))
    expect(error).toMatchObject({ _tag: "BlobStoreError" })
  })
})
