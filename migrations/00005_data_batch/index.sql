-- A table write in one round trip (services/data/handlers/Write.ts) commits at its batch's end,
-- before the worker sees the result. That is sound only when nothing in the result can still
-- turn the write into an error: a response status or headers set by a trigger may be invalid,
-- which must roll the write back. This guard stops such a batch, and the worker runs the write
-- again as a transaction it ends itself.
create function reactor.no_response_settings() returns boolean
language plpgsql set search_path = pg_catalog as $$
begin
  if nullif(current_setting('response.status', true), '') is not null
     or nullif(current_setting('response.headers', true), '') is not null then
    raise exception 'the write set response settings; it is run again in a transaction'
      using errcode = 'RX001';
  end if;
  return true;
end $$;
