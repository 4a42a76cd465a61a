// The pg_catalog queries behind the schema cache, and how their rows become one.
import type {
  Column,
  ForeignKey,
  FunctionArg,
  FunctionReturn,
  Relation,
  RelationKind,
  Routine,
  SchemaCache,
} from "./SchemaCache.ts"

/** One row per column of every table, view, materialized view and foreign table in the schemas. */
export const columnsQuery = `
select n.nspname as schema, c.relname as name, c.relkind as kind,
  coalesce(json_agg(json_build_object(
    'name', a.attname,
    'type', format_type(a.atttypid, null),
    'typeSchema', tn.nspname,
    'typeName', t.typname,
    'nullable', not a.attnotnull,
    'hasDefault', a.atthasdef or a.attidentity <> '' or a.attgenerated <> '',
    'generated', a.attgenerated <> ''
  ) order by a.attnum) filter (where a.attname is not null), '[]') as columns
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_type t on t.oid = a.atttypid
left join pg_namespace tn on tn.oid = t.typnamespace
where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname = any($1::text[])
group by n.nspname, c.relname, c.relkind
order by n.nspname, c.relname`

/** Primary keys, unique constraints and foreign keys touching the schemas, columns in key order. */
export const constraintsQuery = `
select con.conname as name, con.contype as kind, n.nspname as schema, c.relname as table,
  (select json_agg(a.attname order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
     join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns,
  fn.nspname as ref_schema, fc.relname as ref_table,
  (select json_agg(a.attname order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
     join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as ref_columns
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = con.confrelid
left join pg_namespace fn on fn.oid = fc.relnamespace
where con.contype in ('p', 'u', 'f')
  and (n.nspname = any($1::text[]) or fn.nspname = any($1::text[]))
  and (con.contype <> 'f' or con.conparentid = 0)
order by con.conname`

/**
 * Where each view column comes from: the base table and column its target entry names
 * (resorigtbl, resorigcol in the stored rewrite rule), as PostgREST finds them. Columns that are
 * expressions have none; a name seen with two origins (a subquery's column of the same name) is
 * left out when the rows are read.
 */
export const viewColumnsQuery = `
select n.nspname as schema, c.relname as name, m[1] as column,
  sn.nspname as ref_schema, s.relname as ref_table, a.attname as ref_column
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_rewrite r on r.ev_class = c.oid
cross join lateral regexp_matches(
  r.ev_action::text, ':resname (\\S+) :ressortgroupref \\d+ :resorigtbl (\\d+) :resorigcol (\\d+)', 'g') m
join pg_class s on s.oid = m[2]::oid
join pg_namespace sn on sn.oid = s.relnamespace
join pg_attribute a on a.attrelid = s.oid and a.attnum = m[3]::int2
where c.relkind in ('v', 'm') and n.nspname = any($1::text[])
  and exists (select 1 from pg_attribute va where va.attrelid = c.oid and va.attname = m[1])`

/** Plain functions (not aggregates or procedures) with their arguments and result shape. */
export const functionsQuery = `
select n.nspname as schema, p.proname as name, p.provolatile as volatility, p.proretset as set,
  p.pronargdefaults as defaults, p.provariadic <> 0 as variadic,
  format_type(p.prorettype, null) as ret_type, rn.nspname as ret_type_schema, rt.typname as ret_type_name,
  rt.typtype as ret_typtype, rc.relkind as ret_relkind, rcn.nspname as ret_rel_schema, rc.relname as ret_rel_name,
  coalesce((
    select json_agg(json_build_object(
      'name', coalesce(p.proargnames[a.ord], ''),
      'mode', coalesce(p.proargmodes[a.ord], 'i'),
      'type', format_type(a.typ, null),
      'typeSchema', atn.nspname,
      'typeName', at.typname
    ) order by a.ord)
    from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality a(typ, ord)
    join pg_type at on at.oid = a.typ
    join pg_namespace atn on atn.oid = at.typnamespace
  ), '[]') as args,
  coalesce((
    select json_agg(json_build_object(
      'name', ra.attname,
      'type', format_type(ra.atttypid, null),
      'typeSchema', rtn.nspname,
      'typeName', rat.typname,
      'nullable', true,
      'hasDefault', false,
      'generated', false
    ) order by ra.attnum)
    from pg_attribute ra
    join pg_type rat on rat.oid = ra.atttypid
    join pg_namespace rtn on rtn.oid = rat.typnamespace
    where ra.attrelid = rt.typrelid and ra.attnum > 0 and not ra.attisdropped
  ), '[]') as ret_columns
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
join pg_namespace rn on rn.oid = rt.typnamespace
left join pg_class rc on rc.oid = rt.typrelid
left join pg_namespace rcn on rcn.oid = rc.relnamespace
where n.nspname = any($1::text[]) and p.prokind = 'f'
order by n.nspname, p.proname, p.oid`

