// The storage worker: buckets and objects' metadata on the bus, in the "storage" group. It holds
// the blob store too, to remove bytes nothing points at once their removal has committed.
import { Effect, Layer } from "effect"
import { Bus } from "../../bus/Bus.ts"
import { BlobStore } from "../../platform/blobs/BlobStore.ts"
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
import { GetObject, ListObjects, PrepareUpload, PutObject, RemoveObjects } from "./handlers/objects.ts"
import * as Janitor from "./Janitor.ts"

export interface WorkerOptions {
  readonly concurrency?: number
  readonly ackWait?: number
}

/**
 * Serves every storage command and query; `garbage` removes the bytes of committed removals and
 * replacements (the blob store's remove, in a running process).
 */
export const serve = (garbage: Garbage, options: WorkerOptions = {}) =>
  Effect.gen(function* () {
    const bus = yield* Bus
    const config = yield* ReactorConfig
    const settings = { fileSizeLimit: config.storage.file_size_limit }
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
      RemoveObjects(garbage),
    ])
    yield* bus.serve({ group: "storage", handlers, ...options })
  })

/** Garbage goes from the blob store; a failure leaves it to the janitor. */
export const layer = (options: WorkerOptions = {}) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const blobs = yield* BlobStore
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
      yield* serve(garbage, options)
      const config = yield* ReactorConfig
      yield* Effect.forkScoped(
        Janitor.run(yield* Postgres, blobs, {
          graceMs: config.storage.orphan_grace_ms,
          intervalMs: config.storage.janitor_interval_ms,
        }),
      )
    }),
  )
