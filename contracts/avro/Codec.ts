// The wire form of a schema: Effect encodes (and validates), avsc packs. Codecs are built once per schema.
import avro from "avsc"
import { Schema } from "effect"
import type { AnyRpc, ErrorSchema, Event } from "../Contract.ts"
import { type AvroSchema, compile } from "./compile.ts"

export interface Codec<A> {
  readonly name: string
  readonly avro: avro.Type
  readonly schema: AvroSchema
  /** Validates and packs a value. Throws a SchemaError when the value does not fit the schema. */
  readonly encode: (value: A) => Buffer
  /** Unpacks and validates bytes written with this codec's schema. */
  readonly decode: (bytes: Uint8Array) => A
  /** Unpacks bytes written with another (older or newer) schema of the same record, by Avro resolution. */
  readonly decodeFrom: (writer: Codec<unknown>, bytes: Uint8Array) => A
}

type Runnable = Schema.Codec<unknown, unknown, never, never>

export const make = <S extends Schema.Top>(schema: S, name: string): Codec<S["Type"]> => {
  const compiled = compile(Schema.toEncoded(schema).ast, name)
  const type = avro.Type.forSchema(compiled.schema as avro.Schema, { wrapUnions: true })
  const encode = Schema.encodeSync(schema as unknown as Runnable)
  const decode = Schema.decodeUnknownSync(schema as unknown as Runnable)
  const resolvers = new WeakMap<avro.Type, avro.Resolver>()
  const asBuffer = (bytes: Uint8Array) =>
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    name,
    avro: type,
    schema: compiled.schema,
    encode: (value) => type.toBuffer(compiled.toAvro(encode(value))),
    decode: (bytes) => decode(compiled.fromAvro(type.fromBuffer(asBuffer(bytes)))) as S["Type"],
    decodeFrom: (writer, bytes) => {
      let resolver = resolvers.get(writer.avro)
      if (resolver === undefined) {
        resolver = type.createResolver(writer.avro)
        resolvers.set(writer.avro, resolver)
      }
      return decode(compiled.fromAvro(type.fromBuffer(asBuffer(bytes), resolver))) as S["Type"]
    },
  }
}

const memo = <K extends object, V>(build: (key: K) => V) => {
  const cache = new WeakMap<K, V>()
  return (key: K): V => {
    let value = cache.get(key)
    if (value === undefined) {
      value = build(key)
      cache.set(key, value)
    }
    return value
  }
}

const recordName = (capability: string, name: string, part: string) => `reactor.${capability}.${name}_${part}`

export interface RpcCodecs {
  readonly payload: Codec<unknown>
  readonly success: Codec<unknown>
  /** One codec per error tag the contract may reply with. */
  readonly errors: ReadonlyMap<string, Codec<unknown>>
}

const errorTag = (schema: ErrorSchema): string => {
  const ast = Schema.toEncoded(schema).ast
  const tag = ast._tag === "Objects" ? ast.propertySignatures.find((p) => p.name === "_tag")?.type : undefined
  if (tag?._tag !== "Literal" || typeof tag.literal !== "string")
    throw new Error("an error schema must be a tagged struct")
  return tag.literal
}

export const errorCodec = memo(
  (schema: ErrorSchema): Codec<unknown> =>
    make(schema, `reactor.error.${errorTag(schema)}`) as Codec<unknown>,
)

export const tagOf = errorTag

/** Codecs for a command or query: its payload, its reply and each of its errors. */
export const rpc = memo(
  (contract: AnyRpc): RpcCodecs => ({
    payload: make(contract.payload, recordName(contract.capability, contract.name, "Payload")),
    success: make(contract.success, recordName(contract.capability, contract.name, "Success")),
    errors: new Map(contract.errors.map((e) => [errorTag(e), errorCodec(e)])),
  }),
)

export interface EventCodecs {
  readonly current: Codec<unknown>
  /** Decodes bytes written at `version` (1-based) into the current version's value. */
  readonly decode: (bytes: Uint8Array, version: number) => unknown
}

export class UnknownVersion extends Error {}

/** Codecs for an event: its current schema, and readers of what earlier versions wrote. */
export const event = memo((contract: Event): EventCodecs => {
  // Every version shares one record name so Avro resolution matches them.
  const name = recordName(contract.capability, contract.name, "Payload")
  const current = make(contract.payload, name)
  const writers = contract.history.map((schema) => make(schema, name))
  return {
    current,
    decode: (bytes, version) => {
      if (version === contract.version) return current.decode(bytes)
      const writer = writers[version - 1]
      if (writer === undefined) {
        throw new UnknownVersion(
          `${contract.type} v${version} is not known to this reader (at v${contract.version})`,
        )
      }
      return current.decodeFrom(writer, bytes)
    },
  }
})
