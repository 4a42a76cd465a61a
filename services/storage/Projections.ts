// How storage events become rows of storage.buckets and storage.objects. Handlers apply them in the
// transaction that appends the events, as the caller's role, so the app's RLS policies decide
// (an applier reports the rows it touched: none means a policy hid or refused the row); a rebuild
// applies the whole log as the worker.
import { Effect } from "effect"
import type { Event, PayloadOf } from "../../contracts/Contract.ts"
import * as Storage from "../../contracts/storage.ts"
import type { NewEvent, StoredEvent } from "../../platform/eventlog/EventStore.ts"
import type { Projector } from "../../platform/eventlog/Rebuild.ts"
import type { PgError, Tx } from "../../platform/postgres/Postgres.ts"

type Applier<E extends Event> = (tx: Tx, payload: PayloadOf<E>) => Effect.Effect<number, PgError>

const on = <E extends Event>(contract: E, apply: Applier<E>) =>
  [contract.type, apply as Applier<Event>] as const

const touched = (effect: Effect.Effect<{ readonly rowCount: number | null }, PgError>) =>
  Effect.map(effect, (r) => r.rowCount ?? 0)

/** The metadata column as the Storage API renders it. */
const objectMetadata = (e: PayloadOf<typeof Storage.ObjectPut>) => ({
  eTag: `"${e.etag}"`,
  size: e.size,
  mimetype: e.mimetype,
  cacheControl: e.cache_control,
  lastModified: e.at,
  contentLength: e.size,
  httpStatusCode: 200,
})

const appliers = new Map<string, Applier<Event>>([
  on(Storage.BucketCreated, (tx, e) =>
    touched(
      tx.query(
        `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types, created_at, updated_at)
         values ($1, $2, storage.owner_uuid($3), $3, $4, $5, $6, $7, $7)`,
        [e.id, e.name, e.owner, e.public, e.file_size_limit, e.allowed_mime_types, e.at],
      ),
    ),
  ),
  on(Storage.BucketUpdated, (tx, e) =>
    touched(
      tx.query(
        `update storage.buckets set public = $2, file_size_limit = $3, allowed_mime_types = $4, updated_at = $5
         where id = $1`,
        [e.id, e.public, e.file_size_limit, e.allowed_mime_types, e.at],
      ),
    ),
  ),
  on(Storage.BucketDeleted, (tx, e) =>
    touched(tx.query("delete from storage.buckets where id = $1", [e.id])),
  ),
  on(Storage.ObjectPut, (tx, e) =>
    touched(
      e.replaced_blob_key === null
        ? tx.query(
            `insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata, user_metadata, version, blob_key,
                                          created_at, updated_at, last_accessed_at)
             values ($1, $2, $3, storage.owner_uuid($4), $4, $5, $6, split_part($7, '/', 2), $7, $8, $8, $8)`,
            [e.id, e.bucket_id, e.name, e.owner, objectMetadata(e), e.user_metadata, e.blob_key, e.at],
          )
        : tx.query(
            `update storage.objects set metadata = $2, user_metadata = $3, version = split_part($4, '/', 2), blob_key = $4, updated_at = $5,
                                        last_accessed_at = $5
             where id = $1`,
            [e.id, objectMetadata(e), e.user_metadata, e.blob_key, e.at],
          ),
    ),
  ),
  on(Storage.ObjectMoved, (tx, e) =>
    touched(
      tx.query("update storage.objects set bucket_id = $2, name = $3, updated_at = $4 where id = $1", [
        e.id,
        e.bucket_id,
        e.name,
        e.at,
      ]),
    ),
  ),
  on(Storage.ObjectRemoved, (tx, e) =>
    touched(tx.query("delete from storage.objects where id = $1", [e.id])),
  ),
])

export const apply = (tx: Tx, event: NewEvent | StoredEvent): Effect.Effect<number, PgError> => {
  const applier = appliers.get(event.contract.type)
  return applier === undefined ? Effect.succeed(0) : applier(tx, event.payload as never)
}

export const projector: Projector = {
  tables: ["storage.objects", "storage.buckets"],
  apply: (tx, event) => Effect.asVoid(apply(tx, event)),
}
