// Every configuration key Reactor reads, with its type, default and meaning. `Reactor.toml` sets
// them by section; `REACTOR_<SECTION>_<KEY>` overrides any of them from the environment.
import { Schema } from "effect"

export type Kind = "string" | "integer" | "boolean" | "list" | "secret"

export interface Key<A, K extends Kind = Kind> {
  readonly kind: K
  readonly schema: Schema.Codec<A, unknown>
  readonly default: A | undefined
  /** What the key does and what it accepts, for error messages and the README's reference. */
  readonly doc: string
  /** Shown in errors: what a valid value looks like. */
  readonly expected: string
}

const key = <A, K extends Kind>(
  kind: K,
  schema: Schema.Codec<A, any>,
  expected: string,
  defaultValue: A | undefined,
  doc: string,
): Key<A, K> => ({
  kind,
  schema: schema as Schema.Codec<A, unknown>,
  default: defaultValue,
  doc,
  expected,
})

const HostPort = Schema.String.check(
  Schema.makeFilter(
    (s: string) =>
      /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(s) &&
      Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535,
  ),
)

const string = (defaultValue: string, doc: string) =>
  key("string", Schema.String, "a string", defaultValue, doc)
const integer = (defaultValue: number, min: number, doc: string) =>
  key(
    "integer",
    Schema.Int.check(Schema.isGreaterThanOrEqualTo(min)),
    `an integer ≥ ${min}`,
    defaultValue,
    doc,
  )
const boolean = (defaultValue: boolean, doc: string) =>
  key("boolean", Schema.Boolean, "true or false", defaultValue, doc)
const list = (defaultValue: ReadonlyArray<string>, doc: string) =>
  key("list", Schema.Array(Schema.String), "a list of strings", defaultValue, doc)
const url = (schemes: ReadonlyArray<string>, doc: string) =>
  key(
    "string",
    Schema.String.check(
      Schema.makeFilter((s: string) => s === "" || schemes.some((scheme) => s.startsWith(`${scheme}://`))),
    ),
    `empty, or a URL starting with ${schemes.map((s) => `${s}://`).join(" or ")}`,
    "",
    doc,
  )

