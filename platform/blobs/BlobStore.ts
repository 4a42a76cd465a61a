// The blob store port: where Storage keeps object bytes, under opaque keys Reactor makes itself
// (metadata lives in Postgres). DiskBlobStore and S3BlobStore pass one contract suite unchanged.
import type { Readable } from "node:stream"
import { Context, Data, type Effect, type Stream } from "effect"

export interface BlobInfo {
  /** Bytes in the blob. */
  readonly size: number
  /**
   * The store's validator for these bytes, unquoted: put and stat answer the same one, and it is
   * different once other bytes are put over the key. S3's own ETag; on disk, a digest of the file's identity.
   */
  readonly etag: string
  /** When the blob was last written. S3 keeps whole seconds; put may report the local clock. */
  readonly modified: Date
}

export interface BlobEntry {
  readonly key: string
  readonly size: number
  readonly modified: Date
}

export interface PutOptions {
  /** Most bytes the blob may have: one more fails the put with BlobTooLarge. */
  readonly limit: number
  /** Recorded where the store keeps one (S3); metadata in Postgres is what Storage serves. */
  readonly contentType: string
  /**
   * The body's length, when known before it arrives (a raw upload's Content-Length): a body that
   * ends short of it or runs past it fails the put. S3 then streams a large blob in one PUT rather
   * than in parts held in memory.
   */
  readonly size?: number
}

/** Bytes `start` to `end` inclusive, both from 0. An `end` past the blob reads to its end. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

export interface BlobStoreShape {
  /**
   * Streams `body` into the blob `key`, replacing any blob there. The blob becomes visible
   * atomically and only when complete: a reader sees the previous blob or none until then, and a
   * put that fails or is interrupted leaves nothing — except that an interruption arriving once the
   * store commits (S3's last request) cannot stop it, so the blob may still appear: with a fresh key
   * per upload, an orphan for reconciliation. `body` is consumed, and destroyed on failure.
   */
  readonly put: (
    key: string,
    body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
    options: PutOptions,
  ) => Effect.Effect<BlobInfo, BlobTooLarge | BlobStoreError>
  /**
   * The blob's bytes, or those in `range`, as a stream that reads as it is consumed (backpressure
   * reaches the store). A range starting past the end is empty. Destroy the stream to stop early.
   */
  readonly get: (key: string, range?: ByteRange) => Effect.Effect<Readable, BlobNotFound | BlobStoreError>
  readonly stat: (key: string) => Effect.Effect<BlobInfo | undefined, BlobStoreError>
  /** Copies within the store (server-side on S3); the copy is visible atomically, as with put. */
  readonly copy: (from: string, to: string) => Effect.Effect<BlobInfo, BlobNotFound | BlobStoreError>
  /** Removes blobs; a key with no blob is not an error. */
  readonly remove: (keys: ReadonlyArray<string>) => Effect.Effect<void, BlobStoreError>
  /** Every blob whose key starts with `prefix` ("" for all), in no particular order: for reconciling with metadata. */
  readonly list: (prefix: string) => Stream.Stream<BlobEntry, BlobStoreError>
  /**
   * Removes what puts that never finished (a crashed process) left behind, once older than
   * `olderThanMs`; answers how many it removed. A put stalled for longer than that loses its
   * temporary data and fails, so pass hours, not seconds.
   */
  readonly cleanTemporary: (olderThanMs: number) => Effect.Effect<number, BlobStoreError>
}

export class BlobStore extends Context.Service<BlobStore, BlobStoreShape>()("reactor/BlobStore") {}

/** More than `limit` bytes arrived; nothing was stored. */
export class BlobTooLarge extends Data.TaggedError("BlobTooLarge")<{
  readonly limit: number
}> {}

export class BlobNotFound extends Data.TaggedError("BlobNotFound")<{
  readonly key: string
}> {}

/** The store failed: disk full, S3 unreachable or refusing. `cause` is for the logs. */
export class BlobStoreError extends Data.TaggedError("BlobStoreError")<{
  readonly message: string
  readonly cause: unknown
}> {}
