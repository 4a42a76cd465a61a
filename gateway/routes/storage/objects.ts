// /storage/v1/object: bytes streamed between the client and the blob store, metadata on the bus.
// An upload asks the worker first (policies, type, size), streams the body to the store counting
// bytes against the limit, then records it; a download asks for the object, then streams its blob.
import type { Readable } from "node:stream"
import busboy from "busboy"
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Storage from "../../../contracts/storage.ts"
import { BlobStore, type ByteRange } from "../../../platform/blobs/BlobStore.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { type HttpResponse, json } from "../../http/HttpResponse.ts"
import type { Route } from "../../Route.ts"
import type { AuthGateway } from "../auth/AuthGateway.ts"
import { anonymous, callerOf } from "./caller.ts"
import { byteRange } from "./range.ts"
import { bucketOf, storageRoute, target } from "./route.ts"

type Needs = Bus | AuthGateway | BlobStore

const { errors } = Storage

/**
 * Test hook: REACTOR_TEST_FAULT=storage:after-blob kills this process (SIGKILL) once an upload's
 * bytes are stored and before they are recorded, so the fault tests can prove the janitor puts
 * metadata and bytes back in agreement. Unset in normal runs.
 */
const dieAfterBlob = process.env["REACTOR_TEST_FAULT"] === "storage:after-blob"

const userMetadataOf = (text: string | undefined, base64: boolean) => {
  if (text === undefined || text === "") return Effect.succeed(null)
  try {
    const parsed = JSON.parse(base64 ? Buffer.from(text, "base64").toString("utf8") : text) as unknown
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return Effect.succeed(parsed as Storage.StoredObject["user_metadata"])
    }
  } catch {}
  return Effect.fail(errors.invalid("metadata must be a JSON object"))
}

/** storage-js sends cacheControl as seconds; a raw upload's header may be a whole directive. */
const cacheControlOf = (value: string | undefined) =>
  value === undefined || value === "" ? "no-cache" : /^\d+$/.test(value) ? `max-age=${value}` : value

interface Incoming {
  readonly body: Readable
  readonly mimetype: string
  readonly cacheControl: string
  readonly userMetadata: Storage.StoredObject["user_metadata"]
}

/**
 * The file part of a multipart form (storage-js uploads Blobs and Files this way), once its
 * headers have arrived; the fields before it (cacheControl, metadata) are read on the way.
 */
const multipartFile = (request: HttpRequest, stream: Readable) =>
  Effect.callback<Incoming, Storage.StorageError>((resume) => {
    const fields = new Map<string, string>()
    let parser: busboy.Busboy
    try {
      parser = busboy({ headers: Object.fromEntries(request.headers), limits: { files: 1, fields: 20 } })
    } catch {
      resume(Effect.fail(errors.invalid("the multipart body has no boundary")))
      return
    }
    let found = false
    parser.on("field", (name, value) => fields.set(name, value))
    parser.on("file", (_name, file, info) => {
      found = true
      const metadata = userMetadataOf(fields.get("metadata"), false)
      resume(
        Effect.map(metadata, (userMetadata) => ({
          body: file,
          mimetype: info.mimeType || "application/octet-stream",
          cacheControl: cacheControlOf(fields.get("cacheControl")),
          userMetadata,
        })),
      )
    })
    parser.on("error", () => {
      if (!found) resume(Effect.fail(errors.invalid("the multipart body is malformed")))
    })
    parser.on("close", () => {
      if (!found) resume(Effect.fail(errors.invalid("the multipart body has no file")))
    })
    stream.pipe(parser)
  })

const incoming = (request: HttpRequest): Effect.Effect<Incoming, Storage.StorageError> => {
  const stream = request.stream!
  const type = request.headers.get("content-type") ?? "application/octet-stream"
  if (/^multipart\/form-data/i.test(type)) return multipartFile(request, stream)
  return Effect.map(userMetadataOf(request.headers.get("x-metadata"), true), (userMetadata) => ({
    body: stream,
    mimetype: type,
    cacheControl: cacheControlOf(request.headers.get("cache-control")),
    userMetadata,
  }))
}

