// Runs one handler and classifies how it ended. A failure outside the contract's error list, or
// a defect, becomes an incident: logged here with its cause, replied to as InternalError.
import { randomUUID } from "node:crypto"
import { Cause, Effect, Exit } from "effect"
import { tagOf } from "../../contracts/avro/Codec.ts"
import type { AnyRpc } from "../../contracts/Contract.ts"
import { InternalError } from "../../contracts/errors.ts"
import type { HandlerContext, RpcHandler } from "../Bus.ts"

export type Outcome =
  | { readonly _tag: "Replied"; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Defect"; readonly incident: InternalError }
  | { readonly _tag: "Interrupted" }

const knownTags = new WeakMap<AnyRpc, ReadonlySet<string>>()

const errorTags = (contract: AnyRpc): ReadonlySet<string> => {
  let tags = knownTags.get(contract)
  if (tags === undefined) {
    tags = new Set(contract.errors.map(tagOf))
    knownTags.set(contract, tags)
  }
  return tags
}

const isContractError = (contract: AnyRpc, error: unknown): boolean => {
  const tag = (error as { readonly _tag?: unknown } | null)?._tag
  return typeof tag === "string" && errorTags(contract).has(tag)
}

/**
 * How a handler's run ended, without running anything: the fast path for a reply. A defect still
 * needs `reportDefect` to be logged.
 */
export const classify = (
  contract: AnyRpc,
  exit: Exit.Exit<unknown, unknown>,
):
  | Exclude<Outcome, { readonly _tag: "Defect" }>
  | { readonly _tag: "Unexpected"; readonly cause: Cause.Cause<unknown> } => {
  if (Exit.isSuccess(exit)) return { _tag: "Replied", exit }
  const cause = exit.cause
  if (Cause.hasInterruptsOnly(cause)) return { _tag: "Interrupted" }
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some" && !Cause.hasDies(cause) && isContractError(contract, error.value)) {
    return { _tag: "Replied", exit: Exit.fail(error.value) }
  }
  return { _tag: "Unexpected", cause }
}

/** Logs an unexpected failure under a new incident id, the InternalError the caller receives. */
export const reportDefect = (
  contract: AnyRpc,
  cause: Cause.Cause<unknown>,
  context: HandlerContext,
): Effect.Effect<InternalError> => {
  const incident = new InternalError({ incident: randomUUID() })
  return Effect.logError(`${contract.subject} failed`).pipe(
    Effect.annotateLogs({
      incident: incident.incident,
      requestId: context.meta.requestId,
      cause: Cause.pretty(cause),
    }),
    Effect.as(incident),
  )
}

export const runHandler = (
  handler: RpcHandler,
  payload: unknown,
  context: HandlerContext,
): Effect.Effect<Outcome> =>
  Effect.suspend(() => handler.handle(payload as never, context)).pipe(
    Effect.exit,
    Effect.flatMap((exit) => {
      const outcome = classify(handler.contract, exit)
      return outcome._tag === "Unexpected"
        ? Effect.map(
            reportDefect(handler.contract, outcome.cause, context),
            (incident): Outcome => ({ _tag: "Defect", incident }),
          )
        : Effect.succeed(outcome)
    }),
  )
