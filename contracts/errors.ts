// Errors every capability may reply with. Their tag is the public code; the gateway renders them.
import { Schema } from "effect"

/** The request was understood but a field is missing or malformed. */
export class ValidationFailed extends Schema.TaggedError<ValidationFailed>()("ValidationFailed", {
  message: Schema.String.annotate({ description: "What is wrong, for the client to show" }),
  field: Schema.optionalKey(
    Schema.String.annotate({ description: "The offending field, when there is one" }),
  ),
}) {}

/** A handler failed for a reason that is not the caller's fault; the cause is logged under `incident`. */
export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", {
  incident: Schema.String.annotate({ description: "Id under which the worker logged the cause" }),
}) {}

export const commonErrors = [ValidationFailed, InternalError] as const
