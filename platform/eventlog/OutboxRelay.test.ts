import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as MemoryBus from "../../bus/MemoryBus.ts"
import { followCommits, forwardCommits } from "./OutboxRelay.ts"
import * as Wakeup from "./Wakeup.ts"

const settle = () => new Promise((r) => setTimeout(r, 20))

describe("the relay's wake-ups", () => {
  it("come once per commit in this process, though it also forwards them over the bus", async () => {
    const woken = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          let woken = 0
          yield* forwardCommits(bus)
          yield* followCommits(bus, () => woken++)
          Wakeup.signal()
          Wakeup.signal()
          yield* Effect.promise(settle)
          return woken
        }),
      ),
    )
    expect(woken).toBe(2)
  })

  it("come for commits another process forwards", async () => {
    const woken = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* MemoryBus.make()
          let woken = 0
          yield* followCommits(bus, () => woken++)
          yield* bus.signal("outbox-wakeup", "another-process")
          yield* Effect.promise(settle)
          return woken
        }),
      ),
    )
    expect(woken).toBe(1)
  })
})
