// GET /_admin/echo?message=…: a round trip through the bus to a worker, for checks and benchmarks.
import { Effect } from "effect"
import { Bus } from "../../../bus/Bus.ts"
import { Echo } from "../../../contracts/system.ts"
import { json } from "../../http/HttpResponse.ts"
import { route } from "../../Route.ts"
import { AdminGate } from "./AdminGate.ts"

export const echo = (timeout: number) =>
  route({
    method: "get",
    path: "/_admin/echo",
    protocol: "plain",
    apiKey: false,
    body: "none",
    handle: (request) =>
      AdminGate.use((gate) => gate.check(request)).pipe(
        Effect.andThen(
          Bus.use((bus) =>
            bus.request(
              Echo,
              { message: request.query.get("message") ?? "" },
              { meta: request.meta, timeout },
            ),
          ),
        ),
        Effect.map((reply) => json(200, reply)),
      ),
  })
