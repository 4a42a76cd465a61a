-- Every captured change carries its table's columns ({name, type}, as Supabase Realtime sends
-- them). Reading them from the catalog on each statement (reactor.capture_columns) was most of
-- what capture cost a single-row insert: about 0.25 ms of Postgres time, against about 0.3 ms for
-- the insert itself. The capture triggers now carry the columns as their argument, read with the
-- table's trigger descriptor at no cost, and are made again whenever the columns change:
-- - at once, in the same transaction, by the DDL event trigger for ALTER TABLE (add, drop, rename
--   or retype a column; move the table into a captured schema);
-- - at every schema cache reload, which compares each table's triggers with its columns (so without
--   a superuser, and so without event triggers, an ALTER TABLE is followed once the data worker
--   hears `NOTIFY pgrst, 'reload schema'`, as a new table already is; the README says so).

-- The argument a table's capture triggers carry, as pg_trigger.tgargs stores it: the text in the
-- server's encoding, NUL-terminated.
create function reactor.capture_trigger_args(columns text) returns bytea
language sql immutable set search_path = pg_catalog as $$
  select convert_to(columns, current_setting('server_encoding')) || decode('00', 'hex')
$$;

create or replace function reactor.capture_statement() returns trigger
language plpgsql security definer set search_path = pg_catalog as $$
declare
  n bigint;
  base bigint;
  cols jsonb;
begin
  if TG_OP = 'INSERT' then
    select count(*) into n from new_rows;
  else
    select count(*) into n from old_rows;
  end if;
  if n = 0 then
    return null;
  end if;
  base := reactor.capture_next_versions(n);
  -- A trigger made before the columns became its argument has none: read the catalog then.
  cols := coalesce(TG_ARGV[0]::jsonb, reactor.capture_columns(TG_RELID));
  if TG_OP = 'INSERT' then
    insert into reactor.events (stream_id, stream_version, event_id, type, version, data, metadata)
    select 'data.tx-' || pg_current_xact_id()::text, base + row_number() over (), gen_random_uuid(),
           'data.RowChanged', 1,
           jsonb_build_object('schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME, 'type', 'INSERT',
                              'record', to_jsonb(r), 'old_record', null, 'columns', cols,
                              'commit_timestamp', reactor.capture_timestamp()),
           reactor.capture_metadata()
    from new_rows r;
  else
    insert into reactor.events (stream_id, stream_version, event_id, type, version, data, metadata)
    select 'data.tx-' || pg_current_xact_id()::text, base + row_number() over (), gen_random_uuid(),
           'data.RowChanged', 1,
           jsonb_build_object('schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME, 'type', 'DELETE',
                              'record', null, 'old_record', to_jsonb(r), 'columns', cols,
                              'commit_timestamp', reactor.capture_timestamp()),
           reactor.capture_metadata()
    from old_rows r;
  end if;
  return null;
end $$;

-- Row level, so the catalog read it replaces was once per updated row.
create or replace function reactor.capture_update() returns trigger
language plpgsql security definer set search_path = pg_catalog as $$
begin
  insert into reactor.events (stream_id, stream_version, event_id, type, version, data, metadata)
  values ('data.tx-' || pg_current_xact_id()::text, reactor.capture_next_versions(1) + 1, gen_random_uuid(),
          'data.RowChanged', 1,
          jsonb_build_object('schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME, 'type', 'UPDATE',
                             'record', to_jsonb(NEW), 'old_record', to_jsonb(OLD),
                             'columns', coalesce(TG_ARGV[0]::jsonb, reactor.capture_columns(TG_RELID)),
                             'commit_timestamp', reactor.capture_timestamp()),
          reactor.capture_metadata());
  return null;
end $$;

-- Gives a table the capture triggers, carrying its current columns, unless it has them already: a
-- reload of the schema cache calls this for every table, and DDL it did not need would announce a
-- schema change again. Partitions are captured through their parent, and transition tables are
-- not allowed on them.
create or replace function reactor.capture_table(rel regclass) returns void
language plpgsql set search_path = pg_catalog as $$
declare
  cols text;
  args bytea;
  capture record;
begin
  if not exists (select 1 from pg_class where oid = rel and relkind in ('r', 'p') and not relispartition) then
    return;
  end if;
  cols := reactor.capture_columns(rel)::text;
  args := reactor.capture_trigger_args(cols);
  for capture in
    select * from (values
      ('reactor_capture_insert',
       'after insert on %s referencing new table as new_rows for each statement execute function reactor.capture_statement(%L)'),
      ('reactor_capture_delete',
       'after delete on %s referencing old table as old_rows for each statement execute function reactor.capture_statement(%L)'),
      ('reactor_capture_update',
       'after update on %s for each row execute function reactor.capture_update(%L)')
    ) as t(name, definition)
  loop
    if not exists (select 1 from pg_trigger where tgrelid = rel and tgname = capture.name and tgargs = args) then
      execute format('create or replace trigger %I ' || capture.definition, capture.name, rel, cols);
    end if;
  end loop;
end $$;

-- New tables are captured at once, and a table whose columns change gets triggers carrying the new
-- ones in the same transaction; as PostgREST's pgrst_ddl_watch does, any DDL asks every data worker
-- to reload its schema cache.
create or replace function reactor.on_ddl() returns event_trigger
language plpgsql set search_path = pg_catalog as $$
declare
  command record;
begin
  for command in
    select * from pg_event_trigger_ddl_commands()
    where classid = 'pg_class'::regclass and object_type in ('table', 'table column')
      and command_tag in ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
  loop
    if command.schema_name in (select schema_name from reactor.captured_schemas) then
      perform reactor.capture_table(command.objid::regclass);
    end if;
  end loop;
  perform pg_notify('pgrst', 'reload schema');
end $$;

-- The tables captured so far get their columns now rather than at the next start.
do $$
declare
  rel regclass;
begin
  for rel in
    select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in (select schema_name from reactor.captured_schemas)
      and c.relkind in ('r', 'p') and not c.relispartition
  loop
    perform reactor.capture_table(rel);
  end loop;
end $$;
