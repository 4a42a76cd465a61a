// Queries over core NATS request/reply: not durable, answered by one worker of the queue group,
// failing at once when no worker listens.
import { randomUUID } from "node:crypto"
import type { Msg } from "@nats-io/transport-node"
import { Effect, Exit, type Scope } from "effect"
import type { Query } from "../../contracts/Contract.ts"
import type { HandlerContext, Meta, RpcHandler } from "../Bus.ts"
import { BusTimeout, BusUnavailable } from "../BusError.ts"
import { runHandler } from "../internal/runHandler.ts"
import type { Connection } from "./Connection.ts"
import { describe, isNoResponders, isTimeout } from "./failures.ts"
import { readMeta, withMeta } from "./Headers.ts"
import { type Names, safeName } from "./Names.ts"
import {
  decodePayload,
  encodePayload,
  type Frame,
  malformedFrame,
  readReply,
  replyFrame,
  stoppedFrame,
} from "./Wire.ts"
import type { Workload } from "./Workload.ts"

const ask = Effect.fnUntraced(function* (
  conn: Connection,
  names: Names,
  defaultTimeout: number,
  contract: Query,
  payload: unknown,
  options: { readonly meta: Meta; readonly timeout?: number },
) {
  const subject = contract.subject
  const data = yield* encodePayload(contract, payload)
  const afterMs = options.timeout ?? defaultTimeout
  const reply = yield* Effect.tryPromise({
    try: () =>
      conn.nc.request(names.subject(subject), data, {
        timeout: afterMs,
        headers: withMeta(options.meta),
      }),
    catch: (error) =>
      isTimeout(error)
        ? new BusTimeout({ subject, afterMs })
        : isNoResponders(error)
          ? new BusUnavailable({ reason: `no worker serves ${subject}` })
          : new BusUnavailable({ reason: `cannot ask ${subject}: ${describe(error)}` }),
  })
  return yield* readReply(contract, reply)
})

export const request =
  (conn: Connection, names: Names, defaultTimeout: number) =>
  (contract: Query, payload: unknown, options: { readonly meta: Meta; readonly timeout?: number }) =>
    ask(conn, names, defaultTimeout, contract, payload, options)

// Decodes the query, runs its handler and answers with its outcome through `respond`.
const answerWith = Effect.fnUntraced(function* (
  handler: RpcHandler,
  message: Msg,
  respond: (frame: Frame) => Effect.Effect<void>,
) {
  const payload = yield* Effect.result(decodePayload(handler.contract, message.data))
  if (payload._tag === "Failure") return yield* respond(malformedFrame(payload.failure))
  const context: HandlerContext = {
    meta: readMeta(message.headers),
    idempotencyKey: randomUUID(),
    mayHaveRun: false,
    delivery: 1,
  }
  const outcome = yield* runHandler(handler, payload.success, context)
  switch (outcome._tag) {
    case "Replied":
      return yield* Effect.flatMap(replyFrame(handler.contract, outcome.exit), respond)
    case "Defect":
      return yield* Effect.flatMap(replyFrame(handler.contract, Exit.fail(outcome.incident)), respond)
    case "Interrupted":
      return yield* respond(stoppedFrame())
  }
})

const answer = (handler: RpcHandler, message: Msg) => {
  let answered = false
  const respond = (frame: Frame) =>
    Effect.sync(() => {
      if (answered) return
      answered = true
      message.respond(frame.data, { headers: frame.headers })
    })
  return answerWith(handler, message, respond).pipe(Effect.onInterrupt(() => respond(stoppedFrame())))
}

/** Answers the handlers' queries until the scope closes. */
export const serve = (
  conn: Connection,
  names: Names,
  workload: Workload,
  group: string,
  handlers: ReadonlyArray<RpcHandler>,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.forEach(
    handlers,
    (handler) =>
      Effect.acquireRelease(
        Effect.sync(() =>
          conn.nc.subscribe(names.subject(handler.contract.subject), {
            queue: safeName(group),
            callback: (error, message) => {
              if (error !== null) {
                conn.fork(Effect.logWarning(`${handler.contract.subject}: ${describe(error)}`))
                return
              }
              workload.submit({
                run: answer(handler, message),
                drop: () => {
                  const frame = stoppedFrame()
                  message.respond(frame.data, { headers: frame.headers })
                },
              })
            },
          }),
        ),
        (subscription) => Effect.sync(() => subscription.unsubscribe()),
      ),
    { discard: true },
  )
