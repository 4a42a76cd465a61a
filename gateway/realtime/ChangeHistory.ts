// Port: the changes a subscriber missed, so a client that comes back with the last position it saw
// gets what happened since before the live stream resumes.
import { Data, Effect } from "effect"
import type { RowChange } from "./RowChange.ts"

/** The position is older than what the history still holds: the client must reload. */
export class PositionTooOld extends Data.TaggedError("PositionTooOld")<{ readonly position: string }> {}

/** What a subscriber listens to, so the history can leave out other tables. */
export interface HistoryBinding {
  readonly schema: string
  /** "*" for every table of the schema. */
  readonly table: string
}

export interface ChangeHistory {
  /**
   * The changes after `position` up to `until` (the last change the hub has received; both
   * excluded and included as written), in order. Without `until` (the hub has received nothing
   * yet), up to the newest; the hub then drops what it receives again.
   */
  readonly since: (
    position: string,
    bindings: ReadonlyArray<HistoryBinding>,
    until: string | undefined,
  ) => Effect.Effect<ReadonlyArray<RowChange>, PositionTooOld>
}

const relevant = (change: RowChange, bindings: ReadonlyArray<HistoryBinding>) =>
  bindings.some(
    (b) => (b.schema === "*" || b.schema === change.schema) && (b.table === "*" || b.table === change.table),
  )

/** No history: every position is too old. */
export const none: ChangeHistory = { since: (position) => Effect.fail(new PositionTooOld({ position })) }

/** An in-memory window of the last `retain` changes; `record` appends one as it is published. */
export const memory = (retain: number) => {
  const changes: Array<RowChange> = []
  return {
    record: (batch: ReadonlyArray<RowChange>) => {
      changes.push(...batch)
      if (changes.length > retain) changes.splice(0, changes.length - retain)
    },
    since: (position: string, bindings: ReadonlyArray<HistoryBinding>, until: string | undefined) =>
      Effect.suspend(() => {
        const index = changes.findIndex((c) => c.position === position)
        if (index < 0) return Effect.fail(new PositionTooOld({ position }))
        const end = until === undefined ? -1 : changes.findIndex((c) => c.position === until)
        return Effect.succeed(
          changes.slice(index + 1, end < 0 ? undefined : end + 1).filter((c) => relevant(c, bindings)),
        )
      }),
  } satisfies ChangeHistory & { readonly record: (batch: ReadonlyArray<RowChange>) => void }
}
