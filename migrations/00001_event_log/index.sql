-- The event log: append-only, the source of truth every projection is rebuilt from.
create table reactor.events (
  position bigint generated always as identity primary key,
  stream_id text not null,
  stream_version integer not null,
  event_id uuid not null,
  type text not null,
  version integer not null,
  data jsonb not null,
  metadata jsonb not null default '{}',
  -- Followers read in (transaction_id, position) order and only below the oldest running
  -- transaction, so an event whose transaction commits late is never skipped.
  transaction_id xid8 not null default pg_current_xact_id(),
  recorded_at timestamptz not null default now(),
  constraint events_stream_version_key unique (stream_id, stream_version),
  constraint events_event_id_key unique (event_id)
);
create index events_transaction_position on reactor.events (transaction_id, position);

comment on table reactor.events is 'Append-only event log; never update or delete rows.';

-- Replies of handled commands by idempotency key, so a redelivered command returns its first reply.
create table reactor.command_log (
  idempotency_key text not null,
  subject text not null,
  outcome text not null,
  reply jsonb not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (subject, idempotency_key)
);
create index command_log_expires_at on reactor.command_log (expires_at);

-- Where each log follower (the outbox relay, projectors) stopped.
create table reactor.checkpoints (
  name text primary key,
  transaction_id xid8 not null,
  position bigint not null,
  updated_at timestamptz not null default now()
);
