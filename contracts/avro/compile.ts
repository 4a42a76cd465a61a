// Derives an Avro schema from an Effect schema's encoded form, with the converters between an
// encoded value and the value avsc writes. Deriving (rather than hand-writing) keeps the two in step.
import type { SchemaAST } from "effect"

export type AvroSchema = string | { readonly [key: string]: unknown } | ReadonlyArray<AvroSchema>

export interface Compiled {
  readonly schema: AvroSchema
  /** Encoded (JSON-shaped) value → the value avsc expects. */
  readonly toAvro: (value: unknown) => unknown
  /** What avsc read → the encoded value the Effect schema decodes. */
  readonly fromAvro: (value: unknown) => unknown
  /** Union branch name under avsc's wrapped unions, e.g. "string" or a record's full name. */
  readonly branch: string
  /** True when `null` is a valid value, so an optional key cannot also be nullable. */
  readonly nullable: boolean
}

export class UnsupportedSchema extends Error {}

const identity = (value: unknown) => value
const avroName = /^[A-Za-z_][A-Za-z0-9_]*$/

const primitive = (type: string): Compiled => ({
  schema: type,
  toAvro: identity,
  fromAvro: identity,
  branch: type,
  nullable: type === "null",
})

const doc = (ast: SchemaAST.AST): { doc?: string } => {
  const description = ast.annotations?.["description"]
  return typeof description === "string" ? { doc: description } : {}
}

const representation = (ast: SchemaAST.AST): string | undefined => {
  const r = ast.annotations?.["representation"] as { id?: unknown } | undefined
  return typeof r?.id === "string" ? r.id : undefined
}

const isInteger = (ast: SchemaAST.AST): boolean =>
  (ast.checks ?? []).some(
    (check) => representation(check as unknown as SchemaAST.AST) === "effect/schema/isInt",
  )

/** Avro strings are UTF-8, which cannot hold a lone surrogate; refuse rather than silently change the text. */
export const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export class IllFormedText extends Error {}

const text: Compiled = {
  schema: "string",
  toAvro: (value) => {
    if (typeof value === "string" && loneSurrogate.test(value))
      throw new IllFormedText("text holds a lone surrogate")
    return value
  },
  fromAvro: identity,
  branch: "string",
  nullable: false,
}

const json: Compiled = {
  schema: { type: "string", logicalType: "json" },
  toAvro: (value) => JSON.stringify(value ?? null),
  fromAvro: (value) => JSON.parse(value as string),
  branch: "string",
  nullable: false,
}

const bytes: Compiled = {
  schema: "bytes",
  toAvro: (value) => Buffer.from(value as Uint8Array),
  fromAvro: (value) => new Uint8Array(value as Buffer),
  branch: "bytes",
  nullable: false,
}

/** Compiles `ast` (already the encoded side) under the Avro full name `name`. */
export const compile = (ast: SchemaAST.AST, name: string): Compiled => {
  switch (ast._tag) {
    case "String":
    case "TemplateLiteral":
      return text
    case "Number":
      return primitive(isInteger(ast) ? "long" : "double")
    case "Boolean":
      return primitive("boolean")
    case "Null":
      return primitive("null")
    case "Literal":
      return literal(ast.literal)
    case "Unknown":
    case "Any":
      return json
    case "Declaration": {
      const id = representation(ast)
      if (id === "effect/schema/Json") return json
      if (id === "effect/schema/Uint8Array") return bytes
      throw new UnsupportedSchema(
        `${name}: a declaration (${id ?? "unnamed"}) has no Avro form; use its string encoding`,
      )
    }
    case "Arrays":
      if (ast.elements.length > 0 || ast.rest.length !== 1) {
        throw new UnsupportedSchema(`${name}: tuples have no Avro form; use an array or a struct`)
      }
      return array(ast.rest[0]!, name)
    case "Objects":
      return objects(ast, name)
    case "Union":
      return union(ast, name)
    default:
      throw new UnsupportedSchema(`${name}: ${ast._tag} has no Avro form`)
  }
}

