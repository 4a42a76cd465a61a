import { randomBytes } from "node:crypto"
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect, Exit, Fiber, Schedule, Schema, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { capability } from "../contracts/Contract.ts"
import { InternalError } from "../contracts/errors.ts"
import { type NatsServer, startNats } from "../test/support/nats.ts"
import { type BusShape, type Delivery, handler, type Meta } from "./Bus.ts"
import * as JetStreamBus from "./JetStreamBus.ts"
import { busContract } from "./test/busContract.ts"

const freshPrefix = () => `t${randomBytes(6).toString("hex")}`

let nats: NatsServer
beforeAll(async () => {
  nats = await startNats()
})
afterAll(async () => {
  await nats?.stop()
})

busContract("JetStreamBus", (options) =>
  JetStreamBus.make({ servers: nats.url, prefix: freshPrefix(), ackWait: 1_000, timeout: 5_000, ...options }),
)

const faults = capability("faults")

const Double = faults.command({
  name: "Double",
  description: "Doubles n",
  payload: Schema.Struct({ n: Schema.Int }),
  success: Schema.Struct({ n: Schema.Int }),
  errors: [InternalError],
})

const Half = faults.query({
  name: "Half",
  description: "Halves n",
  payload: Schema.Struct({ n: Schema.Int }),
  success: Schema.Struct({ n: Schema.Int }),
  errors: [InternalError],
})

const Counted = faults.event({
  name: "Counted",
  description: "A number was counted",
  payload: Schema.Struct({ n: Schema.Int }),
})

const meta: Meta = { requestId: "req-fault" }

/** A worker of the group "doublers" that answers every Double at once. */
const serveDoublers = (bus: BusShape) =>
  bus.serve({ group: "doublers", handlers: [handler(Double, ({ n }) => Effect.succeed({ n: n * 2 }))] })

/** Runs `body` with a bus on the test server, under a fresh prefix unless `options` names one. */
const withBus = <A, E>(
  options: Partial<JetStreamBus.JetStreamBusOptions>,
  body: (bus: BusShape) => Effect.Effect<A, E, Scope.Scope>,
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(JetStreamBus.make({ servers: nats.url, prefix: freshPrefix(), ...options }), body),
    ),
  )

const retrying = { schedule: Schedule.spaced(50), times: 40 }

/** Runs `body` with a JetStream manager on a connection of its own, closed after. */
const withManager = async (body: (jsm: JetStreamManager) => Promise<void>) => {
  const nc = await connect({ servers: nats.url })
  try {
    await body(await jetstreamManager(nc))
  } finally {
    await nc.close()
  }
}

const publishCounted = (bus: BusShape, n: number) =>
  bus.publish({ contract: Counted, id: `counted-${n}`, payload: { n }, logPosition: `0:${n}`, meta })

