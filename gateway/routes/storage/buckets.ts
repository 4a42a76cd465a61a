// /storage/v1/bucket: buckets as storage-js manages them.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Storage from "../../../contracts/storage.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { json } from "../../http/HttpResponse.ts"
import type { Route } from "../../Route.ts"
import type { AuthGateway } from "../auth/AuthGateway.ts"
import { callerOf } from "./caller.ts"
import { bucketOf, storageRoute } from "./route.ts"

type Needs = Bus | AuthGateway

/** Bucket actions storage-js sends without a body (empty, delete) read it as `{}`. */
const bucketRoute = (...[method, path, body, handle]: Parameters<typeof storageRoute<Needs>>) =>
  storageRoute(method, path, body, handle, true)

type BucketCommand = typeof Storage.EmptyBucket | typeof Storage.DeleteBucket

const handleBucketCommand = Effect.fnUntraced(function* (
  request: HttpRequest,
  contract: BucketCommand,
  message: string,
  timeout: number,
) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  yield* bus.send(contract, { caller, id: yield* bucketOf(request) }, commandOptions(request, timeout))
  return json(200, { message })
})

/** A command on one bucket that needs nothing but its id, answered with storage-js's message. */
const bucketCommand = (
  method: "post" | "del",
  path: string,
  contract: BucketCommand,
  message: string,
  timeout: number,
) => bucketRoute(method, path, "json", (request) => handleBucketCommand(request, contract, message, timeout))

const settingKeys = ["public", "file_size_limit", "allowed_mime_types"] as const

/** The settings a request body gives; storage-js leaves out those not set. */
const settingsOf = (body: unknown): typeof Storage.BucketSettings.Type | Storage.StorageError => {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>
  const limit = b.file_size_limit
  const types = b.allowed_mime_types
  if (b.public !== undefined && typeof b.public !== "boolean")
    return Storage.errors.invalid("public must be a boolean")
  const size =
    limit === undefined || limit === null
      ? null
      : typeof limit === "number"
        ? limit
        : typeof limit === "string" && /^\d+$/.test(limit)
          ? Number(limit)
          : Number.NaN
  if (Number.isNaN(size)) return Storage.errors.invalid("file_size_limit must be a number of bytes")
  if (
    types !== undefined &&
    types !== null &&
    !(Array.isArray(types) && types.every((t) => typeof t === "string"))
  ) {
    return Storage.errors.invalid("allowed_mime_types must be a list of MIME types")
  }
  return {
    public: b.public === true,
    file_size_limit: size,
    allowed_mime_types: (types as Array<string> | null | undefined) ?? null,
    unset: settingKeys.filter((k) => b[k] === undefined),
  }
}

const fail = (error: Storage.StorageError) => Effect.fail(error)

const listBuckets = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const q = request.query
  const int = (name: string) => {
    const v = q.get(name)
    return v !== null && /^\d+$/.test(v) ? Number(v) : null
  }
  const buckets = yield* bus.request(
    Storage.ListBuckets,
    {
      caller,
      limit: int("limit"),
      offset: int("offset"),
      search: q.get("search") || null,
      sort_column: q.get("sortColumn") || null,
      sort_order: q.get("sortOrder") || null,
    },
    { meta: request.meta, timeout },
  )
  return json(200, buckets)
})

const getBucket = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  return json(
    200,
    yield* bus.request(
      Storage.GetBucket,
      { caller, id: yield* bucketOf(request) },
      { meta: request.meta, timeout },
    ),
  )
})

const createBucket = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const body = request.json as { id?: unknown; name?: unknown }
  const id = typeof body.id === "string" ? body.id : typeof body.name === "string" ? body.name : undefined
  if (id === undefined) return yield* fail(Storage.errors.invalid("body must have required property 'name'"))
  const settings = settingsOf(body)
  if (settings instanceof Storage.StorageError) return yield* fail(settings)
  const name = typeof body.name === "string" ? body.name : id
  const created = yield* bus.send(
    Storage.CreateBucket,
    { caller, id, name, settings },
    commandOptions(request, timeout),
  )
  return json(200, created)
})

const updateBucket = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const caller = yield* callerOf(request)
  const settings = settingsOf(request.json)
  if (settings instanceof Storage.StorageError) return yield* fail(settings)
  yield* bus.send(
    Storage.UpdateBucket,
    { caller, id: yield* bucketOf(request), settings },
    commandOptions(request, timeout),
  )
  return json(200, { message: "Successfully updated" })
})

export const bucketRoutes = (timeout: number): ReadonlyArray<Route<Needs>> => [
  bucketRoute("get", "/storage/v1/bucket", "none", (request) => listBuckets(request, timeout)),
  bucketRoute("get", "/storage/v1/bucket/:id", "none", (request) => getBucket(request, timeout)),
  bucketRoute("post", "/storage/v1/bucket", "json", (request) => createBucket(request, timeout)),
  bucketRoute("put", "/storage/v1/bucket/:id", "json", (request) => updateBucket(request, timeout)),
  bucketCommand("post", "/storage/v1/bucket/:id/empty", Storage.EmptyBucket, "Successfully emptied", timeout),
  bucketCommand("del", "/storage/v1/bucket/:id", Storage.DeleteBucket, "Successfully deleted", timeout),
]
