// The SQL types policies are evaluated with in memory, and how row values, claims and literals become them.

/** A type evaluated in memory; every other type sends its policy to the database. */
export type SqlType = "text" | "uuid" | "int2" | "int4" | "int8" | "numeric" | "bool"

/**
 * A non-null value in canonical form: text as is, uuid in lower case, integers as bigint, numeric
 * as a normalized decimal string (no leading or trailing zeros), bool as boolean.
 */
export type Scalar = string | bigint | boolean

/** A value Postgres knows but this process does not (a column missing from the row, a lossy number). */
export const Unknown: unique symbol = Symbol("Unknown")

/** SQL NULL is `null`. */
export type Value = Scalar | null | typeof Unknown

/**
 * Thrown where Postgres would reject a value or might read it otherwise (`'x'::uuid`, `'0x1F'::int`):
 * the query could fail, so no answer is given in memory.
 */
export class Undecidable extends Error {}

const named = new Map<string, SqlType>([
  ["uuid", "uuid"],
  ["smallint", "int2"],
  ["integer", "int4"],
  ["bigint", "int8"],
  ["boolean", "bool"],
])

/** The in-memory type of a type name as `format_type` or a cast prints it. */
export const typeOf = (name: string): SqlType | undefined => {
  if (name === "text" || /^character varying(\(\d+\))?$/.test(name)) return "text"
  if (/^numeric(\(\d+(,\d+)?\))?$/.test(name)) return "numeric"
  return named.get(name)
}

export type Category = "text" | "uuid" | "number" | "bool"

export const categoryOf = (type: SqlType): Category =>
  type === "text" || type === "uuid" || type === "bool" ? type : "number"

const ranges = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
} as const

const inRange = (type: "int2" | "int4" | "int8", n: bigint) => n >= ranges[type][0] && n <= ranges[type][1]

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Postgres trims these (isspace) around integers, numerics and booleans; not every JS `\s`. */
const space = "[ \\t\\n\\r\\v\\f]*"
const integerPattern = new RegExp(`^${space}([+-]?\\d+)${space}$`)
const decimalPattern = new RegExp(`^${space}([+-]?)(\\d*)(?:\\.(\\d*))?(?:[eE]([+-]?\\d+))?${space}$`)

/** `-0012.3400e1` → `-123.4`; undefined for anything but a finite decimal. */
export const normalizeDecimal = (text: string): string | undefined => {
  const m = decimalPattern.exec(text)
  if (m === null) return undefined
  const [, sign, whole = "", fraction = "", exponent] = m
  if (whole === "" && fraction === "") return undefined
  const shift = exponent === undefined ? 0 : Number(exponent)
  if (!Number.isSafeInteger(shift) || Math.abs(shift) > 1000) return undefined
  let digits = whole + fraction
  let point = whole.length + shift
  if (point < 0) {
    digits = "0".repeat(-point) + digits
    point = 0
  }
  if (point > digits.length) digits += "0".repeat(point - digits.length)
  const integer = digits.slice(0, point).replace(/^0+/, "") || "0"
  const decimals = digits.slice(point).replace(/0+$/, "")
  const magnitude = decimals === "" ? integer : `${integer}.${decimals}`
  return magnitude === "0" || sign !== "-" ? magnitude : `-${magnitude}`
}

const compareMagnitude = (a: string, b: string): number => {
  const [ai = "", af = ""] = a.split(".")
  const [bi = "", bf = ""] = b.split(".")
  if (ai.length !== bi.length) return ai.length - bi.length
  if (ai !== bi) return ai < bi ? -1 : 1
  const width = Math.max(af.length, bf.length)
  const x = af.padEnd(width, "0")
  const y = bf.padEnd(width, "0")
  return x === y ? 0 : x < y ? -1 : 1
}

/** Compares two normalized decimals numerically. */
export const compareDecimal = (a: string, b: string): number => {
  const an = a.startsWith("-")
  const bn = b.startsWith("-")
  if (an !== bn) return an ? -1 : 1
  return an ? compareMagnitude(b.slice(1), a.slice(1)) : compareMagnitude(a, b)
}

const decimalOf = (value: Scalar): string => (typeof value === "bigint" ? value.toString() : String(value))

const order = <A>(a: A, b: A) => (a === b ? 0 : a < b ? -1 : 1)

