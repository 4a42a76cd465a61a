import { describe, expect, it } from "vitest"
import * as RateLimiter from "./RateLimiter.ts"

describe("a rate limit", () => {
  const limit = { requests: 30, windowMs: 300_000, burst: 30 }

  it("allows a burst, then refuses with the seconds until the next request", () => {
    let t = 0
    const limiter = RateLimiter.make(() => t)
    for (let i = 0; i < 30; i++) expect(limiter.take("signup", "1.2.3.4", limit)).toBeUndefined()
    expect(limiter.take("signup", "1.2.3.4", limit)).toBe(10)
    t += 10_000
    expect(limiter.take("signup", "1.2.3.4", limit)).toBeUndefined()
    expect(limiter.take("signup", "1.2.3.4", limit)).toBe(10)
  })

  it("keeps separate buckets per address and per endpoint, and none when the limit is 0", () => {
    const limiter = RateLimiter.make(() => 0)
    const one = { requests: 1, windowMs: 60_000, burst: 30 }
    expect(limiter.take("signup", "a", one)).toBeUndefined()
    expect(limiter.take("signup", "a", one)).toBeDefined()
    expect(limiter.take("signup", "b", one)).toBeUndefined()
    expect(limiter.take("token", "a", one)).toBeUndefined()
    for (let i = 0; i < 100; i++) expect(limiter.take("x", "a", { ...one, requests: 0 })).toBeUndefined()
  })
})
