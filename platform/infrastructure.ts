// How a handler lets infrastructure failures go: a database, log or blob store failure is not the
// caller's doing, so it becomes a defect, which the bus retries and then answers as InternalError.
import { Effect } from "effect"

type Infrastructure = { readonly _tag: "PgError" | "UnknownEvent" | "BlobStoreError" }

export const infrastructureDies = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.catchTags({
      PgError: (error: unknown) => Effect.die(error),
      UnknownEvent: (error: unknown) => Effect.die(error),
      BlobStoreError: (error: unknown) => Effect.die(error),
    } as never),
  ) as Effect.Effect<A, Exclude<E, Infrastructure>, R>