/** Who an upload speaks for when a signed upload URL, not a token, lets it in. */
export interface UploadGrant {
  readonly caller: Storage.Caller
  readonly owner: string | null
  readonly uploadToken: string
  readonly upsert: boolean
}

/** Upload: prepare (nothing stored yet), stream to the blob store, record. */
export const upload = Effect.fnUntraced(function* (
  request: HttpRequest,
  prefix: string,
  upsert: boolean | undefined,
  timeout: number,
  grant?: UploadGrant,
) {
  const bus = yield* Bus
  const blobs = yield* BlobStore
  const caller = grant?.caller ?? (yield* callerOf(request))
  const { bucket, name } = yield* target(request, prefix)
  const replace = grant?.upsert ?? upsert ?? request.headers.get("x-upsert") === "true"
  const declared = request.headers.get("content-length")
  const multipart = /^multipart\/form-data/i.test(request.headers.get("content-type") ?? "")
  const body = yield* incoming(request)
  // A form's length includes its boundaries and fields: only a raw body's is the object's.
  const size = declared !== undefined && !multipart && /^\d+$/.test(declared) ? Number(declared) : null
  const plan = yield* bus.request(
    Storage.PrepareUpload,
    {
      caller,
      bucket,
      name,
      upsert: replace,
      mimetype: body.mimetype,
      size,
      upload_token: grant?.uploadToken ?? null,
    },
    { meta: request.meta, timeout },
  )
  const stored = yield* blobs
    .put(plan.blob_key, body.body, {
      limit: plan.limit,
      contentType: body.mimetype,
      ...(size === null ? {} : { size }),
    })
    .pipe(Effect.catchTag("BlobTooLarge", () => Effect.fail(errors.tooLarge())))
  if (dieAfterBlob) process.kill(process.pid, "SIGKILL")
  const recorded = yield* bus
    .send(
      Storage.PutObject,
      {
        caller,
        bucket,
        name,
        upsert: replace,
        blob_key: plan.blob_key,
        size: stored.size,
        etag: stored.etag,
        mimetype: body.mimetype,
        cache_control: body.cacheControl,
        user_metadata: body.userMetadata,
        owner: grant?.owner ?? null,
        upload_token: grant?.uploadToken ?? null,
      },
      commandOptions(request, timeout),
    )
    // Not recorded, so nobody will ever read these bytes.
    .pipe(Effect.tapError(() => Effect.ignore(blobs.remove([plan.blob_key]))))
  return json(200, { Id: recorded.id, Key: `${bucket}/${name}` })
})

const quoted = (etag: string) => (etag.startsWith('"') ? etag : `"${etag}"`)

/** Download or HEAD: the object as its metadata says, ranges and revalidation included. */
export const download = Effect.fnUntraced(function* (request: HttpRequest, object: Storage.StoredObject) {
  const blobs = yield* BlobStore
  const size = object.metadata.size
  const etag = quoted(object.metadata.eTag)
  const headers: Record<string, string> = {
    "content-type": object.metadata.mimetype,
    "cache-control": object.metadata.cacheControl,
    etag,
    "last-modified": new Date(object.updated_at).toUTCString(),
    "accept-ranges": "bytes",
  }
  const name = request.query.get("download")
  if (name !== null) {
    const filename = name === "" ? (object.name.split("/").pop() ?? object.name) : name
    headers["content-disposition"] = `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`
  }
  const ifNoneMatch = request.headers.get("if-none-match")
  if (ifNoneMatch?.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return { status: 304, headers } satisfies HttpResponse
  }
  const asked = request.headers.get("range")
  let range: ByteRange | undefined
  let status = 200
  if (asked !== undefined) {
    const parsed = byteRange(asked, size)
    if (parsed === "unsatisfiable") {
      return yield* Effect.fail(errors.range())
    }
    if (parsed !== undefined) {
      range = parsed
      status = 206
      headers["content-range"] = `bytes ${parsed.start}-${parsed.end}/${size}`
    }
  }
  const length = range === undefined ? size : range.end - range.start + 1
  if (request.method === "HEAD" || length === 0) return { status, headers, length } satisfies HttpResponse
  const body = yield* blobs
    .get(object.blob_key, range)
    .pipe(Effect.catchTag("BlobNotFound", () => Effect.fail(errors.noSuchKey())))
  return { status, headers, stream: { body, length } } satisfies HttpResponse
})

