// A PostgREST request as the data worker receives it, and the response it gets back.

export interface RestRequest {
  readonly method: "GET" | "HEAD" | "POST" | "PATCH" | "PUT" | "DELETE"
  /** Already chosen from Accept-Profile / Content-Profile and validated by the caller. */
  readonly schema: string
  readonly target:
    | { readonly kind: "table"; readonly name: string }
    | { readonly kind: "rpc"; readonly name: string }
  /** URL-decoded query parameters in order. */
  readonly query: ReadonlyArray<readonly [string, string]>
  /** The raw Prefer header; several preferences may be comma-separated. */
  readonly prefer: string | undefined
  /** The raw Accept header. */
  readonly accept: string | undefined
  /** The raw Range header ("0-9"). */
  readonly range: string | undefined
  /** The raw request body text (JSON) for POST / PATCH / PUT and rpc. */
  readonly body: string | undefined
}

export interface RestResponse {
  readonly status: number
  /** Lower-case names: content-type, content-range, preference-applied, location… */
  readonly headers: Readonly<Record<string, string>>
  /** "" for no body. */
  readonly body: string
}
