// Blobs as objects in one S3 bucket (AWS, MinIO, R2, s3rver…), through the minio client. S3 makes
// an object visible only once its PUT or multipart upload completes. The object's own ETag is no
// MD5 after a multipart upload, so every object carries its MD5 as `x-amz-meta-md5`; and since that
// must be set when the object is created, a blob larger than one part is uploaded to `.tmp/<uuid>`
// (never a key: keys start with [a-z0-9]) and copied into place server-side with its MD5.
import { createHash, randomUUID } from "node:crypto"
import { PassThrough, Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Effect, Layer, Stream } from "effect"
import {
  type BucketItem,
  type BucketItemStat,
  Client,
  CopyDestinationOptions,
  CopySourceOptions,
} from "minio"
import { checkAmount, checkKeys, checkPrefix, checkRange } from "./BlobKey.ts"
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
import { Meter, OverLimit } from "./Meter.ts"

export interface S3BlobStoreOptions {
  readonly endPoint: string
  readonly port: number
  readonly useSSL: boolean
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
  /** Made on first use when missing. */
  readonly bucket: string
  /** `http://host/bucket/key` rather than `http://bucket.host/key`: MinIO and s3rver want it. */
  readonly pathStyle: boolean
  /**
   * Bytes a put holds in memory, and the size of each part of a multipart upload: S3 allows 5 MiB
   * to 5 GiB. Blobs up to this size take one PUT. Default 8 MiB.
   */
  readonly partSize?: number
}

const mib = 1024 * 1024
const tempPrefix = ".tmp/"
/** S3's most for one CopyObject, which large puts and copy end with. */
const maxBlobSize = 5 * 1024 * mib

const codeOf = (error: unknown) => (error as { code?: unknown } | null)?.code
const isNotFound = (error: unknown) => codeOf(error) === "NoSuchKey" || codeOf(error) === "NotFound"
const orNotFound = (error: unknown): undefined => {
  if (isNotFound(error)) return undefined
  throw error
}
const isMd5 = (value: unknown): value is string => typeof value === "string" && /^[0-9a-f]{32}$/.test(value)

const storeError = (what: string, cause: unknown) =>
  new BlobStoreError({ message: `S3 blob store: ${what}: ${(cause as Error)?.message ?? cause}`, cause })

type Body = Parameters<BlobStoreShape["put"]>[1]

interface Served {
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
}

async function* slice(source: AsyncIterable<Buffer>, skip: number, take: number) {
  for await (const chunk of source) {
    const from = Math.min(skip, chunk.length)
    skip -= from
    const part = chunk.subarray(from, from + take)
    take -= part.length
    if (part.length > 0) yield part
    if (take === 0) return
  }
}

/**
 * The response cut to `range` where the server sent more: one that ignores Range answers 200 with
 * everything, and s3rver reads `bytes=0-0` as the whole object.
 */
const trimmed = (response: Readable & Served, range: ByteRange): Readable => {
  const served = /^bytes (\d+)-(\d+)\//.exec(String(response.headers["content-range"] ?? ""))
  const start = served === null ? 0 : Number(served[1])
  const end = served === null ? Number.POSITIVE_INFINITY : Number(served[2])
  if (start === range.start && end <= range.end) return response
  return Readable.from(slice(response, range.start - start, range.end - range.start + 1), {
    objectMode: false,
  })
}

