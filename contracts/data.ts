// Data: the app's own tables over a PostgREST-compatible API, and every committed change to them.
// Every message of the capability is listed here.
import { Schema } from "effect"
import { type Catalogue, capability } from "./Contract.ts"
import { InternalError, ValidationFailed } from "./errors.ts"
import { JsonObject, Timestamp } from "./shared.ts"

const data = capability("data")

// ---------------------------------------------------------------------------------------------
// Requests travel as PostgREST would see them: the worker owns the grammar and the schema cache,
// so a gateway needs neither, and replies are the bytes PostgREST would send.

const Who = {
  role: Schema.String.annotate({
    description: "Postgres role the request runs as: anon, authenticated or service_role",
  }),
  claims: Schema.String.annotate({
    description: "The verified JWT claims as JSON text, set as request.jwt.claims",
  }),
}

export const RestRequest = Schema.Struct({
  ...Who,
  method: Schema.Literals(["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]),
  schema: Schema.String.annotate({
    description: "The exposed schema chosen by Accept-Profile or Content-Profile",
  }),
  target: Schema.Struct({
    kind: Schema.Literals(["table", "rpc"]),
    name: Schema.String.annotate({ description: "Table, view or function name as the URL gave it" }),
  }),
  query: Schema.Array(Schema.Struct({ name: Schema.String, value: Schema.String })).annotate({
    description: "Decoded query parameters, in order",
  }),
  prefer: Schema.NullOr(Schema.String).annotate({
    description: "The Prefer header, several values comma-joined",
  }),
  accept: Schema.NullOr(Schema.String),
  range: Schema.NullOr(Schema.String).annotate({ description: "The Range header, e.g. 0-9" }),
  body: Schema.NullOr(Schema.String).annotate({ description: "The JSON body as sent" }),
})
export type RestRequest = typeof RestRequest.Type

export const RestReply = Schema.Struct({
  status: Schema.Int,
  headers: Schema.Record(Schema.String, Schema.String).annotate({
    description: "content-type, content-range, location, preference-applied",
  }),
  body: Schema.String.annotate({ description: "The response body as PostgREST writes it; empty for none" }),
})
export type RestReply = typeof RestReply.Type

/** An error PostgREST would answer with: its own PGRST code or a Postgres SQLSTATE. */
export class RestError extends Schema.TaggedError<RestError>()("RestError", {
  status: Schema.Int.annotate({ description: "HTTP status PostgREST uses for this code" }),
  code: Schema.String.annotate({ description: "PGRSTnnn or a SQLSTATE" }),
  message: Schema.String,
  details: Schema.Json.annotate({
    description: "Usually text or null; PGRST201 (ambiguous embedding) lists the candidates as an array",
  }),
  hint: Schema.NullOr(Schema.String),
}) {}

export const Read = data.query({
  name: "Read",
  description: "GET or HEAD on a table, a view or a function: rows as the caller's role may see them",
  payload: RestRequest,
  success: RestReply,
  errors: [RestError, ValidationFailed, InternalError],
})

export const Write = data.command({
  name: "Write",
  description: "Insert, update, upsert or delete rows, or call a function, as the caller's role",
  payload: RestRequest,
  success: RestReply,
  errors: [RestError, ValidationFailed, InternalError],
})

// ---------------------------------------------------------------------------------------------
// Events. Written by triggers on every table of an exposed schema, in the writing transaction,
// whoever wrote: the API, a function, a job or plain SQL.

export const Column = Schema.Struct({
  name: Schema.String,
  type: Schema.String.annotate({
    description: "Postgres type name as pg_type has it: int8, text, uuid, timestamptz…",
  }),
})

export const RowChanged = data.event({
  name: "RowChanged",
  description: "A row of an app table was inserted, updated or deleted; the transaction committed",
  payload: Schema.Struct({
    schema: Schema.String,
    table: Schema.String,
    type: Schema.Literals(["INSERT", "UPDATE", "DELETE"]),
    record: Schema.NullOr(JsonObject).annotate({ description: "The row after the change; null for DELETE" }),
    old_record: Schema.NullOr(JsonObject).annotate({ description: "The whole row before; null for INSERT" }),
    columns: Schema.Array(Column).annotate({ description: "The table's columns when the change was made" }),
    commit_timestamp: Timestamp.annotate({ description: "When the writing transaction began (now())" }),
  }),
})

export const BroadcastSent = data.event({
  name: "BroadcastSent",
  description:
    "SQL sent a realtime broadcast (realtime.send) and its transaction committed: every gateway delivers it to the topic's members",
  payload: Schema.Struct({
    topic: Schema.String.annotate({ description: "The channel's name, without `realtime:`" }),
    event: Schema.String,
    payload: JsonObject,
    private: Schema.Boolean.annotate({
      description: "For the private channel of that name, or the public one",
    }),
  }),
})

export const catalogue = {
  capability: "data",
  commands: [Write],
  queries: [Read],
  events: [RowChanged, BroadcastSent],
  errors: [RestError],
} as const satisfies Catalogue
