// Buckets: created, changed, emptied and deleted as commands; read as queries under the caller's
// role, so the app's policies on storage.buckets decide who sees and changes what.
import { Effect } from "effect"
import { handler } from "../../../bus/Bus.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import * as Storage from "../../../contracts/storage.ts"
import { type CommandTx, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import { Postgres } from "../../../platform/postgres/Postgres.ts"
import { isBucketId } from "../rules.ts"
import {
  type BucketRow,
  bucketSelect,
  bucketStream,
  callerSettings,
  collectingOrphans,
  findBucket,
  type Garbage,
  infrastructureDies,
  type Orphaned,
  recordAsCaller,
  removeAsCaller,
  subjectOf,
  toBucket,
} from "./common.ts"

const { errors } = Storage

const checkSettings = (settings: typeof Storage.BucketSettings.Type) => {
  const limit = settings.file_size_limit
  if (limit !== null && (!Number.isInteger(limit) || limit < 0)) {
    return errors.invalid("file_size_limit must be a whole number of bytes")
  }
  return undefined
}

const createBucket = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.CreateBucket>,
) {
  if ((yield* findBucket(tx, payload.id)) !== undefined) return yield* Effect.fail(errors.bucketExists())
  const created = newEvent(Storage.BucketCreated, {
    id: payload.id,
    name: payload.name === "" ? payload.id : payload.name,
    owner: subjectOf(payload.caller),
    public: payload.settings.public,
    file_size_limit: payload.settings.file_size_limit,
    allowed_mime_types: payload.settings.allowed_mime_types,
    at: new Date().toISOString(),
  })
  yield* recordAsCaller(tx, payload.caller, bucketStream(payload.id), created, {
    taken: errors.bucketExists(),
  })
  return { name: payload.id }
})

export const CreateBucket = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.CreateBucket, (payload, context) => {
    if (!isBucketId(payload.id)) return Effect.fail(errors.invalidBucketName(payload.id))
    const invalid = checkSettings(payload.settings)
    if (invalid !== undefined) return Effect.fail(invalid)
    return transact(postgres, { contract: Storage.CreateBucket, context }, (tx) =>
      createBucket(tx, payload),
    ).pipe(infrastructureDies)
  })
})

const updateBucket = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.UpdateBucket>,
) {
  const bucket = yield* findBucket(tx, payload.id)
  if (bucket === undefined) return yield* Effect.fail(errors.noSuchBucket())
  const stream = bucketStream(payload.id)
  const unset = new Set(payload.settings.unset)
  const updated = newEvent(Storage.BucketUpdated, {
    id: payload.id,
    public: unset.has("public") ? bucket.public : payload.settings.public,
    file_size_limit: unset.has("file_size_limit")
      ? toBucket(bucket).file_size_limit
      : payload.settings.file_size_limit,
    allowed_mime_types: unset.has("allowed_mime_types")
      ? bucket.allowed_mime_types
      : payload.settings.allowed_mime_types,
    at: new Date().toISOString(),
  })
  yield* recordAsCaller(tx, payload.caller, stream, updated, {
    taken: errors.bucketExists(),
    denied: errors.denied("The caller may not change this bucket"),
  })
  return {}
})

export const UpdateBucket = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.UpdateBucket, (payload, context) => {
    const invalid = checkSettings(payload.settings)
    if (invalid !== undefined) return Effect.fail(invalid)
    return transact(postgres, { contract: Storage.UpdateBucket, context }, (tx) =>
      updateBucket(tx, payload),
    ).pipe(infrastructureDies)
  })
})

const deleteBucket = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.DeleteBucket>,
) {
  if ((yield* findBucket(tx, payload.id)) === undefined) return yield* Effect.fail(errors.noSuchBucket())
  const objects = yield* tx.query("select 1 from storage.objects where bucket_id = $1 limit 1", [payload.id])
  if (objects.rows.length > 0) return yield* Effect.fail(errors.bucketNotEmpty())
  const stream = bucketStream(payload.id)
  const deleted = newEvent(Storage.BucketDeleted, { id: payload.id })
  yield* recordAsCaller(tx, payload.caller, stream, deleted, {
    taken: errors.bucketNotEmpty(),
    denied: errors.denied("The caller may not delete this bucket"),
  })
  return {}
})

export const DeleteBucket = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.DeleteBucket, (payload, context) =>
    transact(postgres, { contract: Storage.DeleteBucket, context }, (tx) => deleteBucket(tx, payload)).pipe(
      infrastructureDies,
    ),
  )
})

/** Empties the bucket as the caller, telling `orphaned` the blobs of the objects removed. */
const emptyBucket = (tx: CommandTx, payload: PayloadOf<typeof Storage.EmptyBucket>, orphaned: Orphaned) =>
  // One statement as the caller removes what its policies let it; the log records each.
  removeAsCaller(
    tx,
    { bucket: payload.id, caller: payload.caller },
    orphaned,
    "delete from storage.objects where bucket_id = $1 returning id, bucket_id, name, blob_key",
    [payload.id],
  ).pipe(Effect.as({}))

export const EmptyBucket = Effect.fnUntraced(function* (garbage: Garbage) {
  const postgres = yield* Postgres
  return handler(Storage.EmptyBucket, (payload, context) => {
    return collectingOrphans(garbage, (orphaned) =>
      transact(postgres, { contract: Storage.EmptyBucket, context }, (tx) =>
        emptyBucket(tx, payload, orphaned),
      ),
    ).pipe(infrastructureDies)
  })
})

export const GetBucket = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.GetBucket, (payload) =>
    // The caller's settings decide: a bucket its policies hide is no bucket.
    findBucket(postgres.autocommit(callerSettings(payload.caller)), payload.id).pipe(
      Effect.orDie,
      Effect.flatMap((row) =>
        row === undefined ? Effect.fail(errors.noSuchBucket()) : Effect.succeed(toBucket(row)),
      ),
    ),
  )
})

const sortColumns = new Set(["id", "name", "created_at", "updated_at"])

export const ListBuckets = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.ListBuckets, (payload) => {
    const column =
      payload.sort_column !== null && sortColumns.has(payload.sort_column) ? payload.sort_column : "name"
    const order = payload.sort_order === "desc" ? "desc" : "asc"
    return postgres
      .autocommit(callerSettings(payload.caller))
      .query<BucketRow & Record<string, unknown>>(
        `${bucketSelect} where ($1::text is null or name ilike '%' || $1 || '%')
         order by ${column} ${order} limit $2 offset $3`,
        [payload.search, payload.limit ?? null, payload.offset ?? 0],
      )
      .pipe(
        Effect.orDie,
        Effect.map((r) => r.rows.map(toBucket)),
      )
  })
})
