// The read plan: the select tree resolved against the schema cache, with each level's filters,
// order and range attached.

import { isToOne, matchRelationships, type Relationship, relationshipsOf } from "../schema/relationships.ts"
import type { Column, Relation, SchemaCache } from "../schema/SchemaCache.ts"
import type { LogicTree } from "./filters.ts"
import { type Aliases, qualified } from "./identifiers.ts"
import type { OrderTerm } from "./order.ts"
import {
  aggregatesNotAllowed,
  ambiguousRelationship,
  noRelationship,
  notEmbedded,
  spreadNotToOne,
} from "./PostgrestError.ts"
import type { PathRange, QueryParams } from "./querystring.ts"
import type { SelectItem } from "./select.ts"

/** What a level reads from: a relation, a function's result or a mutation's returned rows. */
export interface Source {
  /** The FROM item, without its alias. */
  readonly from: string
  /** The name errors use for it. */
  readonly name: string
  readonly columns: ReadonlyArray<Column>
  /** Fields that are functions of the row (a relation's computed fields); not part of `*`. */
  readonly computed?: ReadonlyArray<Column>
  /** The relation whose relationships embedding follows, when there is one. */
  readonly relation: Relation | undefined
  /**
   * Its rows are records of their own, not of the relation's type (a mutation's returned rows):
   * functions of the row (computed fields and relationships) get them cast to that type.
   */
  readonly retype?: boolean
}

/** A relation read as its rows, from itself or from `from` (rows of its shape under another name). */
export const relationSource = (
  relation: Relation,
  from = qualified(relation.schema, relation.name),
): Source => ({
  from,
  name: relation.name,
  columns: relation.columns,
  computed: relation.computed,
  relation,
})

export interface PlanNode {
  readonly source: Source
  readonly alias: string
  /** The key in the output and in `rel.col=…` paths: the embed's alias, else its name. */
  readonly key: string
  readonly relationship: Relationship | undefined
  readonly join: "inner" | "left"
  readonly spread: boolean
  /** `rel()` selects nothing: it only filters, and is left out of the output. */
  readonly empty: boolean
  readonly items: ReadonlyArray<Extract<SelectItem, { kind: "star" | "field" }>>
  readonly children: ReadonlyArray<PlanNode>
  readonly filters: Array<LogicTree>
  readonly order: Array<OrderTerm>
  range: PathRange
}

const describe = (r: Relationship) => {
  const cols = (pairs: ReadonlyArray<readonly [string, string]>, side: 0 | 1) =>
    `(${pairs.map((p) => p[side]).join(", ")})`
  if (r.junction !== undefined) {
    const j = r.junction
    return {
      cardinality: r.cardinality,
      embedding: `${r.origin.name} with ${r.target.name}`,
      relationship: `${j.name} using ${j.constraint1}${cols(j.sourceColumns, 0)} and ${j.constraint2}${cols(j.targetColumns, 0)}`,
      hint: `${r.target.name}!${j.name}`,
    }
  }
  return {
    cardinality: r.cardinality,
    embedding: `${r.origin.name} with ${r.target.name}`,
    relationship: `${r.constraint} using ${r.origin.name}${cols(r.columns, 0)} and ${r.target.name}${cols(r.columns, 1)}`,
    hint: `${r.target.name}!${r.constraint}`,
  }
}

const resolve = (
  cache: SchemaCache,
  schema: string,
  parent: Source,
  item: Extract<SelectItem, { kind: "embed" }>,
): Relationship => {
  const all = parent.relation === undefined ? [] : relationshipsOf(cache, parent.relation)
  const found = matchRelationships(all, item.name, item.hint)
  if (found.length === 0) throw noRelationship(parent.name, item.name, item.hint, schema)
  if (found.length > 1) throw ambiguousRelationship(parent.name, item.name, found.map(describe))
  return found[0]!
}

const node = (
  cache: SchemaCache,
  schema: string,
  aliases: Aliases,
  source: Source,
  items: ReadonlyArray<SelectItem>,
  embed: { key: string; relationship: Relationship | undefined; join: "inner" | "left"; spread: boolean },
): PlanNode => {
  const children: Array<PlanNode> = []
  const own: Array<Extract<SelectItem, { kind: "star" | "field" }>> = []
  for (const item of items) {
    if (item.kind === "field" && item.aggregate !== undefined) throw aggregatesNotAllowed()
    if (item.kind !== "embed") {
      own.push(item)
      continue
    }
    const relationship = resolve(cache, schema, source, item)
    if (item.spread && !isToOne(relationship)) throw spreadNotToOne(source.name, item.name)
    const target = relationship.target
    children.push(
      node(cache, schema, aliases, relationSource(target), item.children, {
        key: item.alias ?? item.name,
        relationship,
        join: item.join ?? "left",
        spread: item.spread,
      }),
    )
  }
  return {
    source,
    alias: aliases.next("t"),
    key: embed.key,
    relationship: embed.relationship,
    join: embed.join,
    spread: embed.spread,
    empty: items.length === 0,
    items: own,
    children,
    filters: [],
    order: [],
    range: { offset: undefined, limit: undefined },
  }
}

const find = (root: PlanNode, path: ReadonlyArray<string>): PlanNode => {
  let at = root
  for (const key of path) {
    const next = at.children.find((c) => c.key === key)
    if (next === undefined) throw notEmbedded(key)
    at = next
  }
  return at
}

/** Builds the plan for `source` (throws a PostgrestError when the request does not fit the cache). */
export const plan = (
  cache: SchemaCache,
  schema: string,
  aliases: Aliases,
  source: Source,
  params: QueryParams,
): PlanNode => {
  const root = node(cache, schema, aliases, source, params.select, {
    key: source.name,
    relationship: undefined,
    join: "left",
    spread: false,
  })
  for (const { path, filter } of params.filters) find(root, path).filters.push({ kind: "filter", filter })
  for (const { path, tree } of params.logic) find(root, path).filters.push(tree)
  for (const { path, terms } of params.order) find(root, path).order.push(...terms)
  for (const [path, range] of params.ranges) {
    if (path !== "") find(root, path.split(".")).range = range
  }
  return root
}
