// The schema most tests read and write: films, their directors and cast, and a few functions.

export const movies = `
do $$ begin
  create role anon nologin;
exception when others then null;
end $$;
do $$ begin
  create role authenticated nologin;
exception when others then null;
end $$;

create table directors (id int primary key, name text not null, born date);
create table films (
  id int primary key,
  title text not null,
  director_id int references directors(id),
  year int,
  rating numeric,
  tags text[],
  data jsonb,
  plot text,
  shooting int4range,
  plot_vector tsvector generated always as (to_tsvector('english', coalesce(plot, ''))) stored
);
create table actors (id int primary key, name text not null);
create table roles (
  film_id int references films(id),
  actor_id int references actors(id),
  character text,
  primary key (film_id, actor_id)
);
create table employees (id int primary key, name text, manager_id int references employees(id));
create table users (id int primary key, name text);
create table profiles (id int primary key references users(id), bio text);
create table messages (
  id int primary key,
  sender_id int references users(id),
  receiver_id int references users(id),
  body text
);

insert into directors values
  (1, 'Akira Kurosawa', '1910-03-23'), (2, 'Agnès Varda', '1928-05-30'), (3, 'Nobody', null);
insert into films values
  (1, 'Rashomon', 1, 1950, 8.2, '{drama,crime}', '{"lang":"ja","runtime":88,"awards":{"oscar":true}}',
   'A samurai is murdered and four witnesses tell the story differently', '[1949,1950)'),
  (2, 'Seven Samurai', 1, 1954, 8.6, '{action,drama}', '{"lang":"ja","runtime":207}',
   'Farmers hire seven samurai to defend their village from bandits', '[1953,1954)'),
  (3, 'Cléo from 5 to 7', 2, 1962, 7.8, '{drama}', '{"lang":"fr","runtime":90}',
   'A singer waits for the results of a medical test in Paris', '[1961,1962)'),
  (4, 'Vagabond', 2, 1985, 7.9, '{drama}', '{"lang":"fr","runtime":105}',
   'A young woman drifts through the French countryside in winter', null),
  (5, 'Untitled, "draft"', null, null, null, null, null, null, null);
insert into actors values (1, 'Toshiro Mifune'), (2, 'Takashi Shimura'), (3, 'Corinne Marchand');
insert into roles values (1, 1, 'Tajomaru'), (1, 2, 'Woodcutter'), (2, 1, 'Kikuchiyo'), (2, 2, 'Kambei'),
  (3, 3, 'Cléo');
insert into employees values (1, 'Ada', null), (2, 'Grace', 1), (3, 'Linus', 1), (4, 'Ken', 2);
insert into users values (1, 'ann'), (2, 'bob');
insert into profiles values (1, 'hello');
insert into messages values (1, 1, 2, 'hi bob'), (2, 2, 1, 'hi ann');

create function add(a int, b int default 1) returns int language sql immutable as $$ select a + b $$;
-- Views over tables: embedding follows the foreign keys of the columns they show.
create view film_list as select id, title, director_id, year from films;
create view director_names as select id, name as full_name from directors;
-- Computed relationships: functions of a row returning rows of a table.
create function directed(directors) returns setof films language sql stable
  as $$ select * from films where director_id = $1.id $$;
create function director_of(films) returns directors language sql stable
  as $$ select * from directors where id = $1.director_id $$;
-- Computed fields: functions of a row.
create function decade(films) returns int language sql immutable as $$ select ($1.year / 10) * 10 $$;
create function initials(directors) returns text language sql immutable
  as $$ select string_agg(left(w, 1), '') from unnest(string_to_array($1.name, ' ')) w $$;
create function films_since(since int) returns setof films language sql stable
  as $$ select * from films where year >= since order by id $$;
create function best_film() returns films language sql stable as $$ select * from films order by rating desc nulls last limit 1 $$;
create function hello() returns text language sql stable as $$ select 'hello' $$;
create function noop() returns void language sql as $$ $$;
create function echo(json) returns json language sql immutable as $$ select $1 $$;
create function numbers(n int) returns setof int language sql immutable as $$ select generate_series(1, n) $$;
create function director_counts() returns table(director text, films bigint) language sql stable
  as $$ select d.name, count(f.id) from directors d left join films f on f.director_id = d.id group by d.name order by d.name $$;
create function pay() returns void language plpgsql as $$
begin
  raise sqlstate 'PT402' using message = 'Payment Required';
end $$;
create function fail_with(msg text) returns void language plpgsql as $$
begin
  raise exception '%', msg using hint = 'try again', detail = 'it broke';
end $$;
create function set_status() returns text language plpgsql as $$
begin
  perform set_config('response.status', '202', true);
  perform set_config('response.headers', '[{"x-custom":"yes"}]', true);
  return 'accepted';
end $$;
create function sum_all(variadic nums int[]) returns int language sql immutable as $$ select sum(n)::int from unnest(nums) n $$;
create function insert_actor(id int, name text) returns actors language sql volatile
  as $$ insert into actors values (id, name) returning * $$;

grant usage on schema public to anon, authenticated;
grant select on all tables in schema public to anon, authenticated;
grant execute on all functions in schema public to anon, authenticated;
`
