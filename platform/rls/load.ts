// Reads what decides read access to the tables of some schemas: row security, SELECT policies,
// grants and role attributes, as Postgres's catalogs hold them.
import { Effect } from "effect"
import { apiRoles } from "../../contracts/shared.ts"
import type { PgError, Tx } from "../postgres/Postgres.ts"
import type { Column, Relation } from "./resolve.ts"

export interface RoleAccess {
  readonly role: string
  /** has_table_privilege(role, table, 'SELECT'). */
  readonly select: boolean
  /** SELECT on some columns only: what it may read depends on the query, so the database decides. */
  readonly someColumns: boolean
  /** Superuser, BYPASSRLS, or owner of a table without FORCE ROW LEVEL SECURITY. */
  readonly bypass: boolean
}

export interface Policy {
  readonly name: string
  readonly permissive: boolean
  /** 'r' (FOR SELECT) or '*' (FOR ALL): the commands whose USING applies to reads. */
  readonly command: "r" | "*"
  /** pg_get_expr of the USING expression; null when the policy has none. */
  readonly using: string | null
  /** Role names as written in the policy; "public" for PUBLIC. */
  readonly roles: ReadonlyArray<string>
  /** The loaded roles the policy applies to, directly or through role membership. */
  readonly appliesTo: ReadonlyArray<string>
  /** The tables the expression reads (from pg_depend), with their columns. */
  readonly relations: ReadonlyArray<Relation>
}

export interface TablePolicies extends Relation {
  readonly rowSecurity: boolean
  readonly forceRowSecurity: boolean
  readonly access: ReadonlyArray<RoleAccess>
  readonly policies: ReadonlyArray<Policy>
}

const tablesSql = `
select c.oid::text as oid, n.nspname as schema, c.relname as table,
  c.relrowsecurity as "rowSecurity", c.relforcerowsecurity as "forceRowSecurity",
  coalesce((
    select json_agg(json_build_object(
      'role', r.rolname,
      'select', has_table_privilege(r.oid, c.oid, 'SELECT'),
      'someColumns', has_any_column_privilege(r.oid, c.oid, 'SELECT'),
      'bypass', r.rolsuper or r.rolbypassrls
        or (pg_has_role(r.oid, c.relowner, 'USAGE') and not c.relforcerowsecurity)
    ) order by r.rolname)
    from pg_roles r where r.rolname = any($2::text[])
  ), '[]') as access
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = any($1::text[])
order by n.nspname, c.relname`

const policiesSql = `
select p.polrelid::text as "table", p.polname as name, p.polpermissive as permissive, p.polcmd as command,
  pg_get_expr(p.polqual, p.polrelid) as using,
  array(select case when o = 0 then 'public' else pg_get_userbyid(o)::text end
        from unnest(p.polroles) o) as roles,
  array(select r.rolname::text from pg_roles r
        where r.rolname = any($2::text[])
          and (0 = any(p.polroles)
               or exists (select from unnest(p.polroles) o where o <> 0 and pg_has_role(r.oid, o, 'USAGE')))
        order by r.rolname) as "appliesTo",
  array(select distinct d.refobjid::text from pg_depend d
        where d.classid = 'pg_policy'::regclass and d.objid = p.oid
          and d.refclassid = 'pg_class'::regclass) as relations
from pg_policy p
join pg_class c on c.oid = p.polrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1::text[]) and p.polcmd in ('r', '*')
order by p.polname`

// A column whose collation is nondeterministic (case-insensitive ICU) gets its collation in its
// type, so that its equality is left to Postgres.
const columnsSql = `
select c.oid::text as oid, n.nspname as schema, c.relname as table, a.attname as name,
  format_type(a.atttypid, a.atttypmod)
    || case when co.collisdeterministic is false then ' collate ' || quote_ident(co.collname) else '' end as type,
  coalesce(a.attnum = any(i.indkey), false) as key
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_collation co on co.oid = a.attcollation
left join pg_index i on i.indrelid = c.oid and i.indisprimary
where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
order by c.oid, a.attnum`

interface TableRow extends Omit<TablePolicies, "columns" | "key" | "policies"> {
  readonly oid: string
}
interface PolicyRow extends Omit<Policy, "relations"> {
  readonly table: string
  readonly relations: ReadonlyArray<string>
}
interface ColumnRow extends Column {
  readonly oid: string
  readonly schema: string
  readonly table: string
  readonly key: boolean
}

/**
 * The tables of `schemas` with their read policies. Run in a transaction: the search path is
 * emptied for its duration so that `pg_get_expr` qualifies every name the same way, whatever the
 * caller's search path, and is restored afterwards.
 */
export const load = Effect.fnUntraced(function* (
  tx: Tx,
  schemas: ReadonlyArray<string>,
  roles: ReadonlyArray<string> = apiRoles,
): Effect.fn.Return<Array<TablePolicies>, PgError> {
  const saved = yield* tx.query<{ path: string }>(
    "select current_setting('search_path') as path, set_config('search_path', 'pg_catalog', true)",
  )
  const tables = (yield* tx.query<TableRow & Record<string, unknown>>(tablesSql, [schemas, roles])).rows
  const policies = (yield* tx.query<PolicyRow & Record<string, unknown>>(policiesSql, [schemas, roles])).rows
  const oids = [...new Set([...tables.map((t) => t.oid), ...policies.flatMap((p) => p.relations)])]
  const columns = (yield* tx.query<ColumnRow & Record<string, unknown>>(columnsSql, [oids])).rows
  yield* tx.query("select set_config('search_path', $1, true)", [saved.rows[0]!.path])

  const relations = new Map<string, Relation>()
  for (const row of columns) {
    const relation = relations.get(row.oid) ?? {
      schema: row.schema,
      table: row.table,
      columns: [],
      key: [],
    }
    relations.set(row.oid, {
      ...relation,
      columns: [...relation.columns, { name: row.name, type: row.type }],
      key: row.key ? [...relation.key, row.name] : relation.key,
    })
  }
  return tables.map(({ oid, schema, table, rowSecurity, forceRowSecurity, access }) => ({
    schema,
    table,
    columns: relations.get(oid)?.columns ?? [],
    key: relations.get(oid)?.key ?? [],
    rowSecurity,
    forceRowSecurity,
    access,
    policies: policies
      .filter((p) => p.table === oid)
      .map((p) => ({
        name: p.name,
        permissive: p.permissive,
        command: p.command,
        using: p.using,
        roles: p.roles,
        appliesTo: p.appliesTo,
        relations: p.relations.filter((r) => r !== oid).flatMap((r) => relations.get(r) ?? []),
      })),
  }))
})
