// Identifier quoting, and the parameter list every statement's values go through.
import type { TypeRef } from "../schema/SchemaCache.ts"

/** A quoted identifier; names reaching here were checked against the schema cache or are our aliases. */
export const ident = (name: string) => `"${name.replaceAll('"', '""')}"`

export const qualified = (schema: string, name: string) => `${ident(schema)}.${ident(name)}`

export const typeSql = (type: TypeRef) => qualified(type.typeSchema, type.typeName)

/** The values of one statement: `add` returns the `$n` placeholder that stands for a value. */
export class Params {
  readonly values: Array<string | null> = []
  add(value: string | null): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
}

/** Fresh SQL aliases for one statement, so no user-chosen name ever becomes an alias. */
export class Aliases {
  private n = 0
  next(prefix: string): string {
    this.n += 1
    return `pgrst_${prefix}_${this.n}`
  }
}