const waitFor = async (check: () => boolean, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe("JetStreamBus", () => {
  describe("when nats-server restarts", () => {
    let server: NatsServer
    beforeAll(async () => {
      server = await startNats()
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("reconnects its workers, callers and durable subscribers by themselves", async () => {
      const scope = Effect.runSync(Scope.make())
      const inScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
        Effect.runPromise(Scope.provide(effect, scope))
      try {
        const options = { servers: server.url, prefix: freshPrefix(), ackWait: 2_000, timeout: 10_000 }
        const worker = await inScope(JetStreamBus.make({ ...options, name: "worker" }))
        const caller = await inScope(JetStreamBus.make({ ...options, name: "caller" }))
        await inScope(serveDoublers(worker))
        await inScope(
          worker.serve({
            group: "halvers",
            handlers: [handler(Half, ({ n }) => Effect.succeed({ n: n / 2 }))],
          }),
        )
        const durable: Array<Delivery> = []
        const ephemeral: Array<Delivery> = []
        await inScope(
          worker.subscribe({ events: [Counted], durable: "counter", startAt: "all" }, (d) =>
            Effect.sync(() => void durable.push(d)),
          ),
        )
        await inScope(
          caller.subscribe({ events: { capability: "faults" }, startAt: "new" }, (d) =>
            Effect.sync(() => void ephemeral.push(d)),
          ),
        )
        expect(await Effect.runPromise(caller.send(Double, { n: 1 }, { meta }))).toEqual({ n: 2 })
        await Effect.runPromise(publishCounted(caller, 1))
        await waitFor(() => durable.length === 1 && ephemeral.length === 1)

        await server.restart()

        expect(await Effect.runPromise(caller.send(Double, { n: 21 }, { meta }))).toEqual({ n: 42 })
        expect(await Effect.runPromise(caller.request(Half, { n: 42 }, { meta }))).toEqual({ n: 21 })
        await Effect.runPromise(publishCounted(caller, 2))
        await waitFor(() => durable.length === 2 && ephemeral.length === 2)
        await new Promise((resolve) => setTimeout(resolve, 200))
        const numbers = (ds: ReadonlyArray<Delivery>) => ds.map((d) => (d.payload as { n: number }).n)
        expect(numbers(durable)).toEqual([1, 2])
        expect(numbers(ephemeral)).toEqual([1, 2])
        await Effect.runPromise(worker.ping)
        await Effect.runPromise(caller.ping)
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    })
  })

  describe("a command whose handler keeps dying", () => {
    it("is delivered maxDeliver times, then answered with InternalError", async () => {
      const deliveries: Array<number> = []
      const error = await withBus({ maxDeliver: 3 }, (bus) =>
        Effect.gen(function* () {
          yield* bus.serve({
            group: "doublers",
            handlers: [
              handler(Double, (_, ctx) =>
                Effect.andThen(
                  Effect.sync(() => deliveries.push(ctx.delivery)),
                  Effect.die(new Error("boom")),
                ),
              ),
            ],
          })
          return yield* Effect.flip(bus.send(Double, { n: 1 }, { meta }))
        }),
      )
      expect(error._tag).toBe("InternalError")
      expect(deliveries).toEqual([1, 2, 3])
    })
  })

  describe("when its consumer or stream is deleted", () => {
    it("puts them back and goes on handling commands", async () => {
      const prefix = freshPrefix()
      await withManager(async (jsm) => {
        const reply = await withBus({ prefix }, (bus) =>
          Effect.gen(function* () {
            yield* serveDoublers(bus)
            // Under a client's key, so that each goes through the stream, not straight to the worker.
            const viaStream = (n: number) => bus.send(Double, { n }, { meta, idempotencyKey: `loss-${n}` })
            yield* viaStream(1)
            yield* Effect.promise(() => jsm.consumers.delete(`${prefix}_CMD_faults`, "doublers"))
            yield* viaStream(2)
            yield* Effect.promise(() => jsm.streams.delete(`${prefix}_CMD_faults`))
            // The first send after the loss fails; the worker puts the stream back for the next.
            yield* Effect.retry(viaStream(3), retrying)
            return yield* viaStream(4)
          }),
        )
        expect(reply).toEqual({ n: 8 })
      })
    })
  })

  describe("a command with a key the bus made", () => {
    it("runs once when its reply comes after the stream was asked to confirm it", async () => {
      const runs: Array<number> = []
      const replies = await withBus({ confirmAfterMs: 50 }, (bus) =>
        Effect.gen(function* () {
          // One at a time: the second is declined by the busy worker and goes to the stream.
          yield* bus.serve({
            group: "doublers",
            concurrency: 1,
            handlers: [
              handler(Double, ({ n }) =>
                Effect.sync(() => runs.push(n)).pipe(
                  Effect.andThen(Effect.sleep(400)),
                  Effect.as({ n: n * 2 }),
                ),
              ),
            ],
          })
          const answers = yield* Effect.all(
            [bus.send(Double, { n: 21 }, { meta }), bus.send(Double, { n: 22 }, { meta })],
            { concurrency: 2 },
          )
          // A second copy in the stream would have reached the worker by now.
          yield* Effect.sleep(500)
          return answers
        }),
      )
      expect(replies).toEqual([{ n: 42 }, { n: 44 }])
      expect(runs.toSorted()).toEqual([21, 22])
    })

    it("gets its own reply among many sent at once, and the reply is not kept", async () => {
      const prefix = freshPrefix()
      await withManager(async (jsm) => {
        const kept = async () => (await jsm.streams.info(`${prefix}_REPLIES`)).state.messages
        const { replies, keptAfterOwnKeys, keptAfterClientKey } = await withBus({ prefix }, (bus) =>
          Effect.gen(function* () {
            yield* bus.serve({
              group: "doublers",
              handlers: [handler(Double, ({ n }) => Effect.sleep(n % 7).pipe(Effect.as({ n: n * 2 })))],
            })
            const replies = yield* Effect.forEach(
              Array.from({ length: 100 }, (_, n) => n),
              (n) => bus.send(Double, { n }, { meta }),
              { concurrency: "unbounded" },
            )
            const keptAfterOwnKeys = yield* Effect.promise(kept)
            yield* bus.send(Double, { n: 1 }, { meta, idempotencyKey: "a-client-key" })
            return { replies, keptAfterOwnKeys, keptAfterClientKey: yield* Effect.promise(kept) }
          }),
        )
        expect(replies).toEqual(Array.from({ length: 100 }, (_, n) => ({ n: n * 2 })))
        // Kept only where a second send could ask for it: under a key the client chose.
        expect([keptAfterOwnKeys, keptAfterClientKey]).toEqual([0, 1])
      })
    })

    it("fails as unavailable, not as a timeout, when its publish was lost", async () => {
      const prefix = freshPrefix()
      await withManager(async (jsm) => {
        const failed = await withBus({ prefix, confirmAfterMs: 100 }, (bus) =>
          Effect.gen(function* () {
            const worker = yield* Scope.make()
            yield* Scope.provide(
              bus.serve({
                group: "doublers",
                handlers: [handler(Double, ({ n }) => Effect.succeed({ n }))],
              }),
              worker,
            )
            yield* bus.send(Double, { n: 1 }, { meta })
            // No worker takes the next one straight away, so it goes to the stream, which is
            // gone while the bus believes it is there: the publish reaches nothing.
            yield* Scope.close(worker, Exit.void)
            yield* Effect.promise(() => jsm.streams.delete(`${prefix}_CMD_faults`))
            return yield* Effect.flip(bus.send(Double, { n: 2 }, { meta, timeout: 5_000 }))
          }),
        )
        expect(failed._tag).toBe("BusUnavailable")
      })
    })
  })

  describe("a command handed straight to a worker", () => {
    const streamHeld = (jsm: JetStreamManager, prefix: string) =>
      jsm.streams.info(`${prefix}_CMD_faults`).then((info) => info.state.last_seq)

    it("is answered over core NATS, never stored in the stream", async () => {
      const prefix = freshPrefix()
      await withManager(async (jsm) => {
        const replies = await withBus({ prefix }, (bus) =>
          Effect.gen(function* () {
            yield* serveDoublers(bus)
            return yield* Effect.forEach([1, 2, 3, 4, 5], (n) => bus.send(Double, { n }, { meta }))
          }),
        )
        expect(replies).toEqual([{ n: 2 }, { n: 4 }, { n: 6 }, { n: 8 }, { n: 10 }])
        expect(await streamHeld(jsm, prefix)).toBe(0)
      })
    })

    it("goes to the stream when its worker has no room, and runs once when room frees", async () => {
      const prefix = freshPrefix()
      await withManager(async (jsm) => {
        const runs: Array<{ n: number; delivery: number; mayHaveRun: boolean }> = []
        const { replies, heldWhileBusy } = await withBus({ prefix }, (bus) =>
          Effect.gen(function* () {
            const release = yield* Deferred.make<void>()
            yield* bus.serve({
              group: "doublers",
              concurrency: 1,
              handlers: [
                handler(Double, ({ n }, context) =>
                  Effect.sync(() =>
                    runs.push({ n, delivery: context.delivery, mayHaveRun: context.mayHaveRun }),
                  ).pipe(
                    Effect.andThen(n === 1 ? Deferred.await(release) : Effect.void),
                    Effect.as({ n: n * 2 }),
                  ),
                ),
              ],
            })
            const first = yield* Effect.forkChild(bus.send(Double, { n: 1 }, { meta }))
            yield* Effect.sleep(100)
            const second = yield* Effect.forkChild(bus.send(Double, { n: 2 }, { meta }))
            yield* Effect.sleep(200)
            const heldWhileBusy = yield* Effect.promise(() => streamHeld(jsm, prefix))
            yield* Deferred.succeed(release, undefined)
            const replies = [yield* Fiber.join(first), yield* Fiber.join(second)]
            yield* Effect.sleep(300)
            return { replies, heldWhileBusy }
          }),
        )
        expect(replies).toEqual([{ n: 2 }, { n: 4 }])
        expect(heldWhileBusy).toBe(1)
        // Declined, it never ran: the stream's first delivery is still a first attempt.
        expect(runs).toEqual([
          { n: 1, delivery: 1, mayHaveRun: false },
          { n: 2, delivery: 1, mayHaveRun: false },
        ])
      })
    })

    it("times out without a copy in the stream when its caller stops waiting before the ack wait", async () => {
      const prefix = freshPrefix()
      await withManager(async (jsm) => {
        let runs = 0
        const failed = await withBus({ prefix, ackWait: 5_000 }, (bus) =>
          Effect.gen(function* () {
            yield* bus.serve({
              group: "doublers",
              handlers: [
                handler(Double, ({ n }) =>
                  Effect.sync(() => runs++).pipe(Effect.andThen(Effect.sleep(600)), Effect.as({ n: n * 2 })),
                ),
              ],
            })
            const failed = yield* Effect.flip(bus.send(Double, { n: 1 }, { meta, timeout: 200 }))
            // A copy in the stream would be delivered once the worker is free again.
            yield* Effect.sleep(800)
            return failed
          }),
        )
        expect(failed._tag).toBe("BusTimeout")
        expect(runs).toBe(1)
        expect(await streamHeld(jsm, prefix)).toBe(0)
      })
    })

    it("goes to the stream as a second delivery when the worker that took it never answers", async () => {
      const prefix = freshPrefix()
      // Takes every command handed to the group and dies with it: a worker killed -9.
      const blackHole = await connect({ servers: nats.url })
      try {
        const taken = new Promise<void>((resolve) =>
          blackHole.subscribe(`${prefix}.direct.cmd.faults.>`, {
            queue: "doublers",
            callback: () => resolve(),
          }),
        )
        await blackHole.flush()
        const runs: Array<{ delivery: number; mayHaveRun: boolean }> = []
        const reply = await withBus({ prefix, ackWait: 500 }, (bus) =>
          Effect.gen(function* () {
            // The sender waits one ack wait for a reply before it gives the command to the stream.
            const sent = yield* Effect.forkChild(bus.send(Double, { n: 4 }, { meta }))
            yield* Effect.promise(() => taken)
            blackHole.close()
            yield* bus.serve({
              group: "doublers",
              handlers: [
                handler(Double, ({ n }, context) =>
                  Effect.sync(() =>
                    runs.push({ delivery: context.delivery, mayHaveRun: context.mayHaveRun }),
                  ).pipe(Effect.as({ n: n * 2 })),
                ),
              ],
            })
            return yield* Fiber.join(sent)
          }),
        )
        expect(reply).toEqual({ n: 8 })
        // It may have run where it was taken, so the worker looks up its reply before acting.
        expect(runs).toEqual([{ delivery: 2, mayHaveRun: true }])
      } finally {
        await blackHole.close()
      }
    })
  })

  describe("a batch of events", () => {
    const Noted = faults.event({
      name: "Noted",
      description: "A note was taken",
      payload: Schema.Struct({ n: Schema.Int, text: Schema.String }),
    })
    const noted = (n: number, text = "") => ({
      contract: Noted,
      id: `noted-${n}`,
      payload: { n, text },
      logPosition: `0:${n}`,
      meta,
    })

    it("is stored up to the first event the stream refuses, and not past it", async () => {
      const events = await withBus({ timeout: 3_000 }, (bus) =>
        Effect.gen(function* () {
          // The third is over NATS's largest message: refused, while the fourth and fifth are
          // already on their way.
          const failed = yield* Effect.flip(
            bus.publishAll([noted(1), noted(2), noted(3, "x".repeat(2 * 1024 * 1024)), noted(4), noted(5)]),
          )
          expect(failed._tag).toBe("BusUnavailable")
          const seen: Array<number> = []
          yield* bus.subscribe({ events: [Noted], startAt: "all" }, (d) =>
            Effect.sync(() => void seen.push((d.payload as { n: number }).n)),
          )
          yield* Effect.sleep(500)
          const last = yield* bus.lastPublished
          // Published again from after the last one stored, as the relay does, the batch is whole.
          yield* bus.publishAll([noted(3), noted(4), noted(5)])
          yield* Effect.promise(() => waitFor(() => seen.length >= 5))
          yield* Effect.sleep(200)
          return { before: seen.slice(0, 2), last, seen }
        }),
      )
      expect(events.before).toEqual([1, 2])
      expect(events.last).toMatchObject({ _tag: "Some", value: { logPosition: "0:2" } })
      expect(events.seen).toEqual([1, 2, 3, 4, 5])
    })
  })

  describe("bus-level errors", () => {
    it("reports a publish no stream captures as BusUnavailable, and restores the stream", async () => {
      const prefix = freshPrefix()
      const scope = Effect.runSync(Scope.make())
      const nc = await connect({ servers: nats.url })
      try {
        const bus = await Effect.runPromise(
          Scope.provide(JetStreamBus.make({ servers: nats.url, prefix, timeout: 3_000 }), scope),
        )
        const jsm = await jetstreamManager(nc)
        await jsm.streams.delete(`${prefix}_EVENTS`)
        const error = await Effect.runPromise(Effect.flip(publishCounted(bus, 1)))
        expect(error._tag).toBe("BusUnavailable")
        expect(error).toMatchObject({
          reason: expect.stringMatching(/no stream captures .*evt\.faults\.Counted/),
        })
        // The failed publish had the stream put back.
        const again = await Effect.runPromise(Effect.retry(publishCounted(bus, 1), retrying))
        expect(again.duplicate).toBe(false)
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
        await nc.close()
      }
    })

    it("fails to start with BusUnavailable when NATS cannot be reached", async () => {
      const started = Date.now()
      const error = await Effect.runPromise(
        Effect.flip(
          Effect.scoped(
            JetStreamBus.make({
              servers: "nats://127.0.0.1:1",
              prefix: freshPrefix(),
              connectTimeout: 1_000,
            }),
          ),
        ),
      )
      expect(error).toMatchObject({ _tag: "BusUnavailable", reason: expect.stringMatching(/cannot connect/) })
      expect(Date.now() - started).toBeLessThan(5_000)
    })

    it("answers ping while connected", async () => {
      await withBus({}, (bus) => bus.ping)
    })
  })
})
