// What the realtime authorizer must know of each captured table: whether RLS is on, its SELECT
// policies as Postgres prints them, and which API roles may select from it at all. Reloaded when
// Postgres announces a schema change (NOTIFY pgrst), as the data worker's schema cache is.
import { Effect } from "effect"
import type { PgError, PostgresShape } from "../../../platform/postgres/Postgres.ts"

export interface Policy {
  readonly name: string
  readonly permissive: boolean
  /** Roles the policy applies to; empty for PUBLIC. */
  readonly roles: ReadonlyArray<string>
  /** The USING expression as pg_get_expr prints it; null reads as true. */
  readonly using: string | null
}

export interface TablePolicies {
  readonly schema: string
  readonly table: string
  readonly rls: boolean
  /** Policies that apply to SELECT (FOR SELECT and FOR ALL). */
  readonly policies: ReadonlyArray<Policy>
  /** API roles with SELECT on the table. */
  readonly selectable: ReadonlySet<string>
}

export const apiRoles = ["anon", "authenticated", "service_role"] as const

export const key = (schema: string, table: string) => `${schema}.${table}`

export const load = (
  postgres: PostgresShape,
  schemas: ReadonlyArray<string>,
): Effect.Effect<ReadonlyMap<string, TablePolicies>, PgError> =>
  postgres
    .query<{
      schema: string
      table: string
      rls: boolean
      selectable: Array<string>
      policies: Array<{
        name: string
        permissive: boolean
        roles: Array<string>
        using: string | null
      }> | null
    }>(
      `select n.nspname as schema, c.relname as table, c.relrowsecurity as rls,
              array(select r from unnest($2::text[]) r
                    where exists (select 1 from pg_roles where rolname = r)
                      and has_table_privilege(r, c.oid, 'SELECT')) as selectable,
              (select json_agg(json_build_object(
                        'name', p.polname, 'permissive', p.polpermissive,
                        'roles', array(select rolname from pg_roles where oid = any (p.polroles) and oid <> 0),
                        'using', pg_get_expr(p.polqual, p.polrelid)) order by p.polname)
                 from pg_policy p where p.polrelid = c.oid and p.polcmd in ('r', '*')) as policies
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = any ($1::text[]) and c.relkind in ('r', 'p')`,
      [schemas, apiRoles],
    )
    .pipe(
      Effect.map(
        ({ rows }) =>
          new Map(
            rows.map((row) => [
              key(row.schema, row.table),
              {
                schema: row.schema,
                table: row.table,
                rls: row.rls,
                policies: row.policies ?? [],
                selectable: new Set(row.selectable),
              },
            ]),
          ),
      ),
    )
