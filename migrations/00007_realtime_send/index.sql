-- Broadcast from the database, as Supabase's realtime.send: a broadcast written in a transaction
-- reaches the channel's members once that transaction commits, in commit order with the row
-- changes, and never if it rolls back. It is an event in the log like a captured change
-- (data.BroadcastSent); every gateway delivers it to its own members of the topic.
--
-- Executable by service_role and the owner only: it sends to any topic, private ones included,
-- past the policies on realtime.messages. An app's trigger that broadcasts is a security definer
-- function of the app's migrations, which run as the owner.
create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql security definer set search_path = pg_catalog as $$
begin
  if payload is null or jsonb_typeof(payload) <> 'object' then
    raise exception 'realtime.send: payload must be a JSON object' using errcode = '22023';
  end if;
  if event is null or topic is null or private is null then
    raise exception 'realtime.send: event, topic and private must not be null' using errcode = '22004';
  end if;
  insert into reactor.events (stream_id, stream_version, event_id, type, version, data, metadata)
  values ('data.tx-' || pg_current_xact_id()::text, reactor.capture_next_versions(1) + 1, gen_random_uuid(),
          'data.BroadcastSent', 1,
          jsonb_build_object('topic', topic, 'event', event, 'payload', payload, 'private', private),
          reactor.capture_metadata());
end $$;
revoke execute on function realtime.send(jsonb, text, text, boolean) from public;
grant execute on function realtime.send(jsonb, text, text, boolean) to service_role;
