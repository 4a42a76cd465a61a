// Objects' metadata. Bytes never come here: the gateway asks PrepareUpload before it stores any,
// streams them to the blob store, then records them with PutObject; reads give it the blob key.
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { type HandlerContext, handler } from "../../../bus/Bus.ts"
import type { PayloadOf } from "../../../contracts/Contract.ts"
import * as Storage from "../../../contracts/storage.ts"
import { type CommandTx, transact } from "../../../platform/eventlog/CommandTransaction.ts"
import { newEvent } from "../../../platform/eventlog/EventStore.ts"
import { type PgError, Postgres, type PostgresShape, type Tx } from "../../../platform/postgres/Postgres.ts"
import { isBucketId, isObjectName, mimeAllowed, newBlobKey, uploadLimit } from "../rules.ts"
import {
  becomeCaller,
  callerSettings,
  collectingOrphans,
  findBucket,
  type Garbage,
  infrastructureDies,
  type Orphaned,
  objectStream,
  policyRefuses,
  recordAsCaller,
  removeAsCaller,
  subjectOf,
} from "./common.ts"

const { errors } = Storage

export interface ObjectSettings {
  /** The server's own cap on an object's size, whatever a bucket allows. */
  readonly fileSizeLimit: number
}

interface ObjectRow {
  readonly id: string
  readonly bucket_id: string
  readonly name: string
  readonly owner_id: string | null
  readonly metadata: Storage.StoredObject["metadata"]
  readonly user_metadata: Storage.StoredObject["user_metadata"]
  readonly version: string
  readonly blob_key: string
  readonly created_at: Date
  readonly updated_at: Date
  readonly last_accessed_at: Date
}

const objectColumns =
  "id, bucket_id, name, owner_id, metadata, user_metadata, version, blob_key, created_at, updated_at, last_accessed_at"

const toStoredObject = (row: ObjectRow): Storage.StoredObject => ({
  id: row.id,
  bucket_id: row.bucket_id,
  name: row.name,
  owner: row.owner_id,
  metadata: row.metadata,
  user_metadata: row.user_metadata,
  version: row.version,
  blob_key: row.blob_key,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
  last_accessed_at: row.last_accessed_at.toISOString(),
})

const findObject = (tx: Tx, bucket: string, name: string) =>
  tx
    .query<ObjectRow & Record<string, unknown>>({
      name: "storage.find-object",
      text: `select ${objectColumns} from storage.objects where bucket_id = $1 and name = $2`,
      values: [bucket, name],
    })
    .pipe(Effect.map((r) => r.rows[0]))

const checkNames = (bucket: string, name: string) =>
  !isBucketId(bucket) ? errors.noSuchBucket() : !isObjectName(name) ? errors.invalidKey(name) : undefined

/** Whether the bucket takes this type and size; `size` null when not known yet. */
const checkBucketTakes = (
  bucket: {
    readonly file_size_limit: string | number | null
    readonly allowed_mime_types: Array<string> | null
  },
  settings: ObjectSettings,
  mimetype: string,
  size: number | null,
) => {
  if (!mimeAllowed(bucket.allowed_mime_types, mimetype)) return { error: errors.mimeType(mimetype) }
  const limit = uploadLimit(
    bucket.file_size_limit === null ? null : Number(bucket.file_size_limit),
    settings.fileSizeLimit,
  )
  if (size !== null && size > limit) return { error: errors.tooLarge() }
  return { limit }
}

/**
 * Tries, as the caller, the write an upload will make (an insert, or with upsert an update of the
 * object there); the caller's transaction must undo it. Fails when a policy refuses.
 */
const probeWrite = Effect.fnUntraced(function* (
  tx: Tx,
  caller: Storage.Caller,
  bucket: string,
  name: string,
  existing: ObjectRow | undefined,
) {
  yield* becomeCaller(tx, caller)
  if (existing === undefined) {
    yield* policyRefuses(
      tx.query(
        `insert into storage.objects (id, bucket_id, name, owner, owner_id, blob_key)
         values ($1, $2, $3, storage.owner_uuid($4), $4, $5)`,
        [randomUUID(), bucket, name, subjectOf(caller), newBlobKey()],
      ),
    )
  } else {
    const updated = yield* policyRefuses(
      tx.query("update storage.objects set updated_at = updated_at where id = $1", [existing.id]),
    )
    if (updated.rowCount === 0) return yield* Effect.fail(errors.denied())
  }
})

