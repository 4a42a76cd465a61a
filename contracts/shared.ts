// Schemas several capabilities use as field types.
import { Schema } from "effect"

/** A JSON object of the app's own choosing (user metadata, claims, rows). */
export const JsonObject = Schema.Record(Schema.String, Schema.Json).annotate({
  description: "A JSON object; values are any JSON",
})
export type JsonObject = typeof JsonObject.Type

/** An instant as an ISO 8601 string in UTC, as every Supabase API writes them. */
export const Timestamp = Schema.String.annotate({ description: "ISO 8601 instant, UTC" })

export const Uuid = Schema.String.check(Schema.isUUID()).annotate({ description: "A UUID" })

/** The Postgres roles API requests run as (migrations/00002_auth); a token naming another is refused. */
export const apiRoles: ReadonlyArray<string> = ["anon", "authenticated", "service_role"]
export const isApiRole = (role: string) => apiRoles.includes(role)

/** The reply of a command that only needs to say it happened. */
export const Done = Schema.Struct({})