export const sections = {
  project: {
    name: string("reactor-app", "The app's name, shown by `reactor doctor`."),
    id: key(
      "string",
      Schema.String.check(Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,62}$/)),
      "lower-case letters, digits, _ or -",
      "local",
      "The project's reference; it goes into the anon and service-role keys as `ref`.",
    ),
  },
  server: {
    bind: key(
      "string",
      HostPort,
      "host:port, e.g. 127.0.0.1:8000",
      "127.0.0.1:8000",
      "Address the HTTP surface listens on.",
    ),
    data_dir: string(".reactor", "Where size 1 keeps its embedded Postgres and generated secrets."),
    body_limit: integer(1_048_576, 1, "Largest request body in bytes; larger ones get 413."),
    max_inflight: integer(
      10_000,
      1,
      "Requests the gateway waits on at once; past it, requests get 503 at once.",
    ),
    request_timeout_ms: integer(
      15_000,
      1,
      "How long the gateway waits for a worker's reply before answering 504.",
    ),
    drain_timeout_ms: integer(
      10_000,
      0,
      "On SIGTERM, how long in-flight requests may finish before the process exits.",
    ),
    cors_origins: list(["*"], "Origins browsers may call from; `*` allows any."),
    trust_proxy: boolean(
      false,
      "Take the client's address from X-Forwarded-For (only behind a proxy you run).",
    ),
    allow_slow_uws: boolean(
      false,
      "Start even when uWebSockets.js's native binary cannot load and only its slow fallback is available.",
    ),
  },
  database: {
    url: url(
      ["postgres", "postgresql"],
      "Postgres to use. Empty: run an embedded Postgres under data_dir (size 1).",
    ),
    pool_size: integer(10, 1, "Connections each process keeps to Postgres."),
    app_migrations: string(
      "",
      "Folder of the app's own migrations (00001_name/index.sql, …), applied at start and by `reactor migrate`, tracked apart from Reactor's.",
    ),
    embedded_port: integer(0, 0, "Port of the embedded Postgres on 127.0.0.1; 0 picks a free one."),
  },
  admin: {
    token: key(
      "secret",
      Schema.String,
      "a string",
      "",
      "Token for /_admin; empty disables the admin surface.",
    ),
    allow_remote: boolean(false, "Serve /_admin to non-loopback clients too."),
  },
  auth: {
    jwt_secret: key(
      "secret",
      Schema.String.check(Schema.makeFilter((s: string) => s === "" || s.length >= 32)),
      "at least 32 characters",
      "",
      "HS256 secret that signs access tokens and the API keys. Empty in size 1: generated once under data_dir.",
    ),
    jwt_expiry: integer(3600, 30, "Seconds an access token lives."),
    public_url: url(
      ["http", "https"],
      "The URL clients reach Reactor at; the token issuer is <public_url>/auth/v1.",
    ),
    autoconfirm: boolean(true, "Sign-ups need no email confirmation."),
    disable_signup: boolean(false, "Refuse new sign-ups."),
    anonymous_sign_ins: boolean(false, "Allow signInAnonymously()."),
    password_min_length: integer(6, 6, "Shortest password accepted."),
    refresh_token_reuse_interval: integer(
      10,
      0,
      "Seconds a just-rotated refresh token may be presented again (concurrent refreshes) before reuse revokes the session.",
    ),
    rate_limit_sign_ups: integer(30, 0, "Sign-ups per client address per 5 minutes; 0 disables the limit."),
    rate_limit_token: integer(
      150,
      0,
      "Sign-ins and refreshes per client address per 5 minutes; 0 disables the limit.",
    ),
    rate_limit_anonymous: integer(
      30,
      0,
      "Anonymous sign-ins per client address per hour; 0 disables the limit.",
    ),
  },
  data: {
    schemas: key(
      "list",
      Schema.Array(Schema.String.check(Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/))).check(
        Schema.makeFilter((a: ReadonlyArray<string>) => a.length > 0),
      ),
      "a non-empty list of schema names",
      ["public"],
      "Schemas served at /rest/v1 (the first is the default profile) and captured for realtime.",
    ),
  },
  realtime: {
    replay_window_ms: integer(
      3_600_000,
      0,
      "How long ago a client's last change may be for it to resume from there (postgres_changes_since); older ones are told to reload.",
    ),
    replay_max_changes: integer(
      10_000,
      0,
      "Most changes replayed to one resuming channel; a client further behind is told to reload.",
    ),
  },
  storage: {
    backend: key(
      "string",
      Schema.Literals(["disk", "s3"]),
      "disk or s3",
      "disk",
      "Where object bytes live: a folder under data_dir (disk) or an S3-compatible server (s3).",
    ),
    file_size_limit: integer(52_428_800, 0, "Largest object in bytes, whatever a bucket allows."),
    janitor_interval_ms: integer(
      600_000,
      1_000,
      "Time between the janitor's sweeps (it also sweeps at start).",
    ),
    orphan_grace_ms: integer(
      3_600_000,
      0,
      "Age before the janitor removes unfinished uploads and bytes no object points at; keep it above the slowest upload.",
    ),
    s3_endpoint: url(["http", "https"], "The S3 server, e.g. http://127.0.0.1:9000 (MinIO)."),
    s3_bucket: string("reactor", "The S3 bucket every object's bytes go into."),
    s3_region: string("us-east-1", "The S3 region."),
    s3_access_key: string("", "S3 access key id."),
    s3_secret_key: key("secret", Schema.String, "a string", "", "S3 secret access key."),
  },
  bus: {
    url: url(["nats"], "NATS server with JetStream. Empty: the in-memory bus (one process only)."),
    prefix: key(
      "string",
      Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]*$/)),
      "letters, digits, _ or -",
      "",
      "Prefix for subjects and streams, so several Reactors can share one NATS.",
    ),
    dedupe_window_ms: integer(120_000, 1_000, "How long a command's idempotency key is remembered."),
    ack_wait_ms: integer(
      30_000,
      100,
      "How long a worker may take on a command before another worker gets it.",
    ),
    max_deliver: integer(
      5,
      1,
      "Deliveries of a command whose worker keeps failing before it is answered with an error.",
    ),
  },
} as const

export type Sections = typeof sections
export type SectionName = keyof Sections