const handleRead = Effect.fnUntraced(function* (
  request: HttpRequest,
  prefix: string,
  access: "caller" | "public",
  timeout: number,
) {
  const bus = yield* Bus
  const caller = access === "public" ? anonymous : yield* callerOf(request)
  const { bucket, name } = yield* target(request, prefix)
  const object = yield* bus.request(
    Storage.GetObject,
    { caller, bucket, name, public: access === "public" },
    { meta: request.meta, timeout },
  )
  return yield* download(request, object)
})

const read = (prefix: string, access: "caller" | "public", timeout: number) => (request: HttpRequest) =>
  handleRead(request, prefix, access, timeout)

const handleInfo = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const { bucket, name } = yield* target(request, "/storage/v1/object/info")
  const o = yield* bus.request(
    Storage.GetObject,
    { caller, bucket, name, public: false },
    { meta: request.meta, timeout },
  )
  return json(200, {
    id: o.id,
    name: o.name,
    version: o.version,
    bucket_id: o.bucket_id,
    size: o.metadata.size,
    content_type: o.metadata.mimetype,
    cache_control: o.metadata.cacheControl,
    etag: quoted(o.metadata.eTag),
    metadata: o.user_metadata,
    last_modified: o.updated_at,
    created_at: o.created_at,
  })
})

/** A list's `sortBy`: a column it may sort by (name by default) and an order (ascending by default). */
const sortOf = <C extends string>(
  sortBy: { column?: unknown; order?: unknown } | undefined,
  columns: Set<C>,
) => {
  const column = typeof sortBy?.column === "string" ? sortBy.column : "name"
  return columns.has(column as C)
    ? Effect.succeed({
        sort_column: column as C,
        sort_order: (sortBy?.order === "desc" ? "desc" : "asc") as "asc" | "desc",
      })
    : Effect.fail(errors.invalid(`cannot sort by ${column}`))
}

const sortColumns = new Set(["name", "updated_at", "created_at", "last_accessed_at"] as const)

const handleList = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const body = (request.json ?? {}) as {
    prefix?: unknown
    limit?: unknown
    offset?: unknown
    search?: unknown
    sortBy?: { column?: unknown; order?: unknown }
  }
  const sort = yield* sortOf(body.sortBy, sortColumns)
  const entries = yield* bus.request(
    Storage.ListObjects,
    {
      caller,
      bucket: yield* bucketOf(request),
      prefix: typeof body.prefix === "string" ? body.prefix : "",
      limit: typeof body.limit === "number" ? Math.trunc(body.limit) : 100,
      offset: typeof body.offset === "number" ? Math.trunc(body.offset) : 0,
      search: typeof body.search === "string" ? body.search : "",
      ...sort,
    },
    { meta: request.meta, timeout },
  )
  return json(200, entries)
})

const sortColumnsV2 = new Set(["name", "updated_at", "created_at"] as const)

/** The v2 list's cursor: where the next page starts, opaque to the client. */
const cursorOf = (text: unknown) => {
  if (typeof text !== "string" || text === "") return 0
  const offset = Number(Buffer.from(text, "base64url").toString("utf8"))
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined
}

const handleListV2 = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const body = (request.json ?? {}) as {
    prefix?: unknown
    limit?: unknown
    cursor?: unknown
    with_delimiter?: unknown
    sortBy?: { column?: unknown; order?: unknown }
  }
  const sort = yield* sortOf(body.sortBy, sortColumnsV2)
  const offset = cursorOf(body.cursor)
  if (offset === undefined)
    return yield* Effect.fail(errors.invalid("the cursor is not one this server gave"))
  const limit = typeof body.limit === "number" ? Math.trunc(body.limit) : 1000
  const page = yield* bus.request(
    Storage.ListObjectsV2,
    {
      caller,
      bucket: yield* bucketOf(request),
      prefix: typeof body.prefix === "string" ? body.prefix : "",
      limit,
      offset,
      with_delimiter: body.with_delimiter === true,
      ...sort,
    },
    { meta: request.meta, timeout },
  )
  const next = offset + page.folders.length + page.objects.length
  return json(200, {
    hasNext: page.has_next,
    folders: page.folders,
    objects: page.objects,
    ...(page.has_next ? { nextCursor: Buffer.from(String(next)).toString("base64url") } : {}),
  })
})

