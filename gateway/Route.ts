// A route: one HTTP method and path, the protocol its errors speak, and the Effect that answers it.
import type { Effect } from "effect"
import type { Protocol, RenderableError } from "./http/errors.ts"
import type { HttpRequest } from "./http/HttpRequest.ts"
import type { HttpResponse } from "./http/HttpResponse.ts"

export type Method = "get" | "post" | "put" | "patch" | "del" | "head"

export interface Route<R = never> {
  readonly method: Method
  /** uWS pattern: `/auth/v1/user`, `/auth/v1/admin/users/:id`, `/rest/v1/*`. */
  readonly path: string
  readonly protocol: Protocol
  /** Require a valid `apikey` (anon or service-role key), as Supabase's API gateway does. */
  readonly apiKey: boolean
  /**
   * "json": the body must parse as JSON (an empty body is `{}` only when `emptyBody` allows it).
   * "stream": the route reads `request.stream` as it arrives, with backpressure and no size limit
   * of the server's; it starts before the body has arrived.
   */
  readonly body: "none" | "json" | "raw" | "stream"
  readonly emptyBody?: boolean
  readonly handle: (request: HttpRequest) => Effect.Effect<HttpResponse, RenderableError, R>
}

export const route = <R>(definition: Route<R>): Route<R> => definition
