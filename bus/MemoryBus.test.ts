import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { capability } from "../contracts/Contract.ts"
import * as MemoryBus from "./MemoryBus.ts"
import { busContract } from "./test/busContract.ts"

busContract("MemoryBus", (options) => MemoryBus.make({ ...options, ackWait: 1_000 }))

const Noted = capability("memory").event({
  name: "Noted",
  description: "A numbered note",
  payload: Schema.Struct({ n: Schema.Int }),
})

describe("MemoryBus retention", () => {
  it("keeps at least the last `retention` events for subscribers from the past, and not many more", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make({ retention: 16 })
          for (let n = 1; n <= 100; n++)
            yield* bus.publish({
              contract: Noted,
              id: `noted-${n}`,
              payload: { n },
              logPosition: `0:${n}`,
              meta: { requestId: `r-${n}`, traceparent: "" },
            })
          const seen: Array<number> = []
          yield* bus.subscribe({ events: [Noted], startAt: "all" }, (d) =>
            Effect.sync(() => {
              seen.push((d.payload as { n: number }).n)
            }),
          )
          yield* Effect.sleep(50)
          // Trimmed in steps of two (an eighth): 16 or 17 kept, the newest, in order.
          expect(seen.length).toBeGreaterThanOrEqual(16)
          expect(seen.length).toBeLessThanOrEqual(17)
          expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => 101 - seen.length + i))
        }),
      ),
    ))
})
