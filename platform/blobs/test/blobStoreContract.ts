// The behaviour every BlobStore adapter must have. BlobStore.test.ts runs it unchanged against
// DiskBlobStore and S3BlobStore; each test works under a key prefix of its own.
import { createHash, randomBytes } from "node:crypto"
import { Readable } from "node:stream"
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { BlobEntry, BlobInfo, BlobStoreShape } from "../BlobStore.ts"

export interface BlobStoreHarness {
  /** A store of its own, empty. */
  readonly store: BlobStoreShape
  /** Bytes past which a put takes the adapter's way for large blobs (S3: its part size). */
  readonly largeSize: number
  /** How many pieces of temporary data (part files, temporary objects) puts left now. */
  readonly temporaries: () => Promise<number>
  /** Leaves temporary data as a crashed put would, older than `ageMs` by the time it resolves. */
  readonly abandonTemporary: (ageMs: number) => Promise<void>
  /** Most the bytes held in Buffers may grow by while 60 MB stream into put (less than 60 MB); unset: not measured. */
  readonly memoryBudget?: number
  readonly close: () => Promise<void>
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect))
const dies = async (effect: Effect.Effect<unknown, unknown>) => {
  const exit = await Effect.runPromiseExit(effect)
  return Exit.isFailure(exit) && Cause.hasDies(exit.cause)
}

const mib = 1024 * 1024
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const readAll = async (stream: AsyncIterable<Uint8Array>) => {
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks)
}

/** A body of `bytes` in chunks, counting what the store pulled from it. */
const source = (bytes: Buffer, chunkSize = 64 * 1024) => {
  const pulled = { bytes: 0 }
  async function* chunks() {
    for (let at = 0; at < bytes.length; at += chunkSize) {
      const chunk = bytes.subarray(at, at + chunkSize)
      pulled.bytes += chunk.length
      yield chunk
    }
  }
  return { body: chunks(), pulled }
}

/** `first`, then a wait until `release` (or `fail`), then `rest`: a put caught midway. */
const gated = (first: Buffer, rest: Buffer = Buffer.alloc(0)) => {
  let reached!: () => void
  let open!: (error?: Error) => void
  const whenReached = new Promise<void>((resolve) => {
    reached = resolve
  })
  const gate = new Promise<Error | undefined>((resolve) => {
    open = resolve
  })
  async function* chunks() {
    yield* source(first).body
    reached()
    const error = await gate
    if (error !== undefined) throw error
    yield* source(rest).body
  }
  return { body: chunks(), reached: whenReached, release: () => open(), fail: (error: Error) => open(error) }
}

/**
 * `size` bytes as chunks taken in turn from a few distinct ones, so the body itself allocates
 * nothing while it streams and the process's growth is the store's; their MD5 once all were pulled.
 */
const generated = (size: number, chunkSize = 64 * 1024) => {
  const ring = Array.from({ length: 16 }, () => randomBytes(chunkSize))
  const hash = createHash("md5")
  // Bytes held in Buffers (ArrayBuffers), not RSS: the process's RSS also moves with V8 growing
  // its heap, by more than a budget of a few parts, whatever the store does.
  let peak = process.memoryUsage().arrayBuffers
  async function* chunks() {
    for (let at = 0, n = 0; at < size; at += chunkSize, n++) {
      const chunk = ring[n % ring.length]!.subarray(0, Math.min(chunkSize, size - at))
      hash.update(chunk)
      peak = Math.max(peak, process.memoryUsage().arrayBuffers)
      yield chunk
    }
  }
  let digest: string | undefined
  return { body: chunks(), md5: () => (digest ??= hash.digest("hex")), peakBuffers: () => peak }
}

/** Length and MD5: toEqual on megabytes walks every byte, slowly. */
const same = (bytes: Buffer) => ({ length: bytes.length, md5: md5(bytes) })

/** What an ETag may look like: bare (no quotes), and safe inside a quoted HTTP header value. */
const anEtag = expect.stringMatching(/^[0-9A-Za-z_-]{8,64}$/)

const keysOf = (entries: ReadonlyArray<BlobEntry>) => entries.map((entry) => entry.key).sort()

