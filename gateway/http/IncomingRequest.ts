// The gateway's HttpRequest: a class, so V8 builds every request with one shape and the query
// and client address are computed only when a route asks for them.
import type { Readable } from "node:stream"
import type { Meta } from "../../bus/Bus.ts"
import type { HttpRequest } from "./HttpRequest.ts"
import { QueryParams } from "./QueryParams.ts"

export class IncomingRequest implements HttpRequest {
  #query: QueryParams | undefined
  #ip: string | undefined

  constructor(
    readonly method: string,
    readonly path: string,
    readonly rawQuery: string,
    readonly headers: ReadonlyMap<string, string>,
    readonly params: ReadonlyArray<string>,
    /** Reads the client's address; called at most once. */
    readonly address: () => string,
    readonly body: Buffer,
    readonly json: unknown,
    readonly meta: Required<Meta>,
    readonly stream: Readable | undefined = undefined,
  ) {}

  get query(): QueryParams {
    this.#query ??= new QueryParams(this.rawQuery)
    return this.#query
  }

  get ip(): string {
    this.#ip ??= this.address()
    return this.#ip
  }

  /** The same request with its body read. */
  withBody(body: Buffer, json: unknown): IncomingRequest {
    return this.with(body, json, this.stream)
  }

  /** The same request with its body to be read as it arrives. */
  withStream(stream: Readable): IncomingRequest {
    return this.with(this.body, undefined, stream)
  }

  private with(body: Buffer, json: unknown, stream: Readable | undefined): IncomingRequest {
    const { method, path, rawQuery, headers, params, address, meta } = this
    return new IncomingRequest(method, path, rawQuery, headers, params, address, body, json, meta, stream)
  }
}
