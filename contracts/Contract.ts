// A contract names one message that crosses the bus: its schema, its version and its subject.
import type { Schema } from "effect"

export type Kind = "command" | "query" | "event"

const subjectPrefix = { command: "cmd", query: "qry", event: "evt" } as const satisfies Record<Kind, string>

/** An error that may cross the bus: a tagged class whose tag is its public code. */
export type ErrorSchema = Schema.Top & { readonly Type: { readonly _tag: string } }

interface Base<K extends Kind, Name extends string, Payload extends Schema.Top> {
  readonly kind: K
  /** The capability that owns the message, e.g. "auth". */
  readonly capability: string
  /** Stable name, unique within the capability, e.g. "SignUp". */
  readonly name: Name
  readonly version: number
  /** Where it travels: `<cmd|qry|evt>.<capability>.<Name>.v<version>`. */
  readonly subject: string
  /** `<capability>.<Name>`: the type name stored with events in the log. */
  readonly type: string
  readonly payload: Payload
  readonly description: string
}

/** A message that asks for something and gets a reply or one of its errors. */
export interface Rpc<
  K extends "command" | "query",
  Name extends string,
  Payload extends Schema.Top,
  Success extends Schema.Top,
  Errors extends ReadonlyArray<ErrorSchema>,
> extends Base<K, Name, Payload> {
  readonly success: Success
  readonly errors: Errors
}

export interface Command<
  Name extends string = string,
  Payload extends Schema.Top = Schema.Top,
  Success extends Schema.Top = Schema.Top,
  Errors extends ReadonlyArray<ErrorSchema> = ReadonlyArray<ErrorSchema>,
> extends Rpc<"command", Name, Payload, Success, Errors> {}

export interface Query<
  Name extends string = string,
  Payload extends Schema.Top = Schema.Top,
  Success extends Schema.Top = Schema.Top,
  Errors extends ReadonlyArray<ErrorSchema> = ReadonlyArray<ErrorSchema>,
> extends Rpc<"query", Name, Payload, Success, Errors> {}

export interface Event<Name extends string = string, Payload extends Schema.Top = Schema.Top>
  extends Base<"event", Name, Payload> {
  /** Schemas of the earlier versions, oldest first (index 0 is version 1), kept so data they wrote stays readable. */
  readonly history: ReadonlyArray<Schema.Top>
}

export type AnyRpc = Command | Query
export type AnyContract = Command | Query | Event

export type PayloadOf<C extends AnyContract> = C["payload"]["Type"]
export type SuccessOf<C extends AnyRpc> = C["success"]["Type"]
export type ErrorOf<C extends AnyRpc> = C["errors"][number]["Type"]

interface RpcOptions<
  Name extends string,
  Payload extends Schema.Top,
  Success extends Schema.Top,
  Errors extends ReadonlyArray<ErrorSchema>,
> {
  readonly name: Name
  readonly version?: number
  readonly payload: Payload
  readonly success: Success
  readonly errors: Errors
  readonly description: string
}

const base = <K extends Kind>(kind: K, capability: string, name: string, version: number) => ({
  kind,
  capability,
  name,
  version,
  subject: `${subjectPrefix[kind]}.${capability}.${name}.v${version}`,
  type: `${capability}.${name}`,
})

const rpc =
  <K extends "command" | "query">(kind: K, capability: string) =>
  <
    Name extends string,
    Payload extends Schema.Top,
    Success extends Schema.Top,
    const Errors extends ReadonlyArray<ErrorSchema>,
  >(
    options: RpcOptions<Name, Payload, Success, Errors>,
  ): Rpc<K, Name, Payload, Success, Errors> => ({
    ...options,
    ...base(kind, capability, options.name, options.version ?? 1),
    name: options.name,
    kind,
  })

/** The constructors of one capability's contracts, so every subject of the capability shares its prefix. */
export const capability = (capability: string) => ({
  command: rpc("command", capability),
  query: rpc("query", capability),
  event: <Name extends string, Payload extends Schema.Top>(options: {
    readonly name: Name
    readonly payload: Payload
    readonly description: string
    readonly history?: ReadonlyArray<Schema.Top>
  }): Event<Name, Payload> => ({
    ...options,
    ...base("event", capability, options.name, (options.history?.length ?? 0) + 1),
    name: options.name,
    kind: "event",
    history: options.history ?? [],
  }),
})

/** Every contract of one capability, listed in the capability's contract file. */
export interface Catalogue {
  readonly capability: string
  readonly commands: ReadonlyArray<Command>
  readonly queries: ReadonlyArray<Query>
  readonly events: ReadonlyArray<Event>
  readonly errors: ReadonlyArray<ErrorSchema>
}