export const blobStoreContract = (name: string, makeHarness: () => Promise<BlobStoreHarness>) =>
  describe(`${name} (BlobStore contract)`, () => {
    let harness: BlobStoreHarness
    let store: BlobStoreShape
    beforeAll(async () => {
      harness = await makeHarness()
      store = harness.store
    })
    afterAll(async () => {
      await harness?.close()
    })

    const prefix = () => `t${randomBytes(6).toString("hex")}`
    const put = (key: string, bytes: Buffer, limit = Number.POSITIVE_INFINITY) =>
      run(store.put(key, source(bytes).body, { limit, contentType: "application/octet-stream" }))
    const get = async (key: string, range?: { start: number; end: number }) =>
      readAll(await run(store.get(key, range)))
    const list = (prefix: string) => run(Stream.runCollect(store.list(prefix)))
    const expectNothingAt = async (key: string) => {
      expect(await run(store.stat(key))).toBeUndefined()
      expect(await failure(store.get(key))).toMatchObject({ _tag: "BlobNotFound", key })
      expect(keysOf(await list(key))).not.toContain(key)
    }
    /** The bytes at `key`, and the ETag its put or copy answered where the test has it. */
    const expectBlob = async (key: string, bytes: Buffer, etag?: string) => {
      expect(same(await get(key))).toEqual(same(bytes))
      expect(await run(store.stat(key))).toMatchObject({ size: bytes.length, etag: etag ?? anEtag })
    }
    /** Cleanup after a failed or interrupted put may finish just after it returns. */
    const expectNoTemporaries = async () => {
      const deadline = Date.now() + 5_000
      while ((await harness.temporaries()) > 0 && Date.now() < deadline) await sleep(20)
      expect(await harness.temporaries()).toBe(0)
    }

    describe("put and get", () => {
      it("give back the bytes put, with their size and an ETag", async () => {
        const key = `${prefix()}/blob`
        const bytes = randomBytes(100_000)
        const info = await put(key, bytes)
        expect(info).toMatchObject({ size: bytes.length, etag: anEtag })
        expect(Math.abs(info.modified.getTime() - Date.now())).toBeLessThan(60_000)
        expect(same(await get(key))).toEqual(same(bytes))
        const stat = (await run(store.stat(key))) as BlobInfo
        expect(stat).toMatchObject({ size: bytes.length, etag: info.etag })
        expect(Math.abs(stat.modified.getTime() - info.modified.getTime())).toBeLessThan(2_000)
      })

      it("store an empty blob", async () => {
        const key = `${prefix()}/empty`
        expect(await put(key, Buffer.alloc(0))).toMatchObject({ size: 0, etag: anEtag })
        expect(await get(key)).toHaveLength(0)
      })

      it("take a Node stream as the body, and a blob over the small-blob size", async () => {
        const key = `${prefix()}/node-stream`
        const bytes = randomBytes(harness.largeSize * 2 + 1234)
        const body = Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)])
        const info = await run(store.put(key, body, { limit: bytes.length, contentType: "image/png" }))
        expect(info).toMatchObject({ size: bytes.length, etag: anEtag })
        await expectBlob(key, bytes, info.etag)
      })

      it("stream 60 MB in and out without holding them in memory", async () => {
        const key = `${prefix()}/large`
        const size = 60 * 1024 * 1024
        const before = process.memoryUsage().arrayBuffers
        const body = generated(size)
        const info = await run(store.put(key, body.body, { limit: size, contentType: "video/mp4" }))
        expect(info).toMatchObject({ size, etag: anEtag })
        const grew = body.peakBuffers() - before
        if (harness.memoryBudget !== undefined) expect(grew).toBeLessThan(harness.memoryBudget)

        // A slow reader: the store reads ahead no more than a stream's buffer while it waits.
        const stream = await run(store.get(key))
        const read = createHash("md5")
        let length = 0
        for await (const chunk of stream) {
          read.update(chunk as Buffer)
          length += (chunk as Buffer).length
          if (length === (chunk as Buffer).length) {
            await sleep(200)
            expect(stream.readableLength).toBeLessThanOrEqual(mib)
          }
        }
        expect({ length, md5: read.digest("hex") }).toEqual({ length: size, md5: body.md5() })
        expect(await run(store.stat(key))).toMatchObject({ size, etag: info.etag })
      })

      it("take a body of announced size, large or small, and refuse one that ends short or runs long", async () => {
        for (const length of [1000, harness.largeSize * 3 + 17]) {
          const key = `${prefix()}/sized-${length}`
          const bytes = randomBytes(length)
          const info = await run(
            store.put(key, source(bytes).body, { limit: length, contentType: "image/png", size: length }),
          )
          expect(info).toMatchObject({ size: length, etag: anEtag })
          await expectBlob(key, bytes, info.etag)
        }
        const short = `${prefix()}/short`
        const bytes = randomBytes(harness.largeSize * 2)
        const failed = await failure(
          store.put(short, source(bytes).body, {
            limit: bytes.length * 2,
            contentType: "",
            size: bytes.length + 1,
          }),
        )
        expect(failed).toMatchObject({ _tag: "BlobStoreError" })
        await expectNothingAt(short)
        const long = `${prefix()}/long`
        expect(
          await failure(
            store.put(long, source(bytes).body, {
              limit: bytes.length * 2,
              contentType: "",
              size: bytes.length - 1,
            }),
          ),
        ).toMatchObject({ _tag: "BlobTooLarge" })
        await expectNothingAt(long)
        // An announced size over the limit is refused before a byte is read.
        const over = `${prefix()}/over`
        expect(
          await failure(store.put(over, source(bytes).body, { limit: 10, contentType: "", size: 11 })),
        ).toMatchObject({ _tag: "BlobTooLarge" })
        await expectNothingAt(over)
        await expectNoTemporaries()
      })

      it("fail with BlobNotFound for a key with no blob", async () => {
        const key = `${prefix()}/missing`
        expect(await failure(store.get(key))).toMatchObject({ _tag: "BlobNotFound", key })
        expect(await failure(store.get(key, { start: 0, end: 1 }))).toMatchObject({
          _tag: "BlobNotFound",
          key,
        })
        expect(await run(store.stat(key))).toBeUndefined()
      })
    })

    describe("get of a range", () => {
      it("returns exactly the bytes asked for, clipped to the blob", async () => {
        const key = `${prefix()}/ranged`
        const bytes = randomBytes(harness.largeSize + 1000)
        const size = bytes.length
        await put(key, bytes)
        const edge = harness.largeSize
        for (const [start, end] of [
          [0, 0],
          [1, 10],
          [edge - 5, edge + 5],
          [0, size - 1],
          [size - 1, size - 1],
          [size - 10, size + 100],
        ] as const) {
          expect(same(await get(key, { start, end })), `${start}-${end}`).toEqual(
            same(bytes.subarray(start, end + 1)),
          )
        }
        expect(await get(key, { start: size, end: size + 10 })).toHaveLength(0)
      })
    })

    describe("a put over the limit", () => {
      it("fails with BlobTooLarge, stores nothing and reads no further", async () => {
        const key = `${prefix()}/too-large`
        const body = source(randomBytes(200_000), 1000)
        const error = await failure(store.put(key, body.body, { limit: 10, contentType: "text/plain" }))
        expect(error).toMatchObject({ _tag: "BlobTooLarge", limit: 10 })
        expect(body.pulled.bytes).toBeLessThan(100_000)
        await expectNothingAt(key)
        await expectNoTemporaries()
      })

      it("fails past the small-blob size too, leaving the previous blob", async () => {
        const key = `${prefix()}/too-large`
        const previous = randomBytes(1000)
        await put(key, previous)
        const limit = harness.largeSize + 10
        const body = source(randomBytes(harness.largeSize * 3))
        const error = await failure(store.put(key, body.body, { limit, contentType: "text/plain" }))
        expect(error).toMatchObject({ _tag: "BlobTooLarge" })
        expect(body.pulled.bytes).toBeLessThan(harness.largeSize * 3)
        await expectBlob(key, previous)
        await expectNoTemporaries()
      })

      it("succeeds at exactly the limit", async () => {
        const key = `${prefix()}/at-limit`
        const bytes = randomBytes(1000)
        expect(await put(key, bytes, 1000)).toMatchObject({ size: 1000 })
      })
    })

    describe("a put that does not finish", () => {
      it("stores nothing when its body fails midway", async () => {
        const key = `${prefix()}/broken`
        for (const size of [1000, harness.largeSize + 1000]) {
          const body = gated(randomBytes(size))
          body.fail(new Error("client went away"))
          const error = await failure(store.put(key, body.body, { limit: 1e9, contentType: "text/plain" }))
          expect(error).toMatchObject({ _tag: "BlobStoreError" })
          await expectNothingAt(key)
        }
        await expectNoTemporaries()
      })

      it("keeps the previous blob when its body fails midway", async () => {
        const key = `${prefix()}/broken`
        const previous = randomBytes(5000)
        await put(key, previous)
        const body = gated(randomBytes(harness.largeSize + 1000))
        body.fail(new Error("client went away"))
        await failure(store.put(key, body.body, { limit: 1e9, contentType: "text/plain" }))
        await expectBlob(key, previous)
        await expectNoTemporaries()
      })

      it("stores nothing when interrupted", async () => {
        const key = `${prefix()}/interrupted`
        const body = gated(randomBytes(harness.largeSize + 1000), randomBytes(1000))
        const fiber = Effect.runFork(store.put(key, body.body, { limit: 1e9, contentType: "text/plain" }))
        await body.reached
        await sleep(100)
        await run(Fiber.interrupt(fiber))
        body.release()
        await sleep(200)
        await expectNothingAt(key)
        await expectNoTemporaries()
      })
    })

    describe("a reader during a put", () => {
      const during = async (key: string, check: () => Promise<void>) => {
        const first = randomBytes(harness.largeSize + 1000)
        const rest = randomBytes(1000)
        const body = gated(first, rest)
        const fiber = Effect.runFork(store.put(key, body.body, { limit: 1e9, contentType: "text/plain" }))
        await body.reached
        await sleep(100)
        await check()
        body.release()
        const info = await run(Fiber.join(fiber))
        const bytes = Buffer.concat([first, rest])
        expect(info).toMatchObject({ size: bytes.length, etag: anEtag })
        await expectBlob(key, bytes, info.etag)
      }

      it("sees no blob when there was none", async () => {
        const key = `${prefix()}/new`
        await during(key, () => expectNothingAt(key))
      })

      it("sees the previous blob whole", async () => {
        const key = `${prefix()}/replaced`
        const previous = randomBytes(3000)
        await put(key, previous)
        await during(key, async () => {
          await expectBlob(key, previous)
          expect(await list(key)).toMatchObject([{ key, size: previous.length }])
        })
      })
    })

    describe("replacing", () => {
      it("puts over a blob, small and large either way, and the ETag changes with the bytes", async () => {
        const key = `${prefix()}/replaced`
        const seen = new Set<string>()
        for (const size of [10, harness.largeSize + 10, 20, 0]) {
          const bytes = randomBytes(size)
          const { etag } = await put(key, bytes)
          await expectBlob(key, bytes, etag)
          seen.add(etag)
        }
        expect(seen.size).toBe(4)
      })
    })

    describe("copy", () => {
      it("makes a second blob with the same bytes, over any blob there", async () => {
        const base = prefix()
        for (const size of [1000, harness.largeSize + 1000]) {
          const bytes = randomBytes(size)
          await put(`${base}/from`, bytes)
          await put(`${base}/to`, randomBytes(10))
          const info = await run(store.copy(`${base}/from`, `${base}/to`))
          expect(info).toMatchObject({ size, etag: anEtag })
          await expectBlob(`${base}/to`, bytes, info.etag)
          await expectBlob(`${base}/from`, bytes)
        }
      })

      it("fails with BlobNotFound when the source has no blob", async () => {
        const base = prefix()
        expect(await failure(store.copy(`${base}/nothing`, `${base}/to`))).toMatchObject({
          _tag: "BlobNotFound",
          key: `${base}/nothing`,
        })
        await expectNothingAt(`${base}/to`)
      })
    })

    describe("remove", () => {
      it("removes blobs and ignores keys with none", async () => {
        const base = prefix()
        await put(`${base}/a`, randomBytes(10))
        await put(`${base}/b/c`, randomBytes(10))
        await run(store.remove([`${base}/a`, `${base}/never`, `${base}/b/c`]))
        await expectNothingAt(`${base}/a`)
        await expectNothingAt(`${base}/b/c`)
        expect(await list(base)).toEqual([])
        await run(store.remove([]))
        await run(store.remove([`${base}/a`]))
      })
    })

    describe("list", () => {
      it("yields every blob under a prefix, with its size", async () => {
        const base = prefix()
        const sizes = {
          [`${base}/a/1`]: 1,
          [`${base}/a/2`]: 2,
          [`${base}/ab/1`]: 3,
          [`${base}/b/1`]: 4,
          [`${base}x/1`]: 5,
        }
        for (const [key, size] of Object.entries(sizes)) await put(key, randomBytes(size))
        const entries = await list(`${base}/`)
        expect(keysOf(entries)).toEqual([`${base}/a/1`, `${base}/a/2`, `${base}/ab/1`, `${base}/b/1`])
        for (const entry of entries) {
          expect(entry.size).toBe(sizes[entry.key])
          expect(Math.abs(entry.modified.getTime() - Date.now())).toBeLessThan(60_000)
        }
        expect(keysOf(await list(`${base}/a/`))).toEqual([`${base}/a/1`, `${base}/a/2`])
        expect(keysOf(await list(`${base}/a`))).toEqual([`${base}/a/1`, `${base}/a/2`, `${base}/ab/1`])
        expect(keysOf(await list(`${base}/a/1`))).toEqual([`${base}/a/1`])
        expect(keysOf(await list(`${base}/c`))).toEqual([])
        expect(keysOf(await list(""))).toEqual(expect.arrayContaining(Object.keys(sizes)))
      })

      it("can be stopped early", async () => {
        const base = prefix()
        for (let i = 0; i < 5; i++) await put(`${base}/${i}`, randomBytes(1))
        expect(await run(Stream.runCollect(Stream.take(store.list(base), 2)))).toHaveLength(2)
      })
    })

    describe("keys", () => {
      const invalid = [
        "../x",
        "/abs",
        "a//b",
        "a/../b",
        "Upper",
        "ünïcode",
        "a/",
        "",
        "a.b",
        "a\\b",
        "a b",
        "x".repeat(300),
      ]

      it("refuses anything Reactor would never make, as a defect", async () => {
        const ok = `${prefix()}/ok`
        await put(ok, randomBytes(10))
        for (const key of invalid) {
          const body = source(randomBytes(10)).body
          expect(await dies(store.put(key, body, { limit: 100, contentType: "text/plain" })), key).toBe(true)
          expect(await dies(store.get(key)), key).toBe(true)
          expect(await dies(store.stat(key)), key).toBe(true)
          expect(await dies(store.copy(ok, key)), key).toBe(true)
          expect(await dies(store.copy(key, ok)), key).toBe(true)
          expect(await dies(store.remove([ok, key])), key).toBe(true)
        }
        for (const bad of ["../", "/a", "A", "a//", "é"]) {
          expect(await dies(Stream.runCollect(store.list(bad))), bad).toBe(true)
        }
        expect(await run(store.stat(ok))).toMatchObject({ size: 10 })
      })

      it("refuses a bad range or limit, as a defect", async () => {
        const key = `${prefix()}/ok`
        await put(key, randomBytes(10))
        for (const range of [
          { start: -1, end: 2 },
          { start: 3, end: 2 },
          { start: 0.5, end: 2 },
        ]) {
          expect(await dies(store.get(key, range))).toBe(true)
        }
        expect(await dies(store.put(key, source(randomBytes(1)).body, { limit: -1, contentType: "" }))).toBe(
          true,
        )
        expect(await dies(store.cleanTemporary(-1))).toBe(true)
      })
    })

    describe("cleanTemporary", () => {
      it("removes what puts that never finished left, once old enough", async () => {
        await harness.abandonTemporary(1_000)
        expect(await harness.temporaries()).toBeGreaterThan(0)
        expect(await run(store.cleanTemporary(3_600_000))).toBe(0)
        expect(await run(store.cleanTemporary(1_000))).toBeGreaterThanOrEqual(1)
        expect(await harness.temporaries()).toBe(0)
      })

      it("leaves a put in progress alone", async () => {
        const key = `${prefix()}/in-progress`
        const first = randomBytes(harness.largeSize + 1000)
        const body = gated(first)
        const fiber = Effect.runFork(store.put(key, body.body, { limit: 1e9, contentType: "text/plain" }))
        await body.reached
        await sleep(100)
        expect(await run(store.cleanTemporary(60_000))).toBe(0)
        body.release()
        const info = await run(Fiber.join(fiber))
        expect(info).toMatchObject({ size: first.length, etag: anEtag })
        await expectBlob(key, first, info.etag)
      })
    })
  })
