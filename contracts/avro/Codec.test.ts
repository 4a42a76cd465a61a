import { isDeepStrictEqual } from "node:util"
import { Arbitrary, Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { capability, type ErrorSchema } from "../Contract.ts"
import { commonErrors } from "../errors.ts"
import { catalogues } from "../index.ts"
import * as Codec from "./Codec.ts"
import { compile, IllFormedText, loneSurrogate, UnsupportedSchema } from "./compile.ts"

const sample = <A>(schema: Schema.Top, count = 60) =>
  Effect.runSync(Arbitrary.sampleEffect(Arbitrary.schema(schema as Schema.Codec<A>), { count, seed: 42 }))

/** The bus carries well-formed Unicode only (Avro strings are UTF-8): the codec refuses the rest, tested below. */
const wellFormed = (value: unknown): boolean =>
  typeof value === "string"
    ? !loneSurrogate.test(value)
    : typeof value === "object" && value !== null
      ? Object.entries(value).every(([k, v]) => wellFormed(k) && wellFormed(v))
      : true

/** Every schema of every contract, with the codec built for it. */
const everySchema = catalogues.flatMap((catalogue) => [
  ...[...catalogue.commands, ...catalogue.queries].flatMap((contract) => {
    const codecs = Codec.rpc(contract)
    return [
      { label: `${contract.subject} payload`, schema: contract.payload as Schema.Top, codec: codecs.payload },
      { label: `${contract.subject} success`, schema: contract.success as Schema.Top, codec: codecs.success },
      ...contract.errors.map((error) => ({
        label: `${contract.subject} error ${Codec.tagOf(error)}`,
        schema: error as Schema.Top,
        codec: Codec.errorCodec(error),
      })),
    ]
  }),
  ...catalogue.events.map((contract) => ({
    label: `${contract.subject} payload`,
    schema: contract.payload as Schema.Top,
    codec: Codec.event(contract).current,
  })),
])

// Compared as JSON, the form the value has on every wire (JSON has no -0, so neither does the bus).
const encodedForm = (schema: Schema.Top, value: unknown) =>
  JSON.parse(JSON.stringify(Schema.encodeSync(schema as Schema.Codec<unknown>)(value)))

describe("the Avro form of every contract", () => {
  it.each(everySchema)("$label round-trips any valid value unchanged", ({ schema, codec }) => {
    for (const value of sample(schema).filter((v) =>
      wellFormed(Schema.encodeSync(schema as Schema.Codec<unknown>)(v)),
    )) {
      const bytes = codec.encode(value)
      const back = codec.decode(bytes)
      expect(isDeepStrictEqual(encodedForm(schema, back), encodedForm(schema, value))).toBe(true)
    }
  })

  it.each(everySchema)("$label names each field of the Effect schema once, in order", ({ schema, codec }) => {
    const ast = Schema.toEncoded(schema).ast
    if (ast._tag !== "Objects" || ast.indexSignatures.length > 0)
      return expect(codec.avro.typeName).not.toBe("record")
    const fields = (codec.avro as unknown as { fields: Array<{ name: string }> }).fields.map((f) => f.name)
    expect(fields).toEqual(ast.propertySignatures.map((p) => p.name))
  })

  it.each(everySchema)("$label refuses a value its Effect schema refuses", ({ codec }) => {
    expect(() => codec.encode(null)).toThrow()
  })

  it("refuses text that UTF-8 cannot carry rather than altering it", () => {
    const codec = Codec.make(Schema.Struct({ a: Schema.String }), "t.Text")
    expect(() => codec.encode({ a: "x\ud800y" })).toThrow(IllFormedText)
    expect(codec.decode(codec.encode({ a: "emoji 😀 ok" }))).toEqual({ a: "emoji 😀 ok" })
  })

  it("gives every error tag one meaning across all capabilities", () => {
    const errors: ReadonlyArray<ErrorSchema> = [
      ...commonErrors,
      ...catalogues.flatMap((c): ReadonlyArray<ErrorSchema> => c.errors),
    ]
    const tags = errors.map(Codec.tagOf)
    expect(new Set(tags).size).toBe(tags.length)
  })

  it("gives every subject one contract", () => {
    const subjects = catalogues
      .flatMap((c) => [...c.commands, ...c.queries, ...c.events])
      .map((c) => c.subject)
    expect(new Set(subjects).size).toBe(subjects.length)
  })
})

describe("an event written at version N", () => {
  const test = capability("test")
  const V1 = Schema.Struct({ user_id: Schema.String, email: Schema.String })
  const V2 = Schema.Struct({
    user_id: Schema.String,
    email: Schema.String,
    locale: Schema.String.pipe(Schema.withDecodingDefaultKey(Effect.succeed("en"))).annotate({
      description: "Added in v2",
    }),
  })
  const writerV1 = test.event({ name: "Registered", payload: V1, description: "v1" })
  const readerV2 = test.event({ name: "Registered", payload: V2, history: [V1], description: "v2" })

  it("is read by a version N+1 reader, the new field taking its default", () => {
    expect(writerV1.version).toBe(1)
    expect(readerV2.version).toBe(2)
    expect(writerV1.subject).toBe("evt.test.Registered.v1")
    const bytes = Codec.event(writerV1).current.encode({ user_id: "u1", email: "a@b.c" })
    expect(Codec.event(readerV2).decode(bytes, 1)).toEqual({ user_id: "u1", email: "a@b.c", locale: "en" })
  })

  it("is read at its own version with the value it was written with", () => {
    const bytes = Codec.event(readerV2).current.encode({ user_id: "u1", email: "a@b.c", locale: "fr" })
    expect(Codec.event(readerV2).decode(bytes, 2)).toEqual({ user_id: "u1", email: "a@b.c", locale: "fr" })
  })

  it("is refused by a reader that does not know its version", () => {
    const bytes = Codec.event(readerV2).current.encode({ user_id: "u1", email: "a@b.c", locale: "fr" })
    expect(() => Codec.event(writerV1).decode(bytes, 2)).toThrow(Codec.UnknownVersion)
  })
})

describe("deriving an Avro schema", () => {
  const avroOf = (schema: Schema.Top) => compile(Schema.toEncoded(schema).ast, "t.T").schema

  it("maps optional keys to a null union with a null default", () => {
    expect(avroOf(Schema.Struct({ a: Schema.optionalKey(Schema.String) }))).toEqual({
      type: "record",
      name: "t.T",
      fields: [{ name: "a", type: ["null", "string"], default: null }],
    })
  })

  it("maps integers to long, other numbers to double, and string literal unions to enums", () => {
    expect(
      avroOf(Schema.Struct({ i: Schema.Int, n: Schema.Number, k: Schema.Literals(["a", "b"]) })),
    ).toEqual({
      type: "record",
      name: "t.T",
      fields: [
        { name: "i", type: "long" },
        { name: "n", type: "double" },
        { name: "k", type: { type: "enum", name: "t.T_k", symbols: ["a", "b"] } },
      ],
    })
  })

  it("carries field descriptions as Avro docs", () => {
    expect(avroOf(Schema.Struct({ a: Schema.String.annotate({ description: "why" }) }))).toMatchObject({
      fields: [{ name: "a", type: "string", doc: "why" }],
    })
  })

  it("refuses a schema Avro cannot express", () => {
    expect(() => avroOf(Schema.Struct({ a: Schema.optionalKey(Schema.NullOr(Schema.String)) }))).toThrow(
      UnsupportedSchema,
    )
    expect(() => avroOf(Schema.Tuple([Schema.String, Schema.Number]))).toThrow(UnsupportedSchema)
    expect(() =>
      avroOf(Schema.Union([Schema.Struct({ a: Schema.String }), Schema.Struct({ b: Schema.String })])),
    ).toThrow(UnsupportedSchema)
  })

  it("tells tagged structs apart in a union", () => {
    const U = Schema.Union([
      Schema.Struct({ _tag: Schema.Literal("A"), a: Schema.String }),
      Schema.Struct({ _tag: Schema.Literal("B"), b: Schema.Number }),
    ])
    const codec = Codec.make(U, "t.U")
    for (const value of [
      { _tag: "A" as const, a: "x" },
      { _tag: "B" as const, b: 2.5 },
    ]) {
      expect(codec.decode(codec.encode(value))).toEqual(value)
    }
  })
})
