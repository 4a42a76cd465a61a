-- Change capture for the app's tables: every committed insert, update and delete of a table in an
-- exposed schema becomes a data.RowChanged event in reactor.events, written by triggers in the
-- writing transaction (so whoever wrote — the API, a function, a job, plain SQL — it is captured,
-- and a rolled-back write leaves nothing), and published by the outbox relay like any event.

-- The schemas whose tables are captured; the data worker keeps this equal to [data] schemas.
create table reactor.captured_schemas (schema_name text primary key);

create function reactor.capture_columns(relid oid) returns jsonb
language sql stable set search_path = pg_catalog as $$
  select coalesce(jsonb_agg(jsonb_build_object('name', a.attname, 'type', t.typname) order by a.attnum), '[]')
  from pg_attribute a join pg_type t on t.oid = a.atttypid
  where a.attrelid = relid and a.attnum > 0 and not a.attisdropped
$$;

-- The instant in the form Supabase Realtime sends: UTC, milliseconds, Z.
create function reactor.capture_timestamp() returns text
language sql stable set search_path = pg_catalog as $$
  select to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The HTTP request behind the write, when the data worker made it (it sets reactor.request_id).
create function reactor.capture_metadata() returns jsonb
language sql stable set search_path = pg_catalog as $$
  select jsonb_strip_nulls(jsonb_build_object('requestId', nullif(current_setting('reactor.request_id', true), '')))
$$;

-- One stream per transaction (data.tx-<xid>), numbered by a transaction-local counter: writers
-- never contend on a stream, and the log's (stream, version) key still holds.
create function reactor.capture_next_versions(n bigint) returns bigint
language plpgsql set search_path = pg_catalog as $$
declare
  base bigint := coalesce(nullif(current_setting('reactor.change_seq', true), '')::bigint, 0);
begin
  perform set_config('reactor.change_seq', (base + n)::text, true);
  return base;
end $$;

-- Inserts and deletes: one statement-level trigger each, reading the transition table, so a bulk
-- write costs one insert into the log, not one per row. Security definer: the writer (anon,
-- authenticated…) may not touch reactor.events itself.
create function reactor.capture_statement() returns trigger
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
  cols := reactor.capture_columns(TG_RELID);
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

-- Updates: row level, because the transition tables of an update do not pair old rows with new.
create function reactor.capture_update() returns trigger
language plpgsql security definer set search_path = pg_catalog as $$
begin
  insert into reactor.events (stream_id, stream_version, event_id, type, version, data, metadata)
  values ('data.tx-' || pg_current_xact_id()::text, reactor.capture_next_versions(1) + 1, gen_random_uuid(),
          'data.RowChanged', 1,
          jsonb_build_object('schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME, 'type', 'UPDATE',
                             'record', to_jsonb(NEW), 'old_record', to_jsonb(OLD),
                             'columns', reactor.capture_columns(TG_RELID),
                             'commit_timestamp', reactor.capture_timestamp()),
          reactor.capture_metadata());
  return null;
end $$;

-- Attaches the capture triggers to one table, unless it has them: a reload of the schema cache
-- calls this for every table, and DDL it did not need would announce a schema change again.
-- Partitions are captured through their parent, and transition tables are not allowed on them.
create function reactor.capture_table(rel regclass) returns void
language plpgsql set search_path = pg_catalog as $$
begin
  if not exists (select 1 from pg_class where oid = rel and relkind in ('r', 'p') and not relispartition) then
    return;
  end if;
  if not exists (select 1 from pg_trigger where tgrelid = rel and tgname = 'reactor_capture_insert') then
    execute format('create trigger reactor_capture_insert after insert on %s
                    referencing new table as new_rows for each statement
                    execute function reactor.capture_statement()', rel);
  end if;
  if not exists (select 1 from pg_trigger where tgrelid = rel and tgname = 'reactor_capture_delete') then
    execute format('create trigger reactor_capture_delete after delete on %s
                    referencing old table as old_rows for each statement
                    execute function reactor.capture_statement()', rel);
  end if;
  if not exists (select 1 from pg_trigger where tgrelid = rel and tgname = 'reactor_capture_update') then
    execute format('create trigger reactor_capture_update after update on %s
                    for each row execute function reactor.capture_update()', rel);
  end if;
end $$;

-- Makes `schemas` the captured ones and attaches the triggers to every table already in them.
create function reactor.capture_schemas(schemas text[]) returns void
language plpgsql set search_path = pg_catalog as $$
declare
  rel regclass;
begin
  -- Processes starting together would race to create the same triggers.
  perform pg_advisory_xact_lock(7348129003);
  delete from reactor.captured_schemas where schema_name <> all (schemas);
  insert into reactor.captured_schemas select unnest(schemas) on conflict do nothing;
  for rel in
    select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any (schemas) and c.relkind in ('r', 'p') and not c.relispartition
  loop
    perform reactor.capture_table(rel);
  end loop;
end $$;

-- Tables created later, by migrations or by hand, are captured at once; and, as PostgREST's
-- pgrst_ddl_watch does, any DDL asks every data worker to reload its schema cache.
create function reactor.on_ddl() returns event_trigger
language plpgsql set search_path = pg_catalog as $$
declare
  command record;
begin
  for command in
    select * from pg_event_trigger_ddl_commands()
    where object_type in ('table') and command_tag in ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
  loop
    if command.schema_name in (select schema_name from reactor.captured_schemas) then
      perform reactor.capture_table(command.objid::regclass);
    end if;
  end loop;
  perform pg_notify('pgrst', 'reload schema');
end $$;

create function reactor.on_drop() returns event_trigger
language plpgsql set search_path = pg_catalog as $$
begin
  perform pg_notify('pgrst', 'reload schema');
end $$;

-- Event triggers need a superuser. Without one the data worker still captures every table that
-- exists when it starts or reloads its schema cache; the README says so.
do $$
begin
  create event trigger reactor_on_ddl on ddl_command_end execute function reactor.on_ddl();
  create event trigger reactor_on_drop on sql_drop execute function reactor.on_drop();
exception when insufficient_privilege then
  raise notice 'not a superuser: tables created after start are captured at the next schema reload';
end $$;