const relationKinds: Record<string, RelationKind> = {
  r: "table",
  v: "view",
  m: "materialized_view",
  f: "foreign_table",
  p: "partitioned_table",
}

const volatilities = { i: "immutable", s: "stable", v: "volatile" } as const

interface ColumnsRow {
  readonly schema: string
  readonly name: string
  readonly kind: string
  readonly columns: ReadonlyArray<Column>
}

interface ConstraintRow {
  readonly name: string
  readonly kind: "p" | "u" | "f"
  readonly schema: string
  readonly table: string
  readonly columns: ReadonlyArray<string> | null
  readonly ref_schema: string | null
  readonly ref_table: string | null
  readonly ref_columns: ReadonlyArray<string> | null
}

interface RawArg {
  readonly name: string
  readonly mode: "i" | "o" | "b" | "v" | "t"
  readonly type: string
  readonly typeSchema: string
  readonly typeName: string
}

interface FunctionRow {
  readonly schema: string
  readonly name: string
  readonly volatility: keyof typeof volatilities
  readonly set: boolean
  readonly defaults: number
  readonly ret_type: string
  readonly ret_type_schema: string
  readonly ret_type_name: string
  readonly ret_typtype: string
  readonly ret_relkind: string | null
  readonly ret_rel_schema: string | null
  readonly ret_rel_name: string | null
  readonly args: ReadonlyArray<RawArg>
  readonly ret_columns: ReadonlyArray<Column>
}

const toRoutine = (row: FunctionRow, schemas: ReadonlyArray<string>): Routine => {
  const inputs = row.args.filter((a) => a.mode === "i" || a.mode === "b" || a.mode === "v")
  const outputs = row.args.filter((a) => a.mode === "o" || a.mode === "b" || a.mode === "t")
  const args: Array<FunctionArg> = inputs.map((a, i) => ({
    name: a.name,
    type: a.type,
    typeSchema: a.typeSchema,
    typeName: a.typeName,
    hasDefault: i >= inputs.length - row.defaults,
    variadic: a.mode === "v",
  }))
  const isRecord = row.ret_type_schema === "pg_catalog" && row.ret_type_name === "record"
  const outColumns: Array<Column> = outputs.map((a) => ({
    name: a.name,
    type: a.type,
    typeSchema: a.typeSchema,
    typeName: a.typeName,
    nullable: true,
    hasDefault: false,
    generated: false,
  }))
  const composite = row.ret_typtype === "c" || (isRecord && outColumns.length > 0)
  const exposedRelation =
    row.ret_relkind !== null &&
    row.ret_relkind !== "c" &&
    row.ret_rel_schema !== null &&
    row.ret_rel_name !== null &&
    schemas.includes(row.ret_rel_schema)
  const returns: FunctionReturn = {
    kind:
      row.ret_type_schema === "pg_catalog" && row.ret_type_name === "void"
        ? "void"
        : composite
          ? "composite"
          : "scalar",
    set: row.set,
    type: row.ret_type,
    typeSchema: row.ret_type_schema,
    typeName: row.ret_type_name,
    // A single OUT parameter makes the function return that scalar, not a row.
    columns: row.ret_typtype === "c" ? row.ret_columns : outColumns.length > 1 || isRecord ? outColumns : [],
    relation: exposedRelation ? { schema: row.ret_rel_schema!, name: row.ret_rel_name! } : undefined,
  }
  return {
    schema: row.schema,
    name: row.name,
    args,
    returns,
    volatility: volatilities[row.volatility],
  }
}

