// What a route answers; the server writes it, adding the headers every response carries.
export interface HttpResponse {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Buffer
  /**
   * A body streamed as it is read, `length` bytes long, with backpressure: a slow client slows the
   * reading instead of growing memory. The server sets Content-Length.
   */
  readonly stream?: { readonly body: NodeJS.ReadableStream & { destroy(): void }; readonly length: number }
  /** Content-Length of a reply without a body (HEAD). */
  readonly length?: number
}

const jsonHeaders: Readonly<Record<string, string>> = { "content-type": "application/json; charset=utf-8" }

export const json = (
  status: number,
  value: unknown,
  headers?: Readonly<Record<string, string>>,
): HttpResponse => ({
  status,
  headers: headers === undefined ? jsonHeaders : { ...jsonHeaders, ...headers },
  body: JSON.stringify(value),
})

export const empty = (status: number, headers: Readonly<Record<string, string>> = {}): HttpResponse => ({
  status,
  headers,
})
