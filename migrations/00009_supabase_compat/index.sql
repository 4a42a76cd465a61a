-- Supabase projects' migrations often add their tables to the `supabase_realtime` publication
-- (`alter publication supabase_realtime add table …`). Reactor captures changes with triggers and
-- needs no publication; an empty one lets those migrations run unchanged. It is made only where
-- this role may create publications; elsewhere such a statement fails as on any Postgres.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
exception when insufficient_privilege then
  raise notice 'supabase_realtime publication not created: %', sqlerrm;
end $$;