const prepareUpload = Effect.fnUntraced(function* (
  tx: Tx,
  payload: PayloadOf<typeof Storage.PrepareUpload>,
  settings: ObjectSettings,
) {
  const bucket = yield* findBucket(tx, payload.bucket)
  if (bucket === undefined) return yield* Effect.fail(errors.noSuchBucket())
  const takes = checkBucketTakes(bucket, settings, payload.mimetype, payload.size)
  if (takes.error !== undefined) return yield* Effect.fail(takes.error)
  // A signed upload URL's token first: one used up or expired opens nothing.
  if (payload.upload_token !== null) {
    const token = yield* tx.query(
      "select 1 from storage.upload_tokens where id = $1 and bucket_id = $2 and name = $3 and expires_at > now()",
      [payload.upload_token, payload.bucket, payload.name],
    )
    if (token.rows.length === 0) return yield* Effect.fail(errors.signature())
  }
  const existing = yield* findObject(tx, payload.bucket, payload.name)
  if (existing !== undefined && !payload.upsert) return yield* Effect.fail(errors.keyExists())
  yield* probeWrite(tx, payload.caller, payload.bucket, payload.name, existing)
  return { blob_key: newBlobKey(), limit: takes.limit }
})

export const PrepareUpload = Effect.fnUntraced(function* (settings: ObjectSettings) {
  const postgres = yield* Postgres
  return handler(Storage.PrepareUpload, (payload) => {
    const invalid = checkNames(payload.bucket, payload.name)
    if (invalid !== undefined) return Effect.fail(invalid)
    // Tries the write the upload will make, as the caller, and rolls it back: the policies
    // answer before a byte is stored.
    return postgres
      .transaction((tx) => prepareUpload(tx, payload, settings), { rollbackOnly: true })
      .pipe(infrastructureDies)
  })
})

/** Records the upload, telling `orphaned` the blob of the object it replaced. */
const putObject = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.PutObject>,
  settings: ObjectSettings,
  orphaned: Orphaned,
) {
  const bucket = yield* findBucket(tx, payload.bucket)
  if (bucket === undefined) return yield* Effect.fail(errors.noSuchBucket())
  const takes = checkBucketTakes(bucket, settings, payload.mimetype, payload.size)
  if (takes.error !== undefined) return yield* Effect.fail(takes.error)
  const existing = yield* findObject(tx, payload.bucket, payload.name)
  if (existing !== undefined && !payload.upsert) return yield* Effect.fail(errors.keyExists())
  if (payload.upload_token !== null) {
    // A signed upload URL is good for one upload: this one uses it up.
    const used = yield* tx.query(
      `delete from storage.upload_tokens
       where id = $1 and bucket_id = $2 and name = $3 and expires_at > now()`,
      [payload.upload_token, payload.bucket, payload.name],
    )
    if (used.rowCount === 0) return yield* Effect.fail(errors.signature())
  }
  const id = existing?.id ?? randomUUID()
  const put = newEvent(Storage.ObjectPut, {
    id,
    bucket_id: payload.bucket,
    name: payload.name,
    owner: payload.owner ?? subjectOf(payload.caller),
    blob_key: payload.blob_key,
    replaced_blob_key: existing?.blob_key ?? null,
    size: payload.size,
    etag: payload.etag,
    mimetype: payload.mimetype,
    cache_control: payload.cache_control,
    user_metadata: payload.user_metadata,
    at: new Date().toISOString(),
  })
  yield* recordAsCaller(tx, payload.caller, objectStream(id), put, { taken: errors.keyExists() })
  orphaned(existing === undefined ? [] : [existing.blob_key])
  const stored = yield* findObject(tx, payload.bucket, payload.name)
  return toStoredObject(stored!)
})

export const PutObject = Effect.fnUntraced(function* (settings: ObjectSettings, garbage: Garbage) {
  const postgres = yield* Postgres
  return handler(Storage.PutObject, (payload, context) => {
    const invalid = checkNames(payload.bucket, payload.name)
    if (invalid !== undefined) return Effect.fail(invalid)
    return collectingOrphans(garbage, (orphaned) =>
      transact(postgres, { contract: Storage.PutObject, context }, (tx) =>
        putObject(tx, payload, settings, orphaned),
      ),
    ).pipe(infrastructureDies)
  })
})

const getObject = Effect.fnUntraced(function* (
  postgres: PostgresShape,
  payload: PayloadOf<typeof Storage.GetObject>,
) {
  const bucket = yield* findBucket(postgres, payload.bucket)
  if (bucket === undefined) return yield* Effect.fail(errors.noSuchBucket())
  // The public route serves public buckets to anyone; everything else is up to the policies.
  if (payload.public && !bucket.public) return yield* Effect.fail(errors.noSuchKey())
  const tx = payload.public ? postgres : postgres.autocommit(callerSettings(payload.caller))
  const row = yield* findObject(tx, payload.bucket, payload.name)
  if (row === undefined) return yield* Effect.fail(errors.noSuchKey())
  return toStoredObject(row)
})

