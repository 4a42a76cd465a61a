// Blobs as objects in one S3 bucket (AWS, MinIO, R2, s3rver…), through the minio client. S3 makes
// an object visible only once its PUT or multipart upload completes, so a blob is uploaded straight
// to its key; its ETag is the one S3 gives it, as Supabase Storage serves on S3.
import { request as httpRequest, type IncomingMessage } from "node:http"
import { request as httpsRequest } from "node:https"
import { PassThrough, Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Effect, Layer, Stream } from "effect"
import { type BucketItem, Client, CopyDestinationOptions, CopySourceOptions } from "minio"
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
import { type Meter, meterFor, OverLimit } from "./Meter.ts"

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
/** S3's most for one CopyObject, which copy is; puts are held to it too, so every blob can be copied. */
const maxBlobSize = 5 * 1024 * mib
/**
 * Parts of one upload on their way to S3 at once, while the next fills: receiving and sending
 * overlap, and a put holds at most this many parts plus one in memory.
 */
const partsInFlight = 2

const codeOf = (error: unknown) => (error as { code?: unknown } | null)?.code
const isNotFound = (error: unknown) => codeOf(error) === "NoSuchKey" || codeOf(error) === "NotFound"
const orNotFound = (error: unknown): undefined => {
  if (isNotFound(error)) return undefined
  throw error
}
/** ETags arrive quoted from some calls and not others; BlobInfo holds them bare. */
const unquoted = (etag: string) => etag.replace(/^"|"$/g, "")

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

const readText = async (response: IncomingMessage) => {
  let text = ""
  for await (const chunk of response) text += chunk
  return text
}

