// A body whose chunks may be handed back once written. An upload's chunks are 1 MiB buffers; made
// fresh for each, V8 counts them as external memory and runs a full GC every few dozen MB (~30 per
// GB uploaded, measured), which halved upload speed. A sink that has written a chunk whole gives it
// back through the body's `recycle`, and the body fills it again. Only an explicit hand-back makes a
// buffer reusable: a sink that never calls it (S3's client, say) just leaves them to the GC.

/** The key under which a body offers its chunks' return. */
export const recycle = Symbol("reactor.recycle")

export interface Recycling {
  readonly [recycle]?: (chunk: Buffer) => void
}

/** Gives `chunk` back to `body` if it takes chunks back; call only once nothing reads it any more. */
export const giveBack = (body: unknown, chunk: Buffer): void => {
  ;(body as Recycling | null)?.[recycle]?.(chunk)
}
