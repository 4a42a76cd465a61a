// What both adapters agree on for subscriptions: which events a filter selects, and how long to
// wait before delivering again after a failure.
import type { Event } from "../../contracts/Contract.ts"
import type { SubscribeOptions } from "../Bus.ts"

export const eventFilter = (events: SubscribeOptions["events"]): ((event: Event) => boolean) => {
  if ("capability" in events) return (event) => event.capability === events.capability
  const subjects = new Set((events as ReadonlyArray<Event>).map((e) => e.subject))
  return (event) => subjects.has(event.subject)
}

/** Backoff after the n-th failed attempt: 100 ms doubling, capped at 5 s. */
export const retryDelay = (attempt: number): number => Math.min(5_000, 100 * 2 ** (attempt - 1))
