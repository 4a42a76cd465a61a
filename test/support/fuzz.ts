// What the random-input tests of each protocol share: seeded requests sent to a running Reactor
// eight at a time, and every answer checked for a 5xx or an error that is not in the protocol's shape.

export interface FuzzRequest {
  readonly method: string
  /** From the server's root, with its query. */
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string | undefined
}

export interface FuzzAnswer {
  readonly request: FuzzRequest
  readonly status: number
  readonly text: string
}

export interface FuzzOptions {
  readonly requests: number
  readonly make: () => FuzzRequest
  /** The keys an error answer's JSON must have; undefined: its shape is not checked. */
  readonly errorKeys: (answer: FuzzAnswer) => ReadonlyArray<string> | undefined
  readonly onAnswer?: (answer: FuzzAnswer) => void
}

/** Sends the requests; what was wrong (each with the request that got it), and the statuses seen. */
export const fuzz = async (base: string, options: FuzzOptions) => {
  const wrong: Array<string> = []
  const statuses = new Map<number, number>()
  const one = async () => {
    const request = options.make()
    const { method, path, headers, body } = request
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    })
    const answer: FuzzAnswer = { request, status: response.status, text: await response.text() }
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    options.onAnswer?.(answer)
    const where = `${answer.status} ${method} ${path} ${JSON.stringify(headers)} ${body?.slice(0, 100)}\n  ${answer.text.slice(0, 300)}`
    if (answer.status >= 500) return wrong.push(where)
    if (answer.status < 400 || method === "HEAD") return
    const keys = options.errorKeys(answer)
    if (keys === undefined) return
    let shaped = false
    try {
      const error = JSON.parse(answer.text)
      shaped = keys.every((k) => Object.hasOwn(error, k))
    } catch {}
    if (!shaped) wrong.push(`not the error shape (${keys.join(", ")}): ${where}`)
  }
  for (let sent = 0; sent < options.requests; sent += 8)
    await Promise.all(Array.from({ length: Math.min(8, options.requests - sent) }, one))
  return { wrong, statuses }
}
