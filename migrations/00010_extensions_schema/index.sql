-- Supabase keeps extensions in their own schema, on every session's search_path, and projects'
-- migrations say so (`create extension "uuid-ossp" with schema extensions`, then
-- `uuid_generate_v4()` unqualified). The same schema and path here let them run unchanged.
-- Reactor's own functions set their search_path, and the Data API qualifies every name.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;

do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
exception when insufficient_privilege then
  raise notice 'search_path not set for the database: %', sqlerrm;
end $$;
