// Keeps metadata and bytes in agreement, whatever crashed when: at the storage worker's start and
// then every so often, one process at a time (an advisory lock), it removes
// - signed-upload tokens past their expiry;
// - temporary data of uploads that never finished (a process killed mid-upload);
// - blobs no object points at (a process killed between storing the bytes and recording them, or
//   after a removal committed and before its bytes went);
// - objects whose bytes are gone (removed behind Reactor's back): recorded as removed, loudly.
// Only what is older than the grace period goes, so uploads under way elsewhere are left alone.
import { randomUUID } from "node:crypto"
import { Duration, Effect, Schedule, Stream } from "effect"
import type { BlobStoreShape } from "../../platform/blobs/BlobStore.ts"
import * as EventStore from "../../platform/eventlog/EventStore.ts"
import * as Wakeup from "../../platform/eventlog/Wakeup.ts"
import type { PostgresShape, Tx } from "../../platform/postgres/Postgres.ts"
import { logRemovals } from "./handlers/common.ts"

export interface JanitorOptions {
  /** Age below which nothing is touched: an upload may be that slow. */
  readonly graceMs: number
  /** Time between sweeps after the first. */
  readonly intervalMs: number
}

export interface SweepReport {
  readonly expiredTokens: number
  readonly temporary: number
  readonly orphanBlobs: number
  readonly lostObjects: number
}

/** `hashtext('reactor.storage.janitor')`, fixed so every process takes the same lock. */
const lockKey = 726_354_109

/**
 * Under the advisory lock, when this process gets it: removes blobs no object points at and
 * records removed the objects whose bytes are gone.
 */
const reconcile = Effect.fnUntraced(function* (tx: Tx, blobs: BlobStoreShape, graceMs: number) {
  const { rows } = yield* tx.query<{ locked: boolean }>("select pg_try_advisory_xact_lock($1) as locked", [
    lockKey,
  ])
  if (rows[0]?.locked !== true) return { orphanBlobs: 0, lostObjects: 0 }
  // Keys of every object, and the blobs there are: both sets fit in memory up to millions.
  const objects = yield* tx.query<{
    id: string
    bucket_id: string
    name: string
    blob_key: string
    at: Date
  }>("select id, bucket_id, name, blob_key, updated_at as at from storage.objects")
  const recorded = new Set(objects.rows.map((o) => o.blob_key))
  const cutoff = Date.now() - graceMs
  const stored = new Set<string>()
  const orphans: Array<string> = []
  yield* Stream.runForEach(blobs.list(""), (blob) =>
    Effect.sync(() => {
      stored.add(blob.key)
      if (!recorded.has(blob.key) && blob.modified.getTime() < cutoff) orphans.push(blob.key)
    }),
  )
  if (orphans.length > 0) yield* blobs.remove(orphans)
  const lost = objects.rows.filter((o) => !stored.has(o.blob_key) && o.at.getTime() < cutoff)
  const meta = { requestId: `janitor-${randomUUID()}` }
  for (const object of lost) {
    yield* Effect.logWarning(
      `storage object ${object.bucket_id}/${object.name} has lost its bytes (${object.blob_key}); recording it removed`,
    )
  }
  if (lost.length > 0) {
    yield* tx.query("delete from storage.objects where id = any($1::uuid[])", [lost.map((o) => o.id)])
  }
  yield* logRemovals(
    {
      streamVersion: (stream) => EventStore.streamVersion(tx, stream),
      append: (stream, version, events) => EventStore.append(tx, stream, version, events, meta),
    },
    lost,
  )
  return { orphanBlobs: orphans.length, lostObjects: lost.length }
})

export const sweep = Effect.fnUntraced(function* (
  postgres: PostgresShape,
  blobs: BlobStoreShape,
  graceMs: number,
) {
  const tokens = yield* postgres.query("delete from storage.upload_tokens where expires_at < now()")
  const temporary = yield* blobs.cleanTemporary(graceMs)
  const reconciled = yield* postgres.transaction((tx) => reconcile(tx, blobs, graceMs))
  if (reconciled.lostObjects > 0) Wakeup.signal()
  return { expiredTokens: tokens.rowCount ?? 0, temporary, ...reconciled } satisfies SweepReport
})

/** Sweeps now and then every `intervalMs`, logging what it removed; a failed sweep waits for the next. */
export const run = (postgres: PostgresShape, blobs: BlobStoreShape, options: JanitorOptions) =>
  sweep(postgres, blobs, options.graceMs).pipe(
    Effect.tap((report) =>
      Object.values(report).some((n) => n > 0)
        ? Effect.logInfo(
            `storage janitor: ${report.expiredTokens} expired upload tokens, ${report.temporary} unfinished uploads, ${report.orphanBlobs} unused blobs, ${report.lostObjects} objects without bytes`,
          )
        : Effect.void,
    ),
    Effect.catchCause((cause) => Effect.logWarning("storage janitor sweep failed", cause)),
    Effect.repeat(Schedule.spaced(Duration.millis(options.intervalMs))),
  )
