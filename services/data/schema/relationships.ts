// Relationships between exposed relations, derived from foreign keys as PostgREST derives them.
import type { ForeignKey, Relation, SchemaCache } from "./SchemaCache.ts"
import { findRelation } from "./SchemaCache.ts"

export type Cardinality = "many-to-one" | "one-to-many" | "one-to-one" | "many-to-many"

export interface Junction {
  readonly schema: string
  readonly name: string
  readonly constraint1: string
  readonly constraint2: string
  /** Pairs (junction column, origin column). */
  readonly sourceColumns: ReadonlyArray<readonly [string, string]>
  /** Pairs (junction column, target column). */
  readonly targetColumns: ReadonlyArray<readonly [string, string]>
}

export interface Relationship {
  readonly origin: Relation
  readonly target: Relation
  readonly cardinality: Cardinality
  /** The foreign key; for many-to-many, the junction's key to the origin. */
  readonly constraint: string
  /** Pairs (origin column, target column); empty for many-to-many. */
  readonly columns: ReadonlyArray<readonly [string, string]>
  readonly junction: Junction | undefined
  readonly isSelf: boolean
  /**
   * A computed relationship (PostgREST's): the function of the origin's row that gives the target's
   * rows, `schema.fn(origin)`; it is named by the function, and has no columns to join on.
   */
  readonly computed?: { readonly schema: string; readonly name: string }
}

export const isToOne = (r: Relationship) => r.cardinality === "many-to-one" || r.cardinality === "one-to-one"

const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((x) => b.includes(x))

const isUnique = (relation: Relation, columns: ReadonlyArray<string>) =>
  relation.uniqueKeys.some((key) => sameSet(key, columns))

const direct = (cache: SchemaCache, fk: ForeignKey): ReadonlyArray<Relationship> => {
  const table = findRelation(cache, fk.schema, fk.table)
  const ref = findRelation(cache, fk.refSchema, fk.refTable)
  if (table === undefined || ref === undefined) return []
  const oneToOne = isUnique(table, fk.columns)
  const pairs = fk.columns.map((c, i) => [c, fk.refColumns[i]!] as const)
  const isSelf = table.schema === ref.schema && table.name === ref.name
  return [
    {
      origin: table,
      target: ref,
      cardinality: oneToOne ? "one-to-one" : "many-to-one",
      constraint: fk.name,
      columns: pairs,
      junction: undefined,
      isSelf,
    },
    {
      origin: ref,
      target: table,
      cardinality: oneToOne ? "one-to-one" : "one-to-many",
      constraint: fk.name,
      columns: pairs.map(([c, r]) => [r, c] as const),
      junction: undefined,
      isSelf,
    },
  ]
}

/** Junction tables whose two foreign keys' columns are all part of their primary key. */
const manyToMany = (cache: SchemaCache, origin: Relation): ReadonlyArray<Relationship> => {
  const toOrigin = cache.foreignKeys.filter(
    (fk) => fk.refSchema === origin.schema && fk.refTable === origin.name,
  )
  return toOrigin.flatMap((fk1) => {
    const junction = findRelation(cache, fk1.schema, fk1.table)
    if (junction === undefined) return []
    return cache.foreignKeys
      .filter((fk2) => fk2.schema === fk1.schema && fk2.table === fk1.table && fk2.name !== fk1.name)
      .flatMap((fk2): ReadonlyArray<Relationship> => {
        const target = findRelation(cache, fk2.refSchema, fk2.refTable)
        const used = [...fk1.columns, ...fk2.columns]
        if (target === undefined || !used.every((c) => junction.primaryKey.includes(c))) return []
        return [
          {
            origin,
            target,
            cardinality: "many-to-many",
            constraint: fk1.name,
            columns: [],
            junction: {
              schema: junction.schema,
              name: junction.name,
              constraint1: fk1.name,
              constraint2: fk2.name,
              sourceColumns: fk1.columns.map((c, i) => [c, fk1.refColumns[i]!] as const),
              targetColumns: fk2.columns.map((c, i) => [c, fk2.refColumns[i]!] as const),
            },
            isSelf: origin.schema === target.schema && origin.name === target.name,
          },
        ]
      })
  })
}