/**
 * A relation's computed fields (PostgREST's): functions of one argument, its row type, returning
 * one scalar. A column of the same name wins, as in PostgREST, and an overloaded name is left out.
 */
const computedFields = (
  routines: ReadonlyArray<Routine>,
  schema: string,
  table: string,
  columns: ReadonlyArray<Column>,
): Array<Column> => {
  const taken = new Set(columns.map((c) => c.name))
  const candidates = routines.filter(
    (r) =>
      r.args.length === 1 &&
      r.args[0]!.typeSchema === schema &&
      r.args[0]!.typeName === table &&
      !r.returns.set &&
      r.returns.kind === "scalar" &&
      !taken.has(r.name),
  )
  return candidates
    .filter((r) => candidates.filter((o) => o.name === r.name).length === 1)
    .map((r) => ({
      name: r.name,
      type: r.returns.type,
      typeSchema: r.returns.typeSchema,
      typeName: r.returns.typeName,
      nullable: true,
      hasDefault: false,
      generated: true,
      computed: { schema: r.schema, name: r.name },
    }))
}

interface ViewColumnRow {
  readonly schema: string
  readonly name: string
  readonly column: string
  readonly ref_schema: string
  readonly ref_table: string
  readonly ref_column: string
}

interface ViewOrigins {
  readonly schema: string
  readonly name: string
  /** The view's column for each base column it shows (keyed by originKey). */
  readonly shows: ReadonlyMap<string, string>
  /** The base tables it shows columns of. */
  readonly tables: ReadonlyArray<{ readonly schema: string; readonly table: string }>
}

/** A base column as a key: NUL apart, since names may hold dots. */
const originKey = (schema: string, table: string, column: string) => `${schema}\u0000${table}\u0000${column}`

/** Per view, which base columns it shows and under which names; a name of two origins is left out. */
const viewOrigins = (rows: ReadonlyArray<ViewColumnRow>): Array<ViewOrigins> => {
  type Origin = { readonly key: string; readonly schema: string; readonly table: string }
  const byView = new Map<string, { schema: string; name: string; columns: Map<string, Origin | null> }>()
  for (const row of rows) {
    const key = `${row.schema}\u0000${row.name}`
    const view = byView.get(key) ?? { schema: row.schema, name: row.name, columns: new Map() }
    byView.set(key, view)
    const origin = {
      key: originKey(row.ref_schema, row.ref_table, row.ref_column),
      schema: row.ref_schema,
      table: row.ref_table,
    }
    const seen = view.columns.get(row.column)
    view.columns.set(row.column, seen === undefined || seen?.key === origin.key ? origin : null)
  }
  return [...byView.values()].map(({ schema, name, columns }) => {
    const shows = new Map<string, string>()
    const tables = new Map<string, { schema: string; table: string }>()
    // The first view column showing a base column stands for it.
    for (const [column, origin] of columns) {
      if (origin === null) continue
      if (!shows.has(origin.key)) shows.set(origin.key, column)
      tables.set(`${origin.schema}\u0000${origin.table}`, { schema: origin.schema, table: origin.table })
    }
    return { schema, name, shows, tables: [...tables.values()] }
  })
}

/** `columns` of `schema.table` as `view` names them, when it shows every one. */
const throughView = (
  view: ViewOrigins,
  schema: string,
  table: string,
  columns: ReadonlyArray<string>,
): ReadonlyArray<string> | undefined => {
  const mapped = columns.map((c) => view.shows.get(originKey(schema, table, c)))
  return mapped.every((c) => c !== undefined) ? (mapped as ReadonlyArray<string>) : undefined
}

