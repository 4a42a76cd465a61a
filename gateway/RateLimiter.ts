// Token buckets per client address, as GoTrue limits its endpoints. Each gateway keeps its own
// buckets: behind several gateways a client gets up to that many times the limit.
export interface Limit {
  /** Requests allowed per window; 0 means unlimited. */
  readonly requests: number
  readonly windowMs: number
  /** Most requests allowed in a burst (GoTrue's default burst is 30). */
  readonly burst: number
}

export interface RateLimiter {
  /** Takes one request from the bucket; returns the seconds to wait when it is empty. */
  readonly take: (bucket: string, key: string, limit: Limit) => number | undefined
}

export const make = (now: () => number = Date.now): RateLimiter => {
  const buckets = new Map<string, { tokens: number; at: number }>()
  let sweptAt = now()
  return {
    take: (bucket, key, limit) => {
      if (limit.requests <= 0) return undefined
      const t = now()
      const capacity = Math.min(limit.burst, limit.requests)
      const perMs = limit.requests / limit.windowMs
      // Forget full buckets now and then, so the map does not grow with every address ever seen.
      if (t - sweptAt > 60_000) {
        sweptAt = t
        for (const [k, b] of buckets) if (b.tokens + (t - b.at) * perMs >= capacity) buckets.delete(k)
      }
      const id = `${bucket}\u0000${key}`
      const state = buckets.get(id) ?? { tokens: capacity, at: t }
      state.tokens = Math.min(capacity, state.tokens + (t - state.at) * perMs)
      state.at = t
      buckets.set(id, state)
      if (state.tokens >= 1) {
        state.tokens -= 1
        return undefined
      }
      return Math.max(1, Math.ceil((1 - state.tokens) / perMs / 1000))
    },
  }
}
