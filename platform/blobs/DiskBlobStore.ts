// Blobs as plain files under `root/blobs/<key>`, written to `root/tmp/<uuid>.part`, synced, and
// renamed into place: a reader opens the old file or the new one, never part of one. Both
// directories must be on one filesystem.
import { createHash, randomUUID } from "node:crypto"
import type { BigIntStats } from "node:fs"
import { type FileHandle, lstat, mkdir, open, opendir, readdir, rename, rm, unlink } from "node:fs/promises"
import { dirname, join } from "node:path"
import { type Readable, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Effect, Layer, Stream } from "effect"
import { checkAmount, checkKeys, checkPrefix, checkRange, isBlobKey } from "./BlobKey.ts"
import {
  type BlobEntry,
  type BlobInfo,
  BlobNotFound,
  BlobStore,
  BlobStoreError,
  type BlobStoreShape,
  BlobTooLarge,
  type ByteRange,
} from "./BlobStore.ts"
import { makeDirs, orMissing, syncDir } from "./Durable.ts"
import { meterFor, OverLimit } from "./Meter.ts"
import { giveBack } from "./Recycling.ts"

const storeError = (what: string, cause: unknown) =>
  new BlobStoreError({ message: `disk blob store: ${what}: ${(cause as Error)?.message ?? cause}`, cause })

const attempt = <A>(what: string, run: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => storeError(what, cause) })

/**
 * The ETag of the file now at `key`: a digest of the key and the file's identity (size, mtime in
 * nanoseconds, inode), as web servers make theirs. Every put and copy lands a new file (a rename
 * brings a new inode), so the ETag changes with the bytes, and stat answers it without reading them:
 * an MD5 of each upload would cost more CPU than receiving it.
 */
const etagOf = (key: string, file: BigIntStats) =>
  createHash("sha256")
    .update(`${key}\u0000${file.size} ${file.mtimeNs} ${file.ino}`)
    .digest("hex")
    .slice(0, 32)

const infoOf = (key: string, file: BigIntStats): BlobInfo => ({
  size: Number(file.size),
  etag: etagOf(key, file),
  modified: file.mtime,
})

/**
 * Runs `step`, and when it fails for a missing directory, makes it and runs `step` again: most
 * puts find their directories there, and checking first would cost each one more file operation.
 */
const makingDirs = <A>(step: () => Promise<A>, make: () => Promise<unknown>): Promise<A> =>
  step().catch(async (error) => {
    if ((error as { code?: unknown } | null)?.code !== "ENOENT") throw error
    await make()
    return step()
  })

/** The blobs under `blobs/dir` whose keys start with `prefix`, descending only where one may. */
async function* walk(blobs: string, dir: string, prefix: string): AsyncGenerator<BlobEntry> {
  const entries = await opendir(dir === "" ? blobs : join(blobs, dir)).catch(orMissing)
  if (entries === undefined) return
  for await (const entry of entries) {
    const key = dir === "" ? entry.name : `${dir}/${entry.name}`
    if (entry.isDirectory()) {
      if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(blobs, key, prefix)
    } else if (entry.isFile() && isBlobKey(key) && key.startsWith(prefix)) {
      const file = await lstat(join(blobs, key)).catch(orMissing)
      if (file !== undefined) yield { key, size: file.size, modified: file.mtime }
    }
  }
}

/** Writes every byte of `buffers`, again from where a short write stopped. */
const writeAll = async (handle: FileHandle, buffers: ReadonlyArray<Buffer>) => {
  let rest = buffers
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest as Array<Buffer>)
    let next = 0
    while (next < rest.length && bytesWritten >= rest[next]!.length) bytesWritten -= rest[next++]!.length
    rest = next < rest.length ? [rest[next]!.subarray(bytesWritten), ...rest.slice(next + 1)] : []
  }
}

/**
 * Where a put's bytes go: several MiB may wait for the disk, so writes leave as large writev calls
 * while more arrives, and the file is fsynced at the end (each file operation is a trip through
 * libuv's thread pool, which on a small upload costs more than its bytes). Each chunk, once written,
 * goes back to the body that made it (see Recycling.ts).
 */
const fileSink = (handle: FileHandle, body: unknown) =>
  new Writable({
    highWaterMark: 4 * 1024 * 1024,
    writev: (chunks, done) => {
      const buffers = chunks.map(({ chunk }) => chunk as Buffer)
      writeAll(handle, buffers).then(() => {
        for (const buffer of buffers) giveBack(body, buffer)
        done()
      }, done)
    },
    final: (done) => {
      handle.sync().then(() => done(), done)
    },
  })