/**
 * Orders two non-null values of one category as Postgres's operators do: uuids as their lower-case
 * text, numbers numerically, false before true. Text is only ever tested for equality here.
 */
export const compare = (category: Category, a: Scalar, b: Scalar): number => {
  if (category !== "number") return order(a, b)
  if (typeof a === "bigint" && typeof b === "bigint") return order(a, b)
  return compareDecimal(decimalOf(a), decimalOf(b))
}

const booleans: Record<string, boolean> = {
  t: true,
  tr: true,
  tru: true,
  true: true,
  y: true,
  ye: true,
  yes: true,
  on: true,
  "1": true,
  f: false,
  fa: false,
  fal: false,
  fals: false,
  false: false,
  n: false,
  no: false,
  of: false,
  off: false,
  "0": false,
}

/** The type's input function: what `'<text>'::type` gives. Throws where Postgres might disagree or fail. */
export const fromText = (type: SqlType, text: string): Scalar => {
  switch (type) {
    case "text":
      return text
    case "uuid": {
      const lower = text.toLowerCase()
      if (uuidPattern.test(lower)) return lower
      break
    }
    case "int2":
    case "int4":
    case "int8": {
      const m = integerPattern.exec(text)
      const n = m === null ? undefined : BigInt(m[1]!)
      if (n !== undefined && inRange(type, n)) return n
      break
    }
    case "numeric": {
      const n = normalizeDecimal(text)
      if (n !== undefined) return n
      break
    }
    case "bool": {
      const b = booleans[text.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, "").toLowerCase()]
      if (b !== undefined) return b
      break
    }
  }
  throw new Undecidable(`${JSON.stringify(text)} as ${type}`)
}

/**
 * A column value as `to_jsonb(row)` gives it. Integers arrive as numbers (exact only up to 2^53)
 * or strings; numeric as strings, or numbers only when they are safe integers, because a JSON
 * number with a fraction was rounded to a double by JSON.parse.
 */
export const fromRow = (type: SqlType, json: unknown): Value => {
  if (json === null) return null
  switch (type) {
    case "text":
      return typeof json === "string" ? json : Unknown
    case "uuid":
      return typeof json === "string" && uuidPattern.test(json) ? json : Unknown
    case "bool":
      return typeof json === "boolean" ? json : Unknown
    case "int2":
    case "int4":
    case "int8":
      if (typeof json === "number") return Number.isSafeInteger(json) ? BigInt(json) : Unknown
      return typeof json === "string" && /^-?\d+$/.test(json) ? BigInt(json) : Unknown
    case "numeric":
      if (typeof json === "number") return Number.isSafeInteger(json) ? BigInt(json).toString() : Unknown
      return (typeof json === "string" && normalizeDecimal(json)) || Unknown
  }
}

/**
 * `->>` of a JWT claim: the text Postgres prints for the JSON value. Objects and arrays, and
 * numbers JavaScript would print with an exponent, are Unknown rather than re-formatted.
 */
export const claimText = (json: unknown): Value => {
  if (json === null || json === undefined) return null
  if (typeof json === "string") return json
  if (typeof json === "boolean") return String(json)
  if (typeof json === "number" && Number.isFinite(json)) {
    const text = String(json)
    return /e/i.test(text) ? Unknown : text
  }
  return Unknown
}

/** The casts evaluated in memory; others fall back. numeric → text is not one: the row lost its scale. */
export const castable = (from: SqlType, to: SqlType): boolean => {
  if (from === to || from === "text") return true
  const f = categoryOf(from)
  const t = categoryOf(to)
  if (to === "text") return from !== "numeric"
  if (f === "number" && t === "number") return from !== "numeric"
  return (from === "int4" && to === "bool") || (from === "bool" && to === "int4")
}

/** Applies a cast `castable` allowed. */
export const cast = (value: Value, from: SqlType, to: SqlType): Value => {
  if (value === null || value === Unknown || from === to) return value
  if (from === "text") return fromText(to, value as string)
  if (to === "text") return typeof value === "bigint" ? value.toString() : String(value)
  if (typeof value === "boolean") return value ? 1n : 0n
  if (to === "bool") return value !== 0n
  if (to === "numeric") return decimalOf(value)
  if (to === "int2" || to === "int4" || to === "int8") {
    if (typeof value === "bigint" && inRange(to, value)) return value
    throw new Undecidable(`${String(value)} out of range for ${to}`)
  }
  return value
}
