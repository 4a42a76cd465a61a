// The storage worker: buckets and objects' metadata on the bus, in the "storage" group. It holds
// the blob store too: to copy bytes, to remove bytes nothing points at once their removal has
// committed, and for the janitor.
import { Effect, Layer } from "effect"
import { Bus } from "../../bus/Bus.ts"
import * as Storage from "../../contracts/storage.ts"
import { BlobStore, type BlobStoreShape } from "../../platform/blobs/BlobStore.ts"
import { ReactorConfig } from "../../platform/config/Config.ts"
import { Postgres } from "../../platform/postgres/Postgres.ts"
import {
  CreateBucket,
  DeleteBucket,
  EmptyBucket,
  GetBucket,
  ListBuckets,
  UpdateBucket,
} from "./handlers/buckets.ts"
import type { Garbage } from "./handlers/common.ts"
import {
  CopyObject,
  GetObject,
  IssueUploadToken,
  ListObjects,
  ListObjectsV2,
  MoveObject,
  PrepareUpload,
  PutObject,
  RemoveObjects,
} from "./handlers/objects.ts"
import * as Janitor from "./Janitor.ts"

export interface WorkerOptions {
  readonly concurrency?: number
  readonly ackWait?: number
}

/** Serves every storage command and query with `blobs` as the blob store. */
export const serve = Effect.fnUntraced(function* (blobs: BlobStoreShape, options: WorkerOptions = {}) {
  const bus = yield* Bus
  const config = yield* ReactorConfig
  const settings = { fileSizeLimit: config.storage.file_size_limit }
  // A failure leaves the bytes to the janitor, which removes blobs no object points at.
  const garbage: Garbage = {
    collect: (keys) =>
      keys.length === 0
        ? Effect.void
        : blobs
            .remove(keys)
            .pipe(
              Effect.catch((error) =>
                Effect.logWarning(`left ${keys.length} unused blobs to the janitor: ${error.message}`),
              ),
            ),
  }
  const copyBlob = (from: string, to: string) =>
    blobs.copy(from, to).pipe(
      Effect.catchTag("BlobNotFound", () => Effect.fail(Storage.errors.noSuchKey())),
      Effect.catchTag("BlobStoreError", (error) => Effect.die(error)),
      Effect.asVoid,
    )
  const handlers = yield* Effect.all([
    CreateBucket,
    UpdateBucket,
    DeleteBucket,
    EmptyBucket(garbage),
    GetBucket,
    ListBuckets,
    PrepareUpload(settings),
    PutObject(settings, garbage),
    GetObject,
    ListObjects,
    ListObjectsV2,
    RemoveObjects(garbage),
    MoveObject,
    CopyObject(settings, garbage, copyBlob),
    IssueUploadToken,
  ])
  yield* bus.serve({ group: "storage", handlers, ...options })
})

/** Serves with the configured blob store and forks the janitor into the layer's scope. */
const start = Effect.fnUntraced(function* (options: WorkerOptions) {
  const blobs = yield* BlobStore
  const config = yield* ReactorConfig
  yield* serve(blobs, options)
  yield* Effect.forkScoped(
    Janitor.run(yield* Postgres, blobs, {
      graceMs: config.storage.orphan_grace_ms,
      intervalMs: config.storage.janitor_interval_ms,
    }),
  )
})

/** The worker and its janitor, with the configured blob store. */
export const layer = (options: WorkerOptions = {}) => Layer.effectDiscard(start(options))
