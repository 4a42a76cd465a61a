// The schema cache: the exposed relations, keys and functions as plain data, and lookups over it.
import { Effect } from "effect"
import type { PgError, Tx } from "../../../platform/postgres/Postgres.ts"
import { columnsQuery, constraintsQuery, functionsQuery, toCache, viewColumnsQuery } from "./catalog.ts"

/** A Postgres type, named so SQL can refer to it: `"typeSchema"."typeName"` (arrays are `_elem`). */
export interface TypeRef {
  /** As `format_type` prints it without a modifier: `integer`, `text[]`, `character varying`. */
  readonly type: string
  readonly typeSchema: string
  readonly typeName: string
}

export interface Column extends TypeRef {
  readonly name: string
  readonly nullable: boolean
  /** A default, an identity or a generated expression fills it when an insert leaves it out. */
  readonly hasDefault: boolean
  readonly generated: boolean
  /**
   * A computed field, as PostgREST has them: not a column but a function of the row
   * (`fn(table) returns scalar`), read as `schema.fn(alias)` and never part of `*`.
   */
  readonly computed?: { readonly schema: string; readonly name: string }
}

export type RelationKind = "table" | "view" | "materialized_view" | "foreign_table" | "partitioned_table"

export interface Relation {
  readonly schema: string
  readonly name: string
  readonly kind: RelationKind
  readonly columns: ReadonlyArray<Column>
  readonly primaryKey: ReadonlyArray<string>
  /** Each unique constraint's columns (the primary key included), to tell one-to-one from many-to-one. */
  readonly uniqueKeys: ReadonlyArray<ReadonlyArray<string>>
  /** Its computed fields: exposed functions taking only its row and returning one scalar. */
  readonly computed: ReadonlyArray<Column>
}

export interface ForeignKey {
  readonly name: string
  readonly schema: string
  readonly table: string
  readonly columns: ReadonlyArray<string>
  readonly refSchema: string
  readonly refTable: string
  readonly refColumns: ReadonlyArray<string>
}

export interface FunctionArg extends TypeRef {
  /** "" for an unnamed argument. */
  readonly name: string
  readonly hasDefault: boolean
  readonly variadic: boolean
}

export interface FunctionReturn extends TypeRef {
  readonly kind: "void" | "scalar" | "composite"
  readonly set: boolean
  /** The columns of a composite result (a table's row type, a composite type, OUT or TABLE parameters). */
  readonly columns: ReadonlyArray<Column>
  /** The exposed relation whose row type it returns, so its results embed like that relation's rows. */
  readonly relation: { readonly schema: string; readonly name: string } | undefined
}

export interface Routine {
  readonly schema: string
  readonly name: string
  /** The input arguments in order (IN, INOUT and VARIADIC). */
  readonly args: ReadonlyArray<FunctionArg>
  readonly returns: FunctionReturn
  readonly volatility: "immutable" | "stable" | "volatile"
}

export interface SchemaCache {
  readonly schemas: ReadonlyArray<string>
  readonly relations: ReadonlyArray<Relation>
  readonly foreignKeys: ReadonlyArray<ForeignKey>
  readonly routines: ReadonlyArray<Routine>
}

/** Reads the catalog for `schemas` in four queries; run it again (e.g. on `NOTIFY pgrst`) to reload. */
export const load = Effect.fnUntraced(function* (
  tx: Tx,
  schemas: ReadonlyArray<string>,
): Effect.fn.Return<SchemaCache, PgError> {
  const list = [...schemas]
  const columns = yield* tx.query(columnsQuery, [list])
  const constraints = yield* tx.query(constraintsQuery, [list])
  const functions = yield* tx.query(functionsQuery, [list])
  const viewColumns = yield* tx.query(viewColumnsQuery, [list])
  return toCache(schemas, columns.rows, constraints.rows, functions.rows, viewColumns.rows)
})

export const findRelation = (cache: SchemaCache, schema: string, name: string): Relation | undefined =>
  cache.relations.find((r) => r.schema === schema && r.name === name)

export const findColumn = (relation: { readonly columns: ReadonlyArray<Column> }, name: string) =>
  relation.columns.find((c) => c.name === name)

export const findRoutines = (cache: SchemaCache, schema: string, name: string): ReadonlyArray<Routine> =>
  cache.routines.filter((r) => r.schema === schema && r.name === name)

export const isJsonType = (type: TypeRef) =>
  type.typeSchema === "pg_catalog" && (type.typeName === "json" || type.typeName === "jsonb")
