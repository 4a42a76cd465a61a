// System: messages the platform itself uses to check the bus end to end.
import { Schema } from "effect"
import { type Catalogue, capability } from "./Contract.ts"
import { InternalError } from "./errors.ts"

const system = capability("system")

const Message = Schema.Struct({
  message: Schema.String.annotate({ description: "Any text, returned as sent" }),
})

export const Echo = system.query({
  name: "Echo",
  description: "Replies with what it was sent; measures the request path through the bus",
  payload: Message,
  success: Message,
  errors: [InternalError],
})

export const EchoCommand = system.command({
  name: "EchoCommand",
  description: "Replies with what it was sent, through the durable command path",
  payload: Message,
  success: Message,
  errors: [InternalError],
})

export const Appended = system.event({
  name: "Appended",
  description: "A note appended to the log by the event-log benchmark and the platform's self-checks",
  payload: Schema.Struct({
    note: Schema.String,
    at: Schema.String.annotate({ description: "ISO 8601 instant" }),
  }),
})

export const Append = system.command({
  name: "Append",
  description: "Appends one Appended event through the command path (idempotency, event, outbox)",
  payload: Schema.Struct({ note: Schema.String }),
  success: Schema.Struct({ stream: Schema.String }),
  errors: [InternalError],
})

export const catalogue = {
  capability: "system",
  commands: [EchoCommand, Append],
  queries: [Echo],
  events: [Appended],
  errors: [],
} as const satisfies Catalogue