export const make = (root: string): BlobStoreShape => {
  const blobs = join(root, "blobs")
  const tmp = join(root, "tmp")
  const pathOf = (key: string) => join(blobs, key)

  const write = async (
    key: string,
    body: Parameters<BlobStoreShape["put"]>[1],
    limit: number,
    size: number | undefined,
    signal: AbortSignal,
  ) => {
    const meter = meterFor(body, limit, size)
    const temp = join(tmp, `${randomUUID()}.part`)
    // Opened before the `try`: a put that could not create its temporary file has none to remove.
    const handle = await makingDirs(
      () => open(temp, "wx"),
      () => mkdir(tmp, { recursive: true }),
    )
    let placed = false
    try {
      await pipeline(body, meter, fileSink(handle, body), { signal })
      const file = await lstat(temp, { bigint: true })
      signal.throwIfAborted()
      const path = pathOf(key)
      await makingDirs(
        () => rename(temp, path),
        () => makeDirs(dirname(path)),
      )
      placed = true
      await syncDir(dirname(path))
      // A rename keeps the inode, size and mtime: these are the stats of the file in place.
      return infoOf(key, file)
    } finally {
      await handle.close().catch(() => undefined)
      if (!placed) await rm(temp, { force: true }).catch(() => undefined)
    }
  }

  const put: BlobStoreShape["put"] = (key, body, { limit, size }) =>
    checkKeys(key).pipe(
      Effect.andThen(checkAmount("limit", limit)),
      Effect.andThen(
        Effect.tryPromise({
          try: (signal) => write(key, body, limit, size, signal),
          catch: (cause) =>
            cause instanceof OverLimit ? new BlobTooLarge({ limit }) : storeError(`put ${key}`, cause),
        }),
      ),
    )

  const openBlob = async (key: string, range: ByteRange | undefined): Promise<Readable | undefined> => {
    const handle = await open(pathOf(key), "r").catch(orMissing)
    if (handle === undefined) return undefined
    const isFile = await handle.stat().then(
      (file) => file.isFile(),
      () => false,
    )
    if (!isFile) {
      await handle.close()
      return undefined
    }
    // Large reads: each chunk is one trip through the stream and one write to the socket.
    const highWaterMark = 1024 * 1024
    return handle.createReadStream(
      range === undefined ? { highWaterMark } : { highWaterMark, start: range.start, end: range.end },
    )
  }

  const get: BlobStoreShape["get"] = (key, range) =>
    checkKeys(key).pipe(
      Effect.andThen(checkRange(range)),
      Effect.andThen(attempt(`get ${key}`, () => openBlob(key, range))),
      Effect.flatMap((stream) =>
        stream === undefined ? Effect.fail(new BlobNotFound({ key })) : Effect.succeed(stream),
      ),
    )

  const statOf = async (key: string): Promise<BlobInfo | undefined> => {
    const file = await lstat(pathOf(key), { bigint: true }).catch(orMissing)
    return file === undefined || !file.isFile() ? undefined : infoOf(key, file)
  }

  const stat: BlobStoreShape["stat"] = (key) =>
    checkKeys(key).pipe(Effect.andThen(attempt(`stat ${key}`, () => statOf(key))))

  // A copy is a put of the source's bytes: the same atomic, synced write, and a new file.
  const copy: BlobStoreShape["copy"] = (from, to) =>
    checkKeys(from, to).pipe(
      Effect.andThen(
        Effect.acquireUseRelease(
          get(from),
          (source) => put(to, source, { limit: Number.POSITIVE_INFINITY, contentType: "" }),
          (source) => Effect.sync(() => source.destroy()),
        ),
      ),
      Effect.catchTag("BlobTooLarge", (error) => Effect.die(error)),
    )

  const unlinkIfPresent = (path: string) => unlink(path).catch(orMissing)

  const remove: BlobStoreShape["remove"] = (keys) =>
    checkKeys(...keys).pipe(
      Effect.andThen(attempt("remove", () => Promise.all(keys.map((key) => unlinkIfPresent(pathOf(key)))))),
      Effect.asVoid,
    )

  const list: BlobStoreShape["list"] = (prefix) =>
    Stream.unwrap(
      checkPrefix(prefix).pipe(
        Effect.as(
          Stream.fromAsyncIterable(
            // Start in the deepest directory the prefix names in full.
            {
              [Symbol.asyncIterator]: () =>
                walk(blobs, prefix.slice(0, Math.max(0, prefix.lastIndexOf("/"))), prefix),
            },
            (cause) => storeError(`list ${prefix}`, cause),
          ),
        ),
      ),
    )

  const clean = async (olderThanMs: number) => {
    const cutoff = Date.now() - olderThanMs
    let removed = 0
    for (const name of (await readdir(tmp).catch(orMissing)) ?? []) {
      if (!name.endsWith(".part")) continue
      const file = await lstat(join(tmp, name)).catch(orMissing)
      if (file === undefined || file.mtimeMs >= cutoff) continue
      await rm(join(tmp, name), { force: true })
      removed++
    }
    return removed
  }

  const cleanTemporary: BlobStoreShape["cleanTemporary"] = (olderThanMs) =>
    checkAmount("age", olderThanMs).pipe(
      Effect.andThen(attempt("clean temporary files", () => clean(olderThanMs))),
    )

  return { put, get, stat, copy, remove, list, cleanTemporary }
}

export const layer = (root: string) => Layer.succeed(BlobStore, make(root))