export const make = (options: S3BlobStoreOptions): BlobStoreShape => {
  const { bucket, region } = options
  const partSize = options.partSize ?? 8 * mib
  if (!Number.isSafeInteger(partSize) || partSize < 5 * mib || partSize > maxBlobSize) {
    throw new Error(`S3 blob store: partSize must be 5 MiB to 5 GiB, not ${partSize}`)
  }
  const client = new Client({
    endPoint: options.endPoint,
    port: options.port,
    useSSL: options.useSSL,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region,
    pathStyle: options.pathStyle,
  })

  let bucketReady: Promise<void> | undefined
  const ensureBucket = () => {
    bucketReady ??= (async () => {
      if (await client.bucketExists(bucket)) return
      await client.makeBucket(bucket, region).catch((error) => {
        if (codeOf(error) !== "BucketAlreadyOwnedByYou") throw error
      })
    })().catch((error) => {
      bucketReady = undefined
      throw error
    })
    return bucketReady
  }

  const attempt = <A>(what: string, run: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({
      try: async (signal) => {
        await ensureBucket()
        return run(signal)
      },
      catch: (cause) => storeError(what, cause),
    })

  const removeObjects = async (keys: ReadonlyArray<string>) => {
    if (keys.length === 0) return
    const failures = await client.removeObjects(bucket, [...keys])
    if (failures.length > 0) throw new Error(`not removed: ${JSON.stringify(failures.slice(0, 5))}`)
  }

  /** Server-side copy that sets the MD5 (and type) on the new object; answers its Last-Modified. */
  const copyObject = async (from: string, to: string, md5: string, contentType: string, etag?: string) => {
    const result = await client.copyObject(
      new CopySourceOptions({
        Bucket: bucket,
        Object: from,
        ...(etag === undefined ? {} : { MatchETag: etag }),
      }),
      new CopyDestinationOptions({
        Bucket: bucket,
        Object: to,
        MetadataDirective: "REPLACE",
        UserMetadata: { md5 },
        Headers: { "Content-Type": contentType },
      }),
    )
    return new Date("LastModified" in result ? result.LastModified : result.lastModified)
  }

  /** A multipart upload to a temporary key: invisible until `commit` copies it into place. */
  const beginMultipart = async () => {
    const temp = `${tempPrefix}${randomUUID()}`
    const uploadId = await client.initiateNewMultipartUpload(bucket, temp, {})
    const parts: Array<{ part: number; etag: string }> = []
    let completed = false
    return {
      add: async (bytes: Buffer) => {
        const part = parts.length + 1
        const { etag } = await client.uploadPart(
          {
            bucketName: bucket,
            objectName: temp,
            uploadID: uploadId,
            partNumber: part,
            // No Content-MD5: over plain HTTP the client signs the part's SHA-256 (the server
            // checks it), and over HTTPS TLS does; one more hash of every byte would only cost.
            headers: {},
          },
          bytes,
        )
        parts.push({ part, etag })
      },
      commit: async (key: string, md5: string, contentType: string) => {
        await client.completeMultipartUpload(bucket, temp, uploadId, parts)
        completed = true
        const modified = await copyObject(temp, key, md5, contentType)
        await client.removeObject(bucket, temp).catch(() => undefined)
        return modified
      },
      /** Best effort: cleanTemporary collects what this misses. */
      abandon: () =>
        (completed
          ? client.removeObject(bucket, temp)
          : client.abortMultipartUpload(bucket, temp, uploadId)
        ).catch(() => undefined),
    }
  }

  const write = async (key: string, body: Body, limit: number, contentType: string, signal: AbortSignal) => {
    const meter = new Meter(limit)
    // Grows up to one part, so a small blob does not take a part's worth of memory.
    let part = Buffer.allocUnsafe(Math.min(partSize, 64 * 1024))
    let filled = 0
    let upload: Awaited<ReturnType<typeof beginMultipart>> | undefined
    // A full part goes out only when more bytes follow, so a blob of one part is one PUT.
    const consume = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        for (let offset = 0; offset < chunk.length; ) {
          if (filled === partSize) {
            upload ??= await beginMultipart()
            await upload.add(part)
            filled = 0
          } else if (filled === part.length) {
            const larger = Buffer.allocUnsafe(Math.min(partSize, part.length * 4))
            part.copy(larger, 0, 0, filled)
            part = larger
          }
          const copied = chunk.copy(part, filled, offset)
          filled += copied
          offset += copied
        }
      }
    }
    let consuming: Promise<void> = Promise.resolve()
    try {
      await pipeline(body, meter, (source: AsyncIterable<Buffer>) => (consuming = consume(source)), {
        signal,
      })
      const md5 = meter.md5()
      signal.throwIfAborted()
      if (upload === undefined) {
        await client.putObject(bucket, key, part.subarray(0, filled), filled, {
          "Content-Type": contentType,
          "x-amz-meta-md5": md5,
        })
        return { size: filled, etag: md5, modified: new Date() }
      }
      await upload.add(part.subarray(0, filled))
      signal.throwIfAborted()
      return { size: meter.size, etag: md5, modified: await upload.commit(key, md5, contentType) }
    } catch (error) {
      // The consumer may still be starting the upload or sending a part: abandon what it ends with.
      await consuming.catch(() => undefined)
      await upload?.abandon()
      throw error
    }
  }

  const put: BlobStoreShape["put"] = (key, body, { limit, contentType }) => {
    const most = Math.min(limit, maxBlobSize)
    return checkKeys(key).pipe(
      Effect.andThen(checkAmount("limit", limit)),
      Effect.andThen(
        Effect.tryPromise({
          try: async (signal) => {
            await ensureBucket()
            return write(key, body, most, contentType, signal)
          },
          catch: (cause) =>
            cause instanceof OverLimit ? new BlobTooLarge({ limit: most }) : storeError(`put ${key}`, cause),
        }),
      ),
    )
  }

  const open = async (key: string, range: ByteRange | undefined): Promise<Readable | undefined> => {
    try {
      if (range === undefined) return await client.getObject(bucket, key)
      const response = await client.getPartialObject(bucket, key, range.start, range.end - range.start + 1)
      return trimmed(response as Readable & Served, range)
    } catch (error) {
      // Asked from past the end: empty, as a file read there is.
      if (codeOf(error) === "InvalidRange") return new PassThrough().end()
      return orNotFound(error)
    }
  }

  const get: BlobStoreShape["get"] = (key, range) =>
    checkKeys(key).pipe(
      Effect.andThen(checkRange(range)),
      Effect.andThen(attempt(`get ${key}`, () => open(key, range))),
      Effect.flatMap((stream) =>
        stream === undefined ? Effect.fail(new BlobNotFound({ key })) : Effect.succeed(stream),
      ),
    )

  /** The MD5 put stored; an object written by other means is hashed once, by reading it. */
  const md5Of = async (key: string, object: BucketItemStat) => {
    const stored = object.metaData["md5"]
    if (isMd5(stored)) return stored
    const md5 = createHash("md5")
    for await (const chunk of await client.getObject(bucket, key)) md5.update(chunk)
    return md5.digest("hex")
  }

  const statOf = async (key: string): Promise<BlobInfo | undefined> => {
    const object = await client.statObject(bucket, key).catch(orNotFound)
    if (object === undefined) return undefined
    return { size: object.size, etag: await md5Of(key, object), modified: object.lastModified }
  }

  const stat: BlobStoreShape["stat"] = (key) =>
    checkKeys(key).pipe(Effect.andThen(attempt(`stat ${key}`, () => statOf(key))))

  const copyOf = async (from: string, to: string): Promise<BlobInfo | undefined> => {
    const source = await client.statObject(bucket, from).catch(orNotFound)
    if (source === undefined) return undefined
    if (source.size > maxBlobSize)
      throw new Error(`${from} is over the ${maxBlobSize} bytes one copy may move`)
    const md5 = await md5Of(from, source)
    const contentType = String(source.metaData["content-type"] ?? "application/octet-stream")
    // MatchETag: a source replaced since the stat fails the copy rather than get the wrong MD5.
    const modified = await copyObject(from, to, md5, contentType, source.etag).catch(orNotFound)
    return modified === undefined ? undefined : { size: source.size, etag: md5, modified }
  }

  const copy: BlobStoreShape["copy"] = (from, to) =>
    checkKeys(from, to).pipe(
      Effect.andThen(attempt(`copy ${from} to ${to}`, () => copyOf(from, to))),
      Effect.flatMap((info) =>
        info === undefined ? Effect.fail(new BlobNotFound({ key: from })) : Effect.succeed(info),
      ),
    )

  const remove: BlobStoreShape["remove"] = (keys) =>
    checkKeys(...keys).pipe(Effect.andThen(attempt("remove", () => removeObjects(keys))))

  const objects = (prefix: string) => client.listObjectsV2(bucket, prefix, true) as AsyncIterable<BucketItem>

  async function* listing(prefix: string): AsyncGenerator<BlobEntry> {
    await ensureBucket()
    for await (const item of objects(prefix)) {
      if (item.name === undefined || item.name.startsWith(tempPrefix)) continue
      yield { key: item.name, size: item.size, modified: item.lastModified }
    }
  }

  const list: BlobStoreShape["list"] = (prefix) =>
    Stream.unwrap(
      checkPrefix(prefix).pipe(
        Effect.as(
          Stream.fromAsyncIterable({ [Symbol.asyncIterator]: () => listing(prefix) }, (cause) =>
            storeError(`list ${prefix}`, cause),
          ),
        ),
      ),
    )

  /** Multipart uploads under the temporary prefix started before `cutoff`; none where S3 cannot list them. */
  const staleUploads = async (cutoff: number) => {
    const stale: Array<{ key: string; uploadId: string }> = []
    let keyMarker = ""
    let uploadIdMarker = ""
    for (;;) {
      const page = await client
        .listIncompleteUploadsQuery(bucket, tempPrefix, keyMarker, uploadIdMarker, "")
        .catch((error) => {
          // s3rver (and some other S3 imitations) cannot list uploads.
          if (codeOf(error) === "NotImplemented") return undefined
          throw error
        })
      if (page === undefined) return stale
      stale.push(...page.uploads.filter((upload) => upload.initiated.getTime() < cutoff))
      if (!page.isTruncated || page.nextKeyMarker === "") return stale
      keyMarker = page.nextKeyMarker
      uploadIdMarker = page.nextUploadIdMarker
    }
  }

  const clean = async (olderThanMs: number) => {
    const cutoff = Date.now() - olderThanMs
    const uploads = await staleUploads(cutoff)
    for (const { key, uploadId } of uploads) await client.abortMultipartUpload(bucket, key, uploadId)
    // Uploads that completed but were never copied into place (the process died in between).
    const leftovers: Array<string> = []
    for await (const item of objects(tempPrefix)) {
      if (item.name !== undefined && item.lastModified.getTime() < cutoff) leftovers.push(item.name)
    }
    await removeObjects(leftovers)
    return uploads.length + leftovers.length
  }

  const cleanTemporary: BlobStoreShape["cleanTemporary"] = (olderThanMs) =>
    checkAmount("age", olderThanMs).pipe(
      Effect.andThen(attempt("clean temporary uploads", () => clean(olderThanMs))),
    )

  return { put, get, stat, copy, remove, list, cleanTemporary }
}

export const layer = (options: S3BlobStoreOptions) => Layer.succeed(BlobStore, make(options))
