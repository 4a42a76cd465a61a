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

export const catalogue = {
  capability: "system",
  commands: [EchoCommand],
  queries: [Echo],
  events: [],
  errors: [],
} as const satisfies Catalogue