const literal = (value: SchemaAST.LiteralValue): Compiled => {
  switch (typeof value) {
    case "string":
      return primitive("string")
    case "number":
      return primitive(Number.isInteger(value) ? "long" : "double")
    case "boolean":
      return primitive("boolean")
    default:
      throw new UnsupportedSchema(`bigint literal ${String(value)} has no Avro form`)
  }
}

const array = (item: SchemaAST.AST, name: string): Compiled => {
  const element = compile(item, `${name}_item`)
  return {
    schema: { type: "array", items: element.schema },
    toAvro: (value) => (value as ReadonlyArray<unknown>).map(element.toAvro),
    fromAvro: (value) => (value as ReadonlyArray<unknown>).map(element.fromAvro),
    branch: "array",
    nullable: false,
  }
}

const objects = (ast: SchemaAST.Objects, name: string): Compiled => {
  if (ast.indexSignatures.length > 0) {
    if (ast.propertySignatures.length > 0 || ast.indexSignatures.length > 1) {
      throw new UnsupportedSchema(
        `${name}: a struct with both fields and an index signature has no Avro form`,
      )
    }
    const valueAst = ast.indexSignatures[0]!.type
    // A JSON object travels as JSON text: compact, and JSON.parse keeps keys such as "__proto__" as data.
    if (compile(valueAst, name) === json) return json
    // Other records travel as key/value entries rather than an Avro map, whose reader assigns
    // keys onto a plain object (a "__proto__" key would be lost).
    const values = compile(valueAst, `${name}_value`)
    const entry = {
      type: "record",
      name: `${name}_entry`,
      fields: [
        { name: "key", type: "string" },
        { name: "value", type: values.schema },
      ],
    }
    return {
      schema: { type: "array", items: entry },
      toAvro: (value) =>
        Object.entries(value as object).map(([key, v]) => ({
          key: text.toAvro(key),
          value: values.toAvro(v),
        })),
      fromAvro: (value) => {
        const out: Record<string, unknown> = {}
        for (const { key, value: v } of value as ReadonlyArray<{ key: string; value: unknown }>) {
          Object.defineProperty(out, key, {
            value: values.fromAvro(v),
            enumerable: true,
            writable: true,
            configurable: true,
          })
        }
        return out
      },
      branch: "array",
      nullable: false,
    }
  }
  const fields = ast.propertySignatures.map((property) => {
    if (typeof property.name !== "string")
      throw new UnsupportedSchema(`${name}: symbol keys have no Avro form`)
    if (!avroName.test(property.name))
      throw new UnsupportedSchema(`${name}: field "${property.name}" is not an Avro name`)
    const optional = property.type.context?.isOptional === true
    const compiled = compile(property.type, `${name}_${property.name}`)
    if (optional && compiled.nullable) {
      throw new UnsupportedSchema(
        `${name}.${property.name}: an optional key that is also nullable has no Avro form; choose one`,
      )
    }
    return { key: property.name, optional, compiled, doc: doc(property.type) }
  })
  const schema = {
    type: "record",
    name,
    fields: fields.map(({ key, optional, compiled, doc }) =>
      optional
        ? { name: key, type: ["null", compiled.schema], default: null, ...doc }
        : { name: key, type: compiled.schema, ...doc },
    ),
  }
  return {
    schema,
    toAvro: (value) => {
      const input = value as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const { key, optional, compiled } of fields) {
        const v = input[key]
        out[key] = optional
          ? v === undefined
            ? null
            : { [compiled.branch]: compiled.toAvro(v) }
          : compiled.toAvro(v)
      }
      return out
    },
    fromAvro: (value) => {
      const input = value as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const { key, optional, compiled } of fields) {
        const v = input[key]
        if (!optional) out[key] = compiled.fromAvro(v)
        else if (v !== null && v !== undefined)
          out[key] = compiled.fromAvro((v as Record<string, unknown>)[compiled.branch])
      }
      return out
    },
    branch: name,
    nullable: false,
  }
}

