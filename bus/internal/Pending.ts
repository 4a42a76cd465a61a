// Bounds how many replies one process waits on at once, so a slow worker cannot grow the
// caller's memory without bound: past the limit, calls fail at once with BusOverloaded.
import { Effect } from "effect"
import { BusOverloaded } from "../BusError.ts"

export interface Pending {
  readonly count: () => number
  /** Takes a slot, or returns false when none is free; a taken slot must be released once. */
  readonly take: () => boolean
  readonly release: () => void
  readonly overloaded: () => BusOverloaded
  readonly guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BusOverloaded, R>
}

export const make = (limit: number): Pending => {
  let count = 0
  const release = () => {
    count--
  }
  return {
    count: () => count,
    take: () => {
      if (count >= limit) return false
      count++
      return true
    },
    release,
    overloaded: () => new BusOverloaded({ pending: count }),
    guard: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.suspend((): Effect.Effect<A, E | BusOverloaded, R> => {
        if (count >= limit) return Effect.fail(new BusOverloaded({ pending: count }))
        count++
        return Effect.ensuring(effect, Effect.sync(release))
      }),
  }
}
