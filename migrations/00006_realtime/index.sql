-- Realtime Authorization, as Supabase has it: the app's RLS policies on realtime.messages decide
-- who may join a private channel (SELECT) and who may broadcast to one (INSERT), with
-- realtime.topic() naming the channel asked for. Reactor keeps no rows here: each decision
-- inserts a probe row and reads or writes it as the caller, in a transaction that is rolled back
-- (gateway/routes/realtime/TopicPolicies.ts). With RLS on and no policy, only service_role (which
-- bypasses RLS) may use private channels, as in Supabase.

create schema realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table realtime.messages (
  id uuid primary key default gen_random_uuid(),
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean not null default true,
  inserted_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table realtime.messages enable row level security;
grant select, insert on realtime.messages to anon, authenticated, service_role;

-- The channel's name without `realtime:` (what supabase-js was given), while a decision runs.
create function realtime.topic() returns text language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')
$$;
grant execute on function realtime.topic() to anon, authenticated, service_role;