const union = (ast: SchemaAST.Union, name: string): Compiled => {
  const members = ast.types
  // A union of string literals is an enum when every symbol is an Avro name, else a string.
  if (members.every((m) => m._tag === "Literal" && typeof m.literal === "string")) {
    const symbols = members.map((m) => (m as SchemaAST.Literal).literal as string)
    if (symbols.every((s) => avroName.test(s))) {
      return {
        schema: { type: "enum", name, symbols },
        toAvro: identity,
        fromAvro: identity,
        branch: name,
        nullable: false,
      }
    }
    return primitive("string")
  }
  const branches = members.map((member, i) => ({ member, compiled: compile(member, `${name}_${i}`) }))
  const seen = new Set<string>()
  for (const { compiled } of branches) {
    if (seen.has(compiled.branch)) {
      if (!branches.every((b) => b.member._tag === "Objects")) {
        throw new UnsupportedSchema(
          `${name}: a union with two branches of Avro type ${compiled.branch} has no Avro form`,
        )
      }
    }
    seen.add(compiled.branch)
  }
  const pick = chooser(branches, name)
  return {
    schema: branches.map((b) => b.compiled.schema),
    toAvro: (value) => {
      const chosen = pick(value)
      return chosen.branch === "null" ? null : { [chosen.branch]: chosen.toAvro(value) }
    },
    fromAvro: (value) => {
      if (value === null) return null
      const [branch, inner] = Object.entries(value as Record<string, unknown>)[0]!
      const chosen = branches.find((b) => b.compiled.branch === branch)!.compiled
      return chosen.fromAvro(inner)
    },
    branch: "union",
    nullable: branches.some((b) => b.compiled.nullable),
  }
}

type Branch = { readonly member: SchemaAST.AST; readonly compiled: Compiled }

/** How to tell which branch an encoded value belongs to: by JS type, or by a literal discriminator field. */
const chooser = (branches: ReadonlyArray<Branch>, name: string): ((value: unknown) => Compiled) => {
  const records = branches.filter((b) => b.member._tag === "Objects" && b.compiled.branch !== "map")
  const discriminator =
    records.length > 1 ? findDiscriminator(records.map((r) => r.member as SchemaAST.Objects)) : undefined
  if (records.length > 1 && discriminator === undefined) {
    throw new UnsupportedSchema(
      `${name}: a union of structs needs a literal field (such as _tag) that tells them apart`,
    )
  }
  const jsType = (b: Branch): string => {
    if (b.compiled === json) return "json"
    switch (b.compiled.branch) {
      case "null":
        return "null"
      case "string":
        return "string"
      case "long":
      case "double":
        return "number"
      case "boolean":
        return "boolean"
      case "array":
        return "array"
      case "bytes":
        return "bytes"
      default:
        return "object"
    }
  }
  return (value) => {
    const type =
      value === null
        ? "null"
        : Array.isArray(value)
          ? "array"
          : value instanceof Uint8Array
            ? "bytes"
            : typeof value
    const candidates = branches.filter((b) => jsType(b) === type)
    if (candidates.length === 1) return candidates[0]!.compiled
    // JSON travels as text but is any value: it takes what no typed branch claims.
    const anyJson = branches.find((b) => b.compiled === json)
    if (candidates.length === 0 && anyJson !== undefined && type !== "null") return anyJson.compiled
    if (type === "number") {
      const integer = candidates.find((c) => c.compiled.branch === "long")
      if (integer && Number.isInteger(value)) return integer.compiled
      const float = candidates.find((c) => c.compiled.branch === "double")
      if (float) return float.compiled
    }
    if (type === "object" && discriminator !== undefined) {
      const tag = (value as Record<string, unknown>)[discriminator]
      const match = records.find((r) => literalOf(r.member as SchemaAST.Objects, discriminator) === tag)
      if (match) return match.compiled
    }
    throw new UnsupportedSchema(`${name}: value matches no branch of the union`)
  }
}

const literalOf = (ast: SchemaAST.Objects, key: string): unknown => {
  const property = ast.propertySignatures.find((p) => p.name === key)
  return property?.type._tag === "Literal" ? property.type.literal : undefined
}

const findDiscriminator = (records: ReadonlyArray<SchemaAST.Objects>): string | undefined => {
  const first = records[0]!
  for (const property of first.propertySignatures) {
    if (typeof property.name !== "string") continue
    const values = records.map((r) => literalOf(r, property.name as string))
    if (values.every((v) => v !== undefined) && new Set(values).size === values.length) return property.name
  }
  return undefined
}
