// The ids every request carries. They must be unique, not secret: a random id per process plus a
// counter gives that without drawing entropy (a system call) for every request.
import { randomBytes } from "node:crypto"

const boot = randomBytes(8).toString("hex")
let counter = 0

export const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/
export const traceparentPattern = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

export const newRequestId = () => `${boot}-${(++counter).toString(36)}`

/** A W3C traceparent starting a new trace: trace id = process id + counter, span id = counter. */
export const newTraceparent = () => {
  const n = (++counter).toString(16).padStart(16, "0")
  return `00-${boot}${n}-${n}-01`
}

export const requestIdOf = (given: string | undefined) =>
  given !== undefined && requestIdPattern.test(given) ? given : newRequestId()

/**
 * A request's meta. Its trace context is the caller's when valid, else made on first read: most
 * requests never cross a process, so most never need one.
 */
export class RequestMeta {
  #traceparent: string | undefined

  constructor(
    readonly requestId: string,
    given: string | undefined,
  ) {
    if (given !== undefined && traceparentPattern.test(given)) this.#traceparent = given
  }

  get traceparent(): string {
    this.#traceparent ??= newTraceparent()
    return this.#traceparent
  }

  toJSON() {
    return { requestId: this.requestId, traceparent: this.traceparent }
  }
}