/** The blobs in `bucket` whose keys start with `prefix`, once `ensureBucket` has made the bucket. */
async function* listing(
  client: Client,
  bucket: string,
  ensureBucket: () => Promise<void>,
  prefix: string,
): AsyncGenerator<BlobEntry> {
  await ensureBucket()
  for await (const item of client.listObjectsV2(bucket, prefix, true) as AsyncIterable<BucketItem>) {
    // Only what this store could have written: nothing else in the bucket is a blob.
    if (item.name === undefined || !isBlobKey(item.name)) continue
    yield { key: item.name, size: item.size, modified: item.lastModified }
  }
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

  /**
   * A multipart upload to `key`, which S3 shows only once `complete` succeeds. Each part's buffer
   * goes to `sent` once S3 has it, for the next part to fill.
   */
  const beginMultipart = async (key: string, contentType: string, sent: (bytes: Buffer) => void) => {
    const uploadId = await client.initiateNewMultipartUpload(bucket, key, { "Content-Type": contentType })
    const parts: Array<{ part: number; etag: string }> = []
    const sending: Array<Promise<void>> = []
    const send = async (part: number, bytes: Buffer) => {
      const { etag } = await client.uploadPart(
        {
          bucketName: bucket,
          objectName: key,
          uploadID: uploadId,
          partNumber: part,
          // No Content-MD5: over plain HTTP the client signs the part's SHA-256 (the server
          // checks it), and over HTTPS TLS does; one more hash of every byte would only cost.
          headers: {},
        },
        bytes,
      )
      parts.push({ part, etag })
      sent(bytes)
    }
    let next = 1
    return {
      /** Starts sending `bytes` as the next part; waits while `partsInFlight` are on their way. */
      add: async (bytes: Buffer) => {
        const sent = send(next++, bytes)
        // Failures surface through `complete` or the next `add`; none goes unhandled meanwhile.
        sent.catch(() => undefined)
        sending.push(sent)
        if (sending.length >= partsInFlight) await sending.shift()
      },
      complete: async () => {
        await Promise.all(sending.splice(0))
        parts.sort((x, y) => x.part - y.part)
        const { etag } = await client.completeMultipartUpload(bucket, key, uploadId, parts)
        return unquoted(etag)
      },
      /** Best effort: cleanTemporary collects what this misses. */
      abandon: async () => {
        await Promise.allSettled(sending)
        await client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined)
      },
    }
  }

  /**
   * A blob whose size is known, streamed in one PUT to a presigned URL (the minio client signs;
   * the payload goes unsigned, as over HTTPS): nothing is held in memory and S3 keeps nothing
   * unless every byte arrives, since a PUT is atomic.
   */
  const stream = async (
    key: string,
    body: Body,
    meter: Meter,
    size: number,
    contentType: string,
    signal: AbortSignal,
  ) => {
    const url = new URL(await client.presignedPutObject(bucket, key, 15 * 60))
    const send = url.protocol === "https:" ? httpsRequest : httpRequest
    const request = send(url, {
      method: "PUT",
      headers: { "content-length": String(size), "content-type": contentType },
      signal,
    })
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      request.once("response", resolve)
      request.once("error", reject)
    })
    // A failed body destroys the request, whose error then is the pipeline's, not another.
    answered.catch(() => undefined)
    await pipeline(body, meter, request, { signal })
    const response = await answered
    const text = await readText(response)
    if (response.statusCode !== 200)
      throw new Error(`PUT answered ${response.statusCode}: ${text.slice(0, 300)}`)
    return { size, etag: unquoted(String(response.headers.etag ?? "")), modified: new Date() }
  }

  const write = async (key: string, body: Body, meter: Meter, contentType: string, signal: AbortSignal) => {
    // Grows up to one part, so a small blob does not take a part's worth of memory: 64 KiB, 1 MiB,
    // then a part. Each outgrown buffer is garbage until the collector runs, so few steps of
    // growth keep a large put's memory near its parts' (a ×4 growth left 5 MiB of it behind).
    let part: Buffer = Buffer.allocUnsafe(Math.min(partSize, 64 * 1024))
    let filled = 0
    let upload: Awaited<ReturnType<typeof beginMultipart>> | undefined
    // Buffers of sent parts, filled again: a put allocates at most partsInFlight + 1 of them.
    const spare: Array<Buffer> = []
    // A full part goes out only when more bytes follow, so a blob of one part is one PUT. A part
    // handed to S3 is its own buffer until sent; the next fills a new one.
    const consume = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        for (let offset = 0; offset < chunk.length; ) {
          if (filled === partSize) {
            upload ??= await beginMultipart(key, contentType, (sent) => spare.push(sent))
            await upload.add(part)
            part = spare.pop() ?? Buffer.allocUnsafe(partSize)
            filled = 0
          } else if (filled === part.length) {
            const larger = Buffer.allocUnsafe(Math.min(partSize, part.length * 16))
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
      signal.throwIfAborted()
      if (upload === undefined) {
        const { etag } = await client.putObject(bucket, key, part.subarray(0, filled), filled, {
          "Content-Type": contentType,
        })
        return { size: filled, etag: unquoted(etag), modified: new Date() }
      }
      await upload.add(part.subarray(0, filled))
      signal.throwIfAborted()
      return { size: meter.size, etag: await upload.complete(), modified: new Date() }
    } catch (error) {
      // The consumer may still be starting the upload or sending a part: abandon what it ends with.
      await consuming.catch(() => undefined)
      await upload?.abandon()
      throw error
    }
  }

  const put: BlobStoreShape["put"] = (key, body, { limit, contentType, size }) => {
    const most = Math.min(limit, maxBlobSize)
    // A large blob of known size goes in one streamed PUT; the rest is buffered in parts.
    const streamed = size !== undefined && size > partSize && size <= most
    return checkKeys(key).pipe(
      Effect.andThen(checkAmount("limit", limit)),
      Effect.andThen(
        Effect.tryPromise({
          try: async (signal) => {
            await ensureBucket()
            const meter = meterFor(body, most, size)
            return streamed
              ? stream(key, body, meter, size, contentType, signal)
              : write(key, body, meter, contentType, signal)
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

  const statOf = async (key: string): Promise<BlobInfo | undefined> => {
    const object = await client.statObject(bucket, key).catch(orNotFound)
    if (object === undefined) return undefined
    return { size: object.size, etag: unquoted(object.etag), modified: object.lastModified }
  }

  const stat: BlobStoreShape["stat"] = (key) =>
    checkKeys(key).pipe(Effect.andThen(attempt(`stat ${key}`, () => statOf(key))))

  const copyOf = async (from: string, to: string): Promise<BlobInfo | undefined> => {
    const source = await client.statObject(bucket, from).catch(orNotFound)
    if (source === undefined) return undefined
    if (source.size > maxBlobSize)
      throw new Error(`${from} is over the ${maxBlobSize} bytes one copy may move`)
    // MatchETag: a source replaced since the stat fails the copy rather than report the wrong size.
    const copied = await client
      .copyObject(
        new CopySourceOptions({ Bucket: bucket, Object: from, MatchETag: source.etag }),
        new CopyDestinationOptions({ Bucket: bucket, Object: to }),
      )
      .catch(orNotFound)
    if (copied === undefined) return undefined
    // A copy keeps the bytes, so S3 keeps the ETag of a single-part object; ask rather than assume.
    const made = await client.statObject(bucket, to)
    return { size: made.size, etag: unquoted(made.etag), modified: made.lastModified }
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

  const list: BlobStoreShape["list"] = (prefix) =>
    Stream.unwrap(
      checkPrefix(prefix).pipe(
        Effect.as(
          Stream.fromAsyncIterable(
            { [Symbol.asyncIterator]: () => listing(client, bucket, ensureBucket, prefix) },
            (cause) => storeError(`list ${prefix}`, cause),
          ),
        ),
      ),
    )

  /** Multipart uploads started before `cutoff` and never completed; none where S3 cannot list them. */
  const staleUploads = async (cutoff: number) => {
    const stale: Array<{ key: string; uploadId: string }> = []
    let keyMarker = ""
    let uploadIdMarker = ""
    for (;;) {
      const page = await client
        .listIncompleteUploadsQuery(bucket, "", keyMarker, uploadIdMarker, "")
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
    const uploads = await staleUploads(Date.now() - olderThanMs)
    for (const { key, uploadId } of uploads) await client.abortMultipartUpload(bucket, key, uploadId)
    return uploads.length
  }

  const cleanTemporary: BlobStoreShape["cleanTemporary"] = (olderThanMs) =>
    checkAmount("age", olderThanMs).pipe(
      Effect.andThen(attempt("clean temporary uploads", () => clean(olderThanMs))),
    )

  return { put, get, stat, copy, remove, list, cleanTemporary }
}

export const layer = (options: S3BlobStoreOptions) => Layer.succeed(BlobStore, make(options))
