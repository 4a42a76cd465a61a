-- Storage: buckets and objects' metadata, as Supabase Storage keeps them, so the app's RLS policies
-- on storage.objects read the same columns. Both tables are projections of the storage events; the
-- bytes live in the blob store under blob_key, which Reactor makes up and never takes from a client.

create schema storage;
grant usage on schema storage to anon, authenticated, service_role;

create table storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  owner_id text,
  public boolean not null default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table storage.objects (
  id uuid primary key,
  bucket_id text not null references storage.buckets (id),
  name text not null,
  owner uuid,
  owner_id text,
  metadata jsonb,
  user_metadata jsonb,
  version text,
  blob_key text not null unique,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_accessed_at timestamptz not null default now(),
  unique (bucket_id, name)
);
-- Listing walks names by prefix in byte order, as S3 does.
create index objects_bucket_name on storage.objects (bucket_id, name collate "C");

-- As in Supabase: the tables are the API's, guarded by the app's policies. With RLS on and no
-- policy, only service_role (which bypasses RLS) may do anything.
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant select, insert, update, delete on storage.buckets, storage.objects to anon, authenticated, service_role;

-- The helpers Supabase's policies use: storage.foldername('a/b/c.png') = {a,b}.
create function storage.foldername(name text) returns text[] language sql immutable as $$
  select (string_to_array(name, '/'))[1:greatest(array_length(string_to_array(name, '/'), 1) - 1, 0)]
$$;

create function storage.filename(name text) returns text language sql immutable as $$
  select (string_to_array(name, '/'))[array_length(string_to_array(name, '/'), 1)]
$$;

create function storage.extension(name text) returns text language sql immutable as $$
  select case when storage.filename(name) like '%.%'
    then lower(reverse(split_part(reverse(storage.filename(name)), '.', 1)))
    else '' end
$$;

-- The owner column is a uuid, as Supabase's; a token whose subject is not one leaves it null
-- (owner_id keeps the text).
create function storage.owner_uuid(subject text) returns uuid language sql immutable as $$
  select case when subject ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then subject::uuid end
$$;

grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text),
  storage.owner_uuid(text) to anon, authenticated, service_role;

-- Signed upload URLs handed out and not yet used; the janitor removes expired ones.
create table storage.upload_tokens (
  id uuid primary key,
  bucket_id text not null,
  name text not null,
  expires_at timestamptz not null
);
create index upload_tokens_expires_at on storage.upload_tokens (expires_at);