/**
 * Functions taking only `origin`'s row and returning rows of an exposed relation: many when they
 * return a set, else one. A function named like a relation or foreign key it would hide is still
 * reached by its own name only.
 */
const computedRelationships = (cache: SchemaCache, origin: Relation): ReadonlyArray<Relationship> =>
  cache.routines.flatMap((r): ReadonlyArray<Relationship> => {
    const arg = r.args[0]
    if (r.args.length !== 1 || arg!.typeSchema !== origin.schema || arg!.typeName !== origin.name) return []
    const returned = r.returns.relation
    const target = returned === undefined ? undefined : findRelation(cache, returned.schema, returned.name)
    if (target === undefined) return []
    return [
      {
        origin,
        target,
        cardinality: r.returns.set ? "one-to-many" : "many-to-one",
        constraint: r.name,
        columns: [],
        junction: undefined,
        isSelf: false,
        computed: { schema: r.schema, name: r.name },
      },
    ]
  })

const known = new WeakMap<Relation, ReadonlyArray<Relationship>>()

/**
 * Every relationship that starts at `origin`, worked out once per relation: a schema cache is
 * immutable, each load makes new relations, and embedding asks on every request.
 */
export const relationshipsOf = (cache: SchemaCache, origin: Relation): ReadonlyArray<Relationship> => {
  let found = known.get(origin)
  if (found === undefined) {
    found = [
      ...cache.foreignKeys
        .filter(
          (fk) =>
            (fk.schema === origin.schema && fk.table === origin.name) ||
            (fk.refSchema === origin.schema && fk.refTable === origin.name),
        )
        .flatMap((fk) => direct(cache, fk))
        .filter((r) => r.origin.schema === origin.schema && r.origin.name === origin.name),
      ...manyToMany(cache, origin),
      ...computedRelationships(cache, origin),
    ]
    known.set(origin, found)
  }
  return found
}

const singleColumn = (pairs: ReadonlyArray<readonly [string, string]>, side: 0 | 1): string | undefined =>
  pairs.length === 1 ? pairs[0]![side] : undefined

/**
 * The relationships `target` (with an optional `!hint`) can mean from `origin`: by the target's
 * name, its foreign key's name or its single foreign key column; a hint names a constraint, a
 * column on either side or a junction table.
 */
export const matchRelationships = (
  all: ReadonlyArray<Relationship>,
  target: string,
  hint: string | undefined,
): ReadonlyArray<Relationship> => {
  // A computed relationship answers to its function's name, before anything else of that name,
  // and takes no hint.
  const computed = hint === undefined ? all.filter((r) => r.computed?.name === target) : []
  if (computed.length > 0) return computed
  return all.filter((r) => {
    if (r.computed !== undefined) return false
    const byColumn = (name: string) => singleColumn(r.columns, 0) === name
    const byRefColumn = (name: string) => singleColumn(r.columns, 1) === name
    const byConstraint = (name: string) => r.junction === undefined && r.constraint === name
    if (r.isSelf && r.junction === undefined) {
      // One foreign key gives two relationships: the table's name reaches the children, a column the parent.
      if (hint === undefined) {
        return (
          (r.target.name === target && r.cardinality === "one-to-many") ||
          (byColumn(target) && r.cardinality === "many-to-one")
        )
      }
      return r.target.name === target && r.cardinality === "one-to-many" && byRefColumn(hint)
    }
    if (hint === undefined) {
      const isView = r.target.kind === "view"
      return r.target.name === target || (!isView && (byConstraint(target) || byColumn(target)))
    }
    return (
      r.target.name === target &&
      (byConstraint(hint) || byColumn(hint) || byRefColumn(hint) || r.junction?.name === hint)
    )
  })
}