const handleRemove = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const prefixes = (request.json as { prefixes?: unknown }).prefixes
  if (!Array.isArray(prefixes) || !prefixes.every((p) => typeof p === "string")) {
    return yield* Effect.fail(errors.invalid("body must have required property 'prefixes'"))
  }
  const removed = yield* bus.send(
    Storage.RemoveObjects,
    { caller, bucket: yield* bucketOf(request), names: prefixes as Array<string> },
    commandOptions(request, timeout),
  )
  return json(
    200,
    removed.map((o) => ({
      name: o.name,
      id: o.id,
      bucket_id: o.bucket_id,
      owner: o.owner,
      updated_at: o.updated_at,
      created_at: o.created_at,
      last_accessed_at: o.last_accessed_at,
      metadata: o.metadata,
    })),
  )
})

/** Move and copy take the same body: bucketId, sourceKey, destinationKey, destinationBucket. */
const relocation = (request: HttpRequest) => {
  const body = (request.json ?? {}) as Record<string, unknown>
  const text = (name: string) => (typeof body[name] === "string" ? (body[name] as string) : undefined)
  const bucket = text("bucketId")
  const from = text("sourceKey")
  const to = text("destinationKey")
  if (bucket === undefined || from === undefined || to === undefined) {
    return Effect.fail(errors.invalid("body must have bucketId, sourceKey and destinationKey"))
  }
  return Effect.succeed({ bucket, from, to, destination_bucket: text("destinationBucket") || bucket })
}

const handleMove = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const where = yield* relocation(request)
  yield* bus.send(Storage.MoveObject, { caller, ...where }, commandOptions(request, timeout))
  return json(200, { message: "Successfully moved" })
})

const handleCopy = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const where = yield* relocation(request)
  const copied = yield* bus.send(
    Storage.CopyObject,
    { caller, ...where, upsert: request.headers.get("x-upsert") === "true" },
    commandOptions(request, timeout),
  )
  return json(200, { Id: copied.id, Key: `${copied.bucket_id}/${copied.name}` })
})

const object = "/storage/v1/object"

export const objectRoutes = (timeout: number): ReadonlyArray<Route<Needs>> => [
  storageRoute("post", `${object}/list/:bucket`, "json", (request) => handleList(request, timeout)),
  storageRoute("post", `${object}/list-v2/:bucket`, "json", (request) => handleListV2(request, timeout)),
  storageRoute("post", `${object}/move`, "json", (request) => handleMove(request, timeout)),
  storageRoute("post", `${object}/copy`, "json", (request) => handleCopy(request, timeout)),
  storageRoute("get", `${object}/info/:bucket/*`, "none", (request) => handleInfo(request, timeout)),
  storageRoute("get", `${object}/public/:bucket/*`, "none", read(`${object}/public`, "public", timeout)),
  storageRoute("head", `${object}/public/:bucket/*`, "none", read(`${object}/public`, "public", timeout)),
  storageRoute(
    "get",
    `${object}/authenticated/:bucket/*`,
    "none",
    read(`${object}/authenticated`, "caller", timeout),
  ),
  storageRoute(
    "head",
    `${object}/authenticated/:bucket/*`,
    "none",
    read(`${object}/authenticated`, "caller", timeout),
  ),
  storageRoute("post", `${object}/:bucket/*`, "stream", (request) =>
    upload(request, object, undefined, timeout),
  ),
  storageRoute("put", `${object}/:bucket/*`, "stream", (request) => upload(request, object, true, timeout)),
  storageRoute("get", `${object}/:bucket/*`, "none", read(object, "caller", timeout)),
  storageRoute("head", `${object}/:bucket/*`, "none", read(object, "caller", timeout)),
  storageRoute("del", `${object}/:bucket`, "json", (request) => handleRemove(request, timeout)),
]
