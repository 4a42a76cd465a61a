// Remembers keys for a fixed time, oldest first, so a lookup also sweeps what has expired.
export class DedupeWindow<V> {
  readonly #entries = new Map<string, { readonly value: V; readonly expires: number }>()
  readonly #ttl: number

  constructor(ttlMs: number) {
    this.#ttl = ttlMs
  }

  get(key: string, now = Date.now()): V | undefined {
    this.#sweep(now)
    return this.#entries.get(key)?.value
  }

  set(key: string, value: V, now = Date.now()): void {
    this.#entries.delete(key)
    this.#entries.set(key, { value, expires: now + this.#ttl })
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expires > now) return
      this.#entries.delete(key)
    }
  }
}
