// What every Storage route shares: its protocol (errors in the Storage API's shape, no apikey at
// the door, as behind Supabase's gateway) and reading the bucket and object name from its path.
import { Effect } from "effect"
import { errors } from "../../../contracts/storage.ts"
import type { BlobStoreError } from "../../../platform/blobs/BlobStore.ts"
import { infrastructureDies } from "../../../platform/infrastructure.ts"
import type { RenderableError } from "../../http/errors.ts"
import type { HttpRequest } from "../../http/HttpRequest.ts"
import type { HttpResponse } from "../../http/HttpResponse.ts"
import { type Method, type Route, route } from "../../Route.ts"

export const storageRoute = <R>(
  method: Method,
  path: string,
  body: "none" | "json" | "stream",
  handle: (request: HttpRequest) => Effect.Effect<HttpResponse, RenderableError | BlobStoreError, R>,
  /** An empty JSON body reads as `{}` (bucket actions storage-js sends without one). */
  emptyBody = false,
): Route<R> =>
  route({
    method,
    path,
    protocol: "storage",
    apiKey: false,
    body,
    emptyBody,
    // A blob store that fails (a full disk, S3 unreachable) is not the client's doing: a defect,
    // which the server logs and answers as a 500 in the Storage shape. Every JSON body the Storage
    // API takes is an object; `null`, a number or an array is refused as it refuses them.
    handle: (request) =>
      body === "json" &&
      (typeof request.json !== "object" || request.json === null || Array.isArray(request.json))
        ? Effect.fail(errors.invalid("body must be object"))
        : infrastructureDies(handle(request)),
  })

const decoded = (text: string) => {
  try {
    return Effect.succeed(decodeURIComponent(text))
  } catch {
    return Effect.fail(errors.invalidKey(text))
  }
}

/** The route's first parameter (a bucket id), decoded. */
export const bucketOf = (request: HttpRequest) => decoded(request.params[0]!)

/** The bucket (a parameter) and the object's name (the rest of the path after `prefix`), decoded. */
export const target = (request: HttpRequest, prefix: string) => {
  const bucket = request.params[0]!
  const rest = request.path.slice(prefix.length + 1 + bucket.length + 1)
  return Effect.all({ bucket: decoded(bucket), name: decoded(rest) })
}