/** The keys a view has because it shows a base table's key columns, as PostgREST infers them. */
const viewKeys = (
  view: ViewOrigins,
  keysOf: (schema: string, table: string, kind: "p" | "u") => ReadonlyArray<ReadonlyArray<string>>,
) => {
  let primaryKey: ReadonlyArray<string> = []
  const uniqueKeys: Array<ReadonlyArray<string>> = []
  for (const { schema, table } of view.tables) {
    for (const key of keysOf(schema, table, "p")) {
      const mapped = throughView(view, schema, table, key)
      if (mapped === undefined) continue
      if (primaryKey.length === 0) primaryKey = mapped
      uniqueKeys.push(mapped)
    }
    for (const key of keysOf(schema, table, "u")) {
      const mapped = throughView(view, schema, table, key)
      if (mapped !== undefined) uniqueKeys.push(mapped)
    }
  }
  return { primaryKey, uniqueKeys }
}

/**
 * Foreign keys through views, as PostgREST infers them: one holds between views, or a view and a
 * table, that show its columns on both sides, and keeps the constraint's name.
 */
const viewForeignKeys = (origins: ReadonlyArray<ViewOrigins>, foreignKeys: ReadonlyArray<ForeignKey>) => {
  const sidesOf = (schema: string, table: string, columns: ReadonlyArray<string>) => [
    { schema, table, columns, base: true },
    ...origins.flatMap((view) => {
      const mapped = throughView(view, schema, table, columns)
      return mapped === undefined
        ? []
        : [{ schema: view.schema, table: view.name, columns: mapped, base: false }]
    }),
  ]
  return foreignKeys.flatMap((fk) =>
    sidesOf(fk.schema, fk.table, fk.columns).flatMap((from) =>
      sidesOf(fk.refSchema, fk.refTable, fk.refColumns)
        .filter((to) => !(from.base && to.base))
        .map(
          (to): ForeignKey => ({
            name: fk.name,
            schema: from.schema,
            table: from.table,
            columns: from.columns,
            refSchema: to.schema,
            refTable: to.table,
            refColumns: to.columns,
          }),
        ),
    ),
  )
}

export const toCache = (
  schemas: ReadonlyArray<string>,
  columnRows: ReadonlyArray<Record<string, unknown>>,
  constraintRows: ReadonlyArray<Record<string, unknown>>,
  functionRows: ReadonlyArray<Record<string, unknown>>,
  viewColumnRows: ReadonlyArray<Record<string, unknown>>,
): SchemaCache => {
  const constraints = constraintRows as unknown as ReadonlyArray<ConstraintRow>
  const keysOf = (schema: string, table: string, kind: "p" | "u") =>
    constraints
      .filter((c) => c.schema === schema && c.table === table && c.kind === kind)
      .map((c) => c.columns ?? [])
  const routines = (functionRows as unknown as ReadonlyArray<FunctionRow>).map((row) =>
    toRoutine(row, schemas),
  )
  const tableKeys = (schema: string, table: string) => {
    const primaryKey = keysOf(schema, table, "p")[0] ?? []
    return {
      primaryKey,
      uniqueKeys: [...(primaryKey.length > 0 ? [primaryKey] : []), ...keysOf(schema, table, "u")],
    }
  }
  const views = viewOrigins(viewColumnRows as unknown as ReadonlyArray<ViewColumnRow>)
  const relations: Array<Relation> = (columnRows as unknown as ReadonlyArray<ColumnsRow>).map((row) => {
    const view = views.find((v) => v.schema === row.schema && v.name === row.name)
    const keys = view === undefined ? tableKeys(row.schema, row.name) : viewKeys(view, keysOf)
    return {
      schema: row.schema,
      name: row.name,
      kind: relationKinds[row.kind] ?? "table",
      columns: row.columns,
      ...keys,
      computed: computedFields(routines, row.schema, row.name, row.columns),
    }
  })
  const baseForeignKeys: Array<ForeignKey> = constraints
    .filter((c) => c.kind === "f" && c.ref_schema !== null && c.ref_table !== null)
    .map((c) => ({
      name: c.name,
      schema: c.schema,
      table: c.table,
      columns: c.columns ?? [],
      refSchema: c.ref_schema!,
      refTable: c.ref_table!,
      refColumns: c.ref_columns ?? [],
    }))
  const foreignKeys = [...baseForeignKeys, ...viewForeignKeys(views, baseForeignKeys)]
  return { schemas: [...schemas], relations, foreignKeys, routines }
}
