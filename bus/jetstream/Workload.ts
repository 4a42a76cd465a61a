// What one worker is handling: at most `concurrency` handlers at once, each in a fiber the
// worker interrupts when its scope closes.
import { Effect, Fiber } from "effect"

export interface Job {
  readonly run: Effect.Effect<void>
  /** Called instead of `run` when the worker stops before the job could start. */
  readonly drop: () => void
}

export class Workload {
  readonly #concurrency: number
  readonly #fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  readonly #fibers = new Set<Fiber.Fiber<void>>()
  readonly #backlog: Array<Job> = []
  readonly #waiters = new Set<() => void>()
  #active = 0
  #closed = false

  constructor(concurrency: number, fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>) {
    this.#concurrency = Math.max(1, concurrency)
    this.#fork = fork
  }

  get closed(): boolean {
    return this.#closed
  }

  get free(): number {
    return Math.max(0, this.#concurrency - this.#active)
  }

  /** Waits until a handler may start, and tells how many may. */
  readonly room: Effect.Effect<number> = Effect.callback<number>((resume) => {
    if (this.free > 0) return resume(Effect.succeed(this.free))
    const wake = () => {
      if (this.free === 0) return
      this.#waiters.delete(wake)
      resume(Effect.succeed(this.free))
    }
    this.#waiters.add(wake)
    return Effect.sync(() => void this.#waiters.delete(wake))
  })

  /** Starts a handler now, whatever the room: the caller asked for no more than `room` gave. */
  start(job: Job): void {
    if (this.#closed) {
      job.drop()
      return
    }
    this.#active++
    // The job starts on the next tick, after its fiber is registered: run at once, it could
    // complete, or wake a caller that stops this worker, before fork returned.
    const fiber = this.#fork(Effect.andThen(Effect.yieldNow, job.run))
    this.#fibers.add(fiber)
    fiber.addObserver(() => {
      this.#fibers.delete(fiber)
      this.#active--
      this.#next()
    })
  }

  /** Starts a handler when there is room; until then it waits here, in memory. */
  submit(job: Job): void {
    if (!this.#closed && this.free > 0 && this.#backlog.length === 0) this.start(job)
    else if (this.#closed) job.drop()
    else this.#backlog.push(job)
  }

  /** Stops taking work and interrupts every handler still running. */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.#closed = true
    for (const job of this.#backlog.splice(0)) job.drop()
    return Effect.forEach([...this.#fibers], Fiber.interrupt, { discard: true })
  })

  #next(): void {
    if (this.#closed) return
    while (this.free > 0 && this.#backlog.length > 0) this.start(this.#backlog.shift()!)
    for (const wake of [...this.#waiters]) wake()
  }
}
