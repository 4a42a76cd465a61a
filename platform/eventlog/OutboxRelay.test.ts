import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { BusShape } from "../../bus/Bus.ts"
import * as MemoryBus from "../../bus/MemoryBus.ts"
import { followCommits, forwardCommits, leadership } from "./OutboxRelay.ts"
import * as Wakeup from "./Wakeup.ts"

/** How often a relay following commits is woken by `happen`, on a bus of its own. */
const wakeUps = (happen: (bus: BusShape) => Effect.Effect<void, unknown>, forwarding: boolean) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const bus = yield* MemoryBus.make()
        let woken = 0
        if (forwarding) yield* forwardCommits(bus, leadership())
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

/** How many signals this process forwards over the bus while `commits` runs. */
const forwarded = (leading: boolean, commits: (count: () => number) => Promise<unknown>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const bus = yield* MemoryBus.make()
        let signals = 0
        yield* bus.listen("outbox-wakeup", () => signals++).pipe(Effect.orDie)
        yield* forwardCommits(bus, { leading }, 50)
        yield* Effect.promise(() => commits(() => signals))
        return signals
      }),
    ),
  )

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("forwarded commits", () => {
  it("are not sent while this process's own relay leads", async () => {
    const commits = async () => {
      Wakeup.signal()
      await sleep(80)
      Wakeup.signal()
      await sleep(80)
    }
    expect(await forwarded(true, commits)).toBe(0)
  })

  it("go one per window, the end of a burst included", async () => {
    const seen: Array<number> = []
    const commits = async (count: () => number) => {
      for (let i = 0; i < 5; i++) Wakeup.signal()
      await sleep(10)
      seen.push(count())
      await sleep(90)
      seen.push(count())
      Wakeup.signal()
      await sleep(10)
    }
    const total = await forwarded(false, commits)
    // The burst's first at once, the rest as one at the window's end; a later commit at once.
    expect([...seen, total]).toEqual([1, 2, 3])
  })
})
