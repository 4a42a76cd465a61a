// What adapters accept as keys, prefixes, ranges and limits. Reactor makes keys itself
// (`7f/3a/<uuid>`), so anything else is a bug upstream: it dies here, before it can name a path
// outside the store. Keys have no dots at all, hence no `..`.
import { Effect } from "effect"
import type { ByteRange } from "./BlobStore.ts"

const keyPattern = /^[a-z0-9][a-z0-9/_-]{0,200}$/

export const isBlobKey = (key: string): boolean =>
  keyPattern.test(key) && !key.includes("//") && !key.endsWith("/")

/** "" or the start of a key: may end with "/". */
const isBlobPrefix = (prefix: string): boolean =>
  prefix === "" || (keyPattern.test(prefix) && !prefix.includes("//"))

const refuse = (what: string, value: unknown) =>
  Effect.die(new Error(`blob store: invalid ${what} ${JSON.stringify(value)}`))

export const checkKeys = (...keys: ReadonlyArray<string>): Effect.Effect<void> => {
  const bad = keys.find((key) => typeof key !== "string" || !isBlobKey(key))
  return bad === undefined ? Effect.void : refuse("key", bad)
}

export const checkPrefix = (prefix: string): Effect.Effect<void> =>
  isBlobPrefix(prefix) ? Effect.void : refuse("prefix", prefix)

export const checkRange = (range: ByteRange | undefined): Effect.Effect<void> =>
  range === undefined ||
  (Number.isSafeInteger(range.start) &&
    Number.isSafeInteger(range.end) &&
    range.start >= 0 &&
    range.end >= range.start)
    ? Effect.void
    : refuse("range", range)

/** A limit or an age: a whole number from 0, or Infinity. */
export const checkAmount = (what: string, amount: number): Effect.Effect<void> =>
  amount >= 0 && (Number.isSafeInteger(amount) || amount === Number.POSITIVE_INFINITY)
    ? Effect.void
    : refuse(what, amount)
