import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { BusShape } from "../../bus/Bus.ts"
import * as MemoryBus from "../../bus/MemoryBus.ts"
import { followCommits, forwardCommits } from "./OutboxRelay.ts"
import * as Wakeup from "./Wakeup.ts"

/** How often a relay following commits is woken by `happen`, on a bus of its own. */
const wakeUps = (happen: (bus: BusShape) => Effect.Effect<void, unknown>, forwarding: boolean) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const bus = yield* MemoryBus.make()
        let woken = 0
        if (forwarding) yield* forwardCommits(bus)
        yield* followCommits(bus, () => woken++)
        yield* happen(bus)
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
        return woken
      }),
    ),
  )

describe("the relay's wake-ups", () => {
  it("come once per commit in this process, though it also forwards them over the bus", async () => {
    const twoCommits = () => Effect.sync(() => [Wakeup.signal(), Wakeup.signal()])
    expect(await wakeUps(twoCommits, true)).toBe(2)
  })

  it("come for commits another process forwards", async () => {
    const forwarded = (bus: BusShape) => bus.signal("outbox-wakeup", "another-process")
    expect(await wakeUps(forwarded, false)).toBe(1)
  })
})
