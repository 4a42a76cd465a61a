// Signed URLs under /storage/v1/object: handed out to a caller who may read (or write) an object,
// then honoured for whoever holds them, without a token of their own, until they expire.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import * as Storage from "../../../contracts/storage.ts"
import type { BlobStore } from "../../../platform/blobs/BlobStore.ts"
import { commandOptions, type HttpRequest } from "../../http/HttpRequest.ts"
import { json } from "../../http/HttpResponse.ts"
import type { Route } from "../../Route.ts"
import type { AuthGateway } from "../auth/AuthGateway.ts"
import { callerOf, service } from "./caller.ts"
import { download, upload } from "./objects.ts"
import { bucketOf, storageRoute, target } from "./route.ts"
import { SignedUrls } from "./SignedUrls.ts"

type Needs = Bus | AuthGateway | BlobStore | SignedUrls

const { errors } = Storage

const expiresIn = (request: HttpRequest) => {
  const value = (request.json as { expiresIn?: unknown } | undefined)?.expiresIn
  return typeof value === "number" && Number.isFinite(value) && value >= 1
    ? Effect.succeed(Math.floor(value))
    : Effect.fail(errors.invalid("expiresIn must be a number of seconds of at least 1"))
}

const sign = "/storage/v1/object/sign"
const uploadSign = "/storage/v1/object/upload/sign"

/** One object's signed download URL, if the caller may read it. */
const signOne = Effect.fnUntraced(function* (
  request: HttpRequest,
  caller: Storage.Caller,
  bucket: string,
  name: string,
  seconds: number,
  timeout: number,
) {
  const bus = yield* Bus
  const urls = yield* SignedUrls
  yield* bus.request(
    Storage.GetObject,
    { caller, bucket, name, public: false },
    { meta: request.meta, timeout },
  )
  const token = yield* urls.sign({ url: `${bucket}/${name}` }, seconds)
  return `/object/sign/${bucket}/${name}?token=${token}`
})

const tokenOf = (request: HttpRequest) => {
  const token = request.query.get("token")
  return token === null || token === ""
    ? Effect.fail(errors.signature("A token is required"))
    : Effect.succeed(token)
}

const handleFollow = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const urls = yield* SignedUrls
  const { bucket, name } = yield* target(request, sign)
  const token = yield* tokenOf(request)
  yield* urls.verify(token, `${bucket}/${name}`).pipe(Effect.mapError(() => errors.signature()))
  const object = yield* bus.request(
    Storage.GetObject,
    { caller: service, bucket, name, public: false },
    { meta: request.meta, timeout },
  )
  return yield* download(request, object)
})

/** Follows a signed download URL: the token stands in for the caller. */
const follow = (timeout: number) => (request: HttpRequest) => handleFollow(request, timeout)

const handleSign = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const caller = yield* callerOf(request)
  const seconds = yield* expiresIn(request)
  const { bucket, name } = yield* target(request, sign)
  return json(200, { signedURL: yield* signOne(request, caller, bucket, name, seconds, timeout) })
})

const handleSignMany = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const caller = yield* callerOf(request)
  const seconds = yield* expiresIn(request)
  const paths = (request.json as { paths?: unknown }).paths
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
    return yield* Effect.fail(errors.invalid("paths must be a list of object names"))
  }
  const bucket = yield* bucketOf(request)
  const signed = yield* Effect.forEach(
    paths as Array<string>,
    (path) =>
      signOne(request, caller, bucket, path, seconds, timeout).pipe(
        Effect.map((signedURL) => ({ error: null, path, signedURL })),
        Effect.catchTag("StorageError", () =>
          Effect.succeed({
            error: "Either the object does not exist or you do not have access to it",
            path,
            signedURL: null,
          }),
        ),
      ),
    { concurrency: 8 },
  )
  return json(200, signed)
})

const handleUploadSign = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const bus = yield* Bus
  const urls = yield* SignedUrls
  const caller = yield* callerOf(request)
  const { bucket, name } = yield* target(request, uploadSign)
  const upsert = request.headers.get("x-upsert") === "true"
  const issued = yield* bus.send(
    Storage.IssueUploadToken,
    { caller, bucket, name, upsert },
    commandOptions(request, timeout),
  )
  const seconds = Math.floor((Date.parse(issued.expires_at) - Date.now()) / 1000)
  const token = yield* urls.sign(
    { url: `${bucket}/${name}`, upload: issued.id, owner: issued.owner, upsert },
    seconds,
  )
  return json(200, { url: `/object/upload/sign/${bucket}/${name}?token=${token}`, token })
})

const handleSignedUpload = Effect.fnUntraced(function* (request: HttpRequest, timeout: number) {
  const urls = yield* SignedUrls
  const { bucket, name } = yield* target(request, uploadSign)
  const token = yield* tokenOf(request)
  const claims = yield* urls
    .verify(token, `${bucket}/${name}`)
    .pipe(Effect.mapError(() => errors.signature()))
  if (claims.upload === undefined) return yield* Effect.fail(errors.signature())
  const uploaded = yield* upload(request, uploadSign, undefined, timeout, {
    caller: service,
    owner: claims.owner ?? null,
    uploadToken: claims.upload,
    upsert: claims.upsert === true,
  })
  return uploaded
})

export const signedRoutes = (timeout: number): ReadonlyArray<Route<Needs>> => [
  storageRoute("post", `${sign}/:bucket/*`, "json", (request) => handleSign(request, timeout)),
  storageRoute("post", `${sign}/:bucket`, "json", (request) => handleSignMany(request, timeout)),
  storageRoute("get", `${sign}/:bucket/*`, "none", follow(timeout)),
  storageRoute("head", `${sign}/:bucket/*`, "none", follow(timeout)),
  storageRoute("post", `${uploadSign}/:bucket/*`, "json", (request) => handleUploadSign(request, timeout)),
  storageRoute("put", `${uploadSign}/:bucket/*`, "stream", (request) => handleSignedUpload(request, timeout)),
]
