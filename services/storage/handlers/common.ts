// What every storage handler shares: acting as the caller so the app's policies decide, and how
// database failures become Storage errors or defects.
import { Effect } from "effect"
import { isApiRole } from "../../../contracts/shared.ts"
import * as Storage from "../../../contracts/storage.ts"
import { type Caller, errors, type StorageError } from "../../../contracts/storage.ts"
import type { CommandTx } from "../../../platform/eventlog/CommandTransaction.ts"
import { type NewEvent, newEvent } from "../../../platform/eventlog/EventStore.ts"
import { PgError, setLocals, type Tx } from "../../../platform/postgres/Postgres.ts"
import * as Projections from "../Projections.ts"

/** The role and claims the app's policies see. */
const settingsOf = (caller: Caller) =>
  [
    ["role", caller.role],
    ["request.jwt.claims", caller.claims],
  ] as const

/** The caller's role and claims for the rest of the transaction; sent, not waited for. */
export const becomeCaller = (tx: Tx, caller: Caller): Effect.Effect<void, StorageError> =>
  isApiRole(caller.role)
    ? setLocals(tx, settingsOf(caller)).pipe(Effect.orDie)
    : Effect.fail(errors.denied(`role ${caller.role} may not use Storage`))

/** Back to the worker's own role, which appends to the log. */
export const becomeWorker = (tx: Tx) => tx.send("reset role").pipe(Effect.orDie)

/** The caller's user id (the token's subject), or null for an API key. */
export const subjectOf = (caller: Caller): string | null => {
  const sub = (JSON.parse(caller.claims) as { sub?: unknown }).sub
  return typeof sub === "string" && sub !== "" ? sub : null
}

/** A policy refused a row (42501); anything else from Postgres is not the caller's doing. */
export const policyRefuses = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, Exclude<E, PgError> | StorageError, R> =>
  Effect.catchIf(
    effect,
    (e): e is Extract<E, PgError> => e instanceof PgError,
    (e) => (e.code === "42501" ? Effect.fail(errors.denied()) : Effect.die(e)),
  ) as never

export { infrastructureDies } from "../../../platform/infrastructure.ts"

export const bucketStream = (id: string) => `storage.bucket-${id}`
export const objectStream = (id: string) => `storage.object-${id}`

export interface RemovedObject {
  readonly id: string
  readonly bucket_id: string
  readonly name: string
  readonly blob_key: string
}

/** Records in the log that `objects`, already gone from the projection, were removed. */
export const logRemovals = (
  log: Pick<CommandTx, "append" | "streamVersion">,
  objects: ReadonlyArray<RemovedObject>,
) =>
  Effect.forEach(
    objects,
    (object) => {
      const stream = objectStream(object.id)
      const removed = newEvent(Storage.ObjectRemoved, {
        id: object.id,
        bucket_id: object.bucket_id,
        name: object.name,
        blob_key: object.blob_key,
      })
      return Effect.flatMap(log.streamVersion(stream), (version) => log.append(stream, version, [removed]))
    },
    { discard: true },
  )

export interface BucketRow {
  readonly id: string
  readonly name: string
  readonly owner_id: string | null
  readonly public: boolean
  readonly file_size_limit: string | number | null
  readonly allowed_mime_types: Array<string> | null
  readonly created_at: Date
  readonly updated_at: Date
}

const bucketColumns =
  "id, name, owner_id, public, file_size_limit, allowed_mime_types, created_at, updated_at"

/** The bucket as `tx` sees it: the worker's (any bucket), or a caller's (its policies decide). */
export const findBucket = (tx: Tx, id: string) =>
  tx
    .query<BucketRow & Record<string, unknown>>({
      name: "storage.find-bucket",
      text: `select ${bucketColumns} from storage.buckets where id = $1`,
      values: [id],
    })
    .pipe(Effect.map((r) => r.rows[0]))

/**
 * Deletes, as the caller, the objects `text` picks in an existing bucket (its policies decide
 * which), records each removal in the log as the worker, and tells `orphaned` their blobs.
 */
export const removeAsCaller = <Row extends RemovedObject>(
  tx: CommandTx,
  request: { readonly bucket: string; readonly caller: Caller },
  orphaned: Orphaned,
  text: string,
  values: ReadonlyArray<unknown>,
) =>
  findBucket(tx, request.bucket).pipe(
    Effect.flatMap((bucket) =>
      bucket === undefined ? Effect.fail(errors.noSuchBucket()) : becomeCaller(tx, request.caller),
    ),
    Effect.andThen(
      Effect.suspend(() => policyRefuses(tx.query<Row & Record<string, unknown>>(text, values))),
    ),
    Effect.tap(() => becomeWorker(tx)),
    Effect.tap(({ rows }) => logRemovals(tx, rows)),
    Effect.map(({ rows }): ReadonlyArray<Row> => {
      orphaned(rows.map((r) => r.blob_key))
      return rows
    }),
  )

export const bucketSelect = `select ${bucketColumns} from storage.buckets`

export const toBucket = (row: BucketRow) => ({
  id: row.id,
  name: row.name,
  owner: row.owner_id ?? "",
  public: row.public,
  type: "STANDARD" as const,
  file_size_limit: row.file_size_limit === null ? null : Number(row.file_size_limit),
  allowed_mime_types: row.allowed_mime_types,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
})

/**
 * Blobs no object points at any more, removed once their removal has committed. A process that
 * dies first leaves them to the janitor, which removes blobs no row points at.
 */
export interface Garbage {
  readonly collect: (keys: ReadonlyArray<string>) => Effect.Effect<void>
}

/** Tells which blobs a write leaves without an object; a retried transaction tells again. */
export type Orphaned = (keys: ReadonlyArray<string>) => void

/** Runs `write`, then collects the blobs it said it orphaned: once committed, never before. */
export const collectingOrphans = <A, E, R>(
  garbage: Garbage,
  write: (orphaned: Orphaned) => Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    let keys: ReadonlyArray<string> = []
    return write((orphaned) => {
      keys = orphaned
    }).pipe(Effect.tap(() => garbage.collect(keys)))
  })

/** The caller's settings for a read-only query of its own (Postgres.autocommit). */
export const callerSettings = (caller: Caller) => ({ locals: settingsOf(caller), readOnly: true })

/**
 * Applies `event` to the projections as the caller, so its policies decide — a row they refuse or
 * hide is `denied`, a unique key taken is `taken` — then appends it to `stream` as the worker.
 */
export const recordAsCaller = Effect.fnUntraced(function* (
  tx: CommandTx,
  caller: Caller,
  stream: string,
  event: NewEvent,
  outcomes: { readonly taken: StorageError; readonly denied?: StorageError },
) {
  yield* becomeCaller(tx, caller)
  const rows = yield* Projections.apply(tx, event).pipe(
    Effect.catchIf(
      (e) => e.code === "23505",
      () => Effect.fail(outcomes.taken),
    ),
    policyRefuses,
  )
  if (rows === 0) return yield* Effect.fail(outcomes.denied ?? errors.denied())
  yield* becomeWorker(tx)
  yield* tx.append(stream, yield* tx.streamVersion(stream), [event])
})