export const GetObject = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.GetObject, (payload) => {
    const invalid = checkNames(payload.bucket, payload.name)
    if (invalid !== undefined) return Effect.fail(invalid)
    return getObject(postgres, payload).pipe(infrastructureDies)
  })
})

/** A listing's row as the Storage API renders it: folders have no id, times or metadata. */
interface ListedRow {
  readonly id: string | null
  readonly updated_at: Date | null
  readonly created_at: Date | null
  readonly last_accessed_at: Date | null
  readonly metadata: Storage.StoredObject["metadata"] | null
}

const listEntry = (name: string, r: ListedRow) => ({
  name,
  id: r.id,
  updated_at: r.updated_at?.toISOString() ?? null,
  created_at: r.created_at?.toISOString() ?? null,
  last_accessed_at: r.last_accessed_at?.toISOString() ?? null,
  metadata: r.metadata,
})

const likePrefix = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`)

/** A listing's rows in an existing bucket, read as the caller, so its policies decide what it sees. */
const listAsCaller = <Row extends ListedRow>(
  postgres: PostgresShape,
  request: { readonly bucket: string; readonly caller: Storage.Caller },
  text: string,
  values: ReadonlyArray<unknown>,
) =>
  Effect.flatMap(
    findBucket(postgres, request.bucket),
    (bucket): Effect.Effect<ReadonlyArray<Row>, Storage.StorageError | PgError> =>
      bucket === undefined
        ? Effect.fail(errors.noSuchBucket())
        : Effect.map(
            postgres
              .autocommit(callerSettings(request.caller))
              .query<Row & Record<string, unknown>>(text, values),
            ({ rows }) => rows,
          ),
  )

export const ListObjects = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.ListObjects, (payload) => {
    const folder =
      payload.prefix === "" || payload.prefix.endsWith("/") ? payload.prefix : `${payload.prefix}/`
    const order = payload.sort_order === "desc" ? "desc" : "asc"
    // Entries directly under the folder: objects, and one folder row (no id) per deeper prefix.
    const text = `
      with under as (
        select substr(name, char_length($2) + 1) as rest, id, updated_at, created_at, last_accessed_at, metadata
        from storage.objects
        where bucket_id = $1 and name like $3 escape '\\'
      ), entries as (
        select split_part(rest, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at,
               null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
        from under where strpos(rest, '/') > 0
        group by 1
        union all
        select rest, id, updated_at, created_at, last_accessed_at, metadata from under where strpos(rest, '/') = 0
      )
      select * from entries
      where $4 = '' or name ilike $5
      order by ${payload.sort_column} ${order} nulls last, name collate "C" ${order}
      limit $6 offset $7`
    const values = [
      payload.bucket,
      folder,
      `${likePrefix(folder)}%`,
      payload.search,
      `${likePrefix(payload.search)}%`,
      Math.max(0, Math.min(payload.limit, 1000)),
      Math.max(0, payload.offset),
    ]
    return listAsCaller<ListedRow & { name: string }>(postgres, payload, text, values).pipe(
      Effect.map((rows) => rows.map((r) => listEntry(r.name, r))),
      infrastructureDies,
    )
  })
})

/** Removes the named objects the caller may, telling `orphaned` their blobs. */
const removeObjects = (tx: CommandTx, payload: PayloadOf<typeof Storage.RemoveObjects>, orphaned: Orphaned) =>
  // As the caller: its policies decide which of the named objects it may delete.
  removeAsCaller<ObjectRow>(
    tx,
    payload,
    orphaned,
    `delete from storage.objects where bucket_id = $1 and name = any($2::text[]) returning ${objectColumns}`,
    [payload.bucket, payload.names],
  ).pipe(Effect.map((rows) => rows.map(toStoredObject)))

export const RemoveObjects = Effect.fnUntraced(function* (garbage: Garbage) {
  const postgres = yield* Postgres
  return handler(Storage.RemoveObjects, (payload, context) => {
    return collectingOrphans(garbage, (orphaned) =>
      transact(postgres, { contract: Storage.RemoveObjects, context }, (tx) =>
        removeObjects(tx, payload, orphaned),
      ),
    ).pipe(infrastructureDies)
  })
})

const moveObject = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.MoveObject>,
) {
  const source = yield* findObject(tx, payload.bucket, payload.from)
  if (source === undefined) return yield* Effect.fail(errors.noSuchKey())
  if ((yield* findBucket(tx, payload.destination_bucket)) === undefined) {
    return yield* Effect.fail(errors.noSuchBucket())
  }
  if ((yield* findObject(tx, payload.destination_bucket, payload.to)) !== undefined) {
    return yield* Effect.fail(errors.keyExists())
  }
  yield* becomeCaller(tx, payload.caller)
  // What the caller cannot see does not exist for it; what it sees, its policies may not let it move.
  const visible = yield* policyRefuses(tx.query("select 1 from storage.objects where id = $1", [source.id]))
  if (visible.rows.length === 0) return yield* Effect.fail(errors.noSuchKey())
  const moved = newEvent(Storage.ObjectMoved, {
    id: source.id,
    bucket_id: payload.destination_bucket,
    name: payload.to,
    at: new Date().toISOString(),
  })
  yield* recordAsCaller(tx, payload.caller, objectStream(source.id), moved, {
    taken: errors.keyExists(),
  })
  return {}
})

export const MoveObject = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.MoveObject, (payload, context) => {
    const invalid =
      checkNames(payload.bucket, payload.from) ?? checkNames(payload.destination_bucket, payload.to)
    if (invalid !== undefined) return Effect.fail(invalid)
    return transact(postgres, { contract: Storage.MoveObject, context }, (tx) =>
      moveObject(tx, payload),
    ).pipe(infrastructureDies)
  })
})

/** Copies bytes within the blob store; a source that is gone is NoSuchKey. */
export type CopyBlob = (from: string, to: string) => Effect.Effect<void, Storage.StorageError>

/**
 * Records the copy of `source`, whose bytes are at `copyKey`, telling `orphaned` the blob of the
 * object it replaced.
 */
const recordCopy = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.CopyObject>,
  settings: ObjectSettings,
  source: ObjectRow,
  copyKey: string,
  orphaned: Orphaned,
) {
  const bucket = yield* findBucket(tx, payload.destination_bucket)
  if (bucket === undefined) return yield* Effect.fail(errors.noSuchBucket())
  const takes = checkBucketTakes(bucket, settings, source.metadata.mimetype, source.metadata.size)
  if (takes.error !== undefined) return yield* Effect.fail(takes.error)
  const existing = yield* findObject(tx, payload.destination_bucket, payload.to)
  if (existing !== undefined && !payload.upsert) return yield* Effect.fail(errors.keyExists())
  const id = existing?.id ?? randomUUID()
  const put = newEvent(Storage.ObjectPut, {
    id,
    bucket_id: payload.destination_bucket,
    name: payload.to,
    owner: subjectOf(payload.caller),
    blob_key: copyKey,
    replaced_blob_key: existing?.blob_key ?? null,
    size: source.metadata.size,
    etag: source.metadata.eTag.replaceAll('"', ""),
    mimetype: source.metadata.mimetype,
    cache_control: source.metadata.cacheControl,
    user_metadata: source.user_metadata,
    at: new Date().toISOString(),
  })
  yield* recordAsCaller(tx, payload.caller, objectStream(id), put, { taken: errors.keyExists() })
  orphaned(existing === undefined ? [] : [existing.blob_key])
  return toStoredObject((yield* findObject(tx, payload.destination_bucket, payload.to))!)
})

export const CopyObject = Effect.fnUntraced(function* (
  settings: ObjectSettings,
  garbage: Garbage,
  copyBlob: CopyBlob,
) {
  const postgres = yield* Postgres
  const copy = Effect.fnUntraced(function* (
    payload: PayloadOf<typeof Storage.CopyObject>,
    context: HandlerContext,
    copyKey: string,
  ) {
    // The caller must be able to read the source; its bytes go to a key of the copy's own first.
    const source = yield* findObject(
      postgres.autocommit(callerSettings(payload.caller)),
      payload.bucket,
      payload.from,
    )
    if (source === undefined) return yield* Effect.fail(errors.noSuchKey())
    yield* copyBlob(source.blob_key, copyKey)
    const copied = yield* collectingOrphans(garbage, (orphaned) =>
      transact(postgres, { contract: Storage.CopyObject, context }, (tx) =>
        recordCopy(tx, payload, settings, source, copyKey, orphaned),
      ),
    )
    // A redelivered command answers with the first copy: this one's bytes are not needed.
    if (copied.blob_key !== copyKey) yield* garbage.collect([copyKey])
    return copied
  })
  return handler(Storage.CopyObject, (payload, context) => {
    const invalid =
      checkNames(payload.bucket, payload.from) ?? checkNames(payload.destination_bucket, payload.to)
    if (invalid !== undefined) return Effect.fail(invalid)
    const copyKey = newBlobKey()
    return copy(payload, context, copyKey).pipe(
      Effect.tapError(() => garbage.collect([copyKey])),
      infrastructureDies,
    )
  })
})

/** How long a signed upload URL is good for, as in Supabase. */
const uploadTokenMs = 2 * 3_600_000

const issueUploadToken = Effect.fnUntraced(function* (
  tx: CommandTx,
  payload: PayloadOf<typeof Storage.IssueUploadToken>,
) {
  if ((yield* findBucket(tx, payload.bucket)) === undefined) return yield* Effect.fail(errors.noSuchBucket())
  const existing = yield* findObject(tx, payload.bucket, payload.name)
  if (existing !== undefined && !payload.upsert) return yield* Effect.fail(errors.keyExists())
  // The policies answer now, for the upload the URL will allow; the probe is undone.
  yield* tx.query("savepoint probe")
  yield* probeWrite(tx, payload.caller, payload.bucket, payload.name, existing)
  yield* tx.query("rollback to savepoint probe")
  const id = randomUUID()
  const expires = new Date(Date.now() + uploadTokenMs)
  yield* tx.query(
    "insert into storage.upload_tokens (id, bucket_id, name, expires_at) values ($1, $2, $3, $4)",
    [id, payload.bucket, payload.name, expires],
  )
  return { id, owner: subjectOf(payload.caller), expires_at: expires.toISOString() }
})

export const IssueUploadToken = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.IssueUploadToken, (payload, context) => {
    const invalid = checkNames(payload.bucket, payload.name)
    if (invalid !== undefined) return Effect.fail(invalid)
    return transact(postgres, { contract: Storage.IssueUploadToken, context }, (tx) =>
      issueUploadToken(tx, payload),
    ).pipe(infrastructureDies)
  })
})

/** A V2 listing's page from its rows (one more than `limit` was asked for, to tell if more follow). */
const listingV2 = (
  payload: PayloadOf<typeof Storage.ListObjectsV2>,
  rows: ReadonlyArray<ListedRow & { key: string; folder: boolean }>,
  limit: number,
) => {
  const page = rows.slice(0, limit)
  const lastSegment = (key: string) => key.replace(/\/$/, "").split("/").pop() ?? key
  return {
    has_next: rows.length > limit,
    folders: page.filter((r) => r.folder).map((r) => ({ name: lastSegment(r.key), key: r.key })),
    objects: page
      .filter((r) => !r.folder)
      .map((r) => ({ ...listEntry(payload.with_delimiter ? lastSegment(r.key) : r.key, r), key: r.key })),
  }
}

export const ListObjectsV2 = Effect.gen(function* () {
  const postgres = yield* Postgres
  return handler(Storage.ListObjectsV2, (payload) => {
    const order = payload.sort_order === "desc" ? "desc" : "asc"
    const column = payload.sort_column === "name" ? `key collate "C"` : payload.sort_column
    // With a delimiter, keys below the next "/" after the prefix fold into one folder entry each.
    const entries = payload.with_delimiter
      ? `select case when strpos(rest, '/') > 0 then $2 || split_part(rest, '/', 1) || '/' else name end as key,
                strpos(rest, '/') > 0 as folder,
                case when strpos(rest, '/') > 0 then null else id end as id,
                updated_at, created_at, last_accessed_at, metadata
         from visible`
      : "select name as key, false as folder, id, updated_at, created_at, last_accessed_at, metadata from visible"
    const text = `
      with visible as (
        select name, substr(name, char_length($2::text) + 1) as rest, id, updated_at, created_at, last_accessed_at,
               metadata
        from storage.objects where bucket_id = $1 and name like $3 escape '\\'
      ), entries as (${entries})
      select key, folder, (array_agg(id))[1] as id, max(updated_at) as updated_at, max(created_at) as created_at,
             max(last_accessed_at) as last_accessed_at, (array_agg(metadata))[1] as metadata
      from entries
      group by key, folder, case when folder then null else id end
      order by ${payload.sort_column === "name" ? "" : "folder, "}${column} ${order} nulls last, key collate "C" ${order}
      limit $4 offset $5`
    const limit = Math.max(1, Math.min(payload.limit, 1000))
    const values = [
      payload.bucket,
      payload.prefix,
      `${likePrefix(payload.prefix)}%`,
      limit + 1,
      Math.max(0, payload.offset),
    ]
    return listAsCaller<ListedRow & { key: string; folder: boolean }>(postgres, payload, text, values).pipe(
      Effect.map((rows) => listingV2(payload, rows, limit)),
      infrastructureDies,
    )
  })
})
