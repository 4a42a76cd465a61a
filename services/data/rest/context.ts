// What every handler works with: the request, its parsed preferences and media, and a query runner.
import { Effect } from "effect"
import type { SchemaCache } from "../schema/SchemaCache.ts"
import type { Media } from "./media.ts"
import { PostgrestError } from "./PostgrestError.ts"
import type { Preferences } from "./prefer.ts"
import type { RestRequest } from "./RestRequest.ts"

export interface Context {
  readonly cache: SchemaCache
  readonly request: RestRequest
  readonly prefs: Preferences
  readonly media: Media
  /**
   * A write also leaves its result row in the setting `reactor.reply`, for the command log to keep
   * in the same transaction (see handlers/Write.ts).
   */
  readonly keepResult?: boolean
  /** Runs one statement in the caller's transaction; Postgres errors arrive PostgREST-shaped. */
  readonly run: <R>(
    text: string,
    values: ReadonlyArray<string | null>,
  ) => Effect.Effect<ReadonlyArray<R>, PostgrestError>
}

/** Runs code that reports a bad request by throwing a PostgrestError; anything else thrown is a defect. */
export const attempt = <A>(f: () => A): Effect.Effect<A, PostgrestError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      if (e instanceof PostgrestError) return Effect.fail(e)
      throw e
    }
  })
