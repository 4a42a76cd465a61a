// The reads auth's handlers need from its projections, and how a user row renders as GoTrue's JSON.
import { Effect } from "effect"
import type { User } from "../../contracts/auth.ts"
import type { JsonObject } from "../../contracts/shared.ts"
import type { PgError, Tx } from "../../platform/postgres/Postgres.ts"

export interface UserRow {
  readonly id: string
  readonly aud: string
  readonly role: string
  readonly email: string | null
  readonly phone: string | null
  readonly encrypted_password: string | null
  readonly email_confirmed_at: Date | null
  readonly confirmed_at: Date | null
  readonly last_sign_in_at: Date | null
  readonly raw_app_meta_data: JsonObject
  readonly raw_user_meta_data: JsonObject
  readonly is_anonymous: boolean
  readonly banned_until: Date | null
  readonly created_at: Date
  readonly updated_at: Date
}

interface IdentityRow {
  readonly id: string
  readonly provider_id: string
  readonly user_id: string
  readonly identity_data: JsonObject
  readonly provider: string
  readonly email: string | null
  readonly last_sign_in_at: Date | null
  readonly created_at: Date
  readonly updated_at: Date
}

export interface SessionRow {
  readonly id: string
  readonly user_id: string
  readonly aal: "aal1" | "aal2"
  readonly method: "password" | "anonymous"
  readonly refresh_generation: number
  readonly refreshed_at: Date | null
  readonly created_at: Date
}

const userColumns = `id, aud, role, email, phone, encrypted_password, email_confirmed_at, confirmed_at, last_sign_in_at,
  raw_app_meta_data, raw_user_meta_data, is_anonymous, banned_until, created_at, updated_at`

export const userByEmail = (tx: Tx, email: string) =>
  tx
    .query<UserRow>({
      name: "auth.user-by-email",
      text: `select ${userColumns} from auth.users where email = $1`,
      values: [email],
    })
    .pipe(Effect.map(({ rows }) => rows[0]))

export const userById = (tx: Tx, id: string) =>
  tx
    .query<UserRow>({
      name: "auth.user-by-id",
      text: `select ${userColumns} from auth.users where id = $1`,
      values: [id],
    })
    .pipe(Effect.map(({ rows }) => rows[0]))

export const sessionById = (tx: Tx, id: string) =>
  tx
    .query<SessionRow>({
      name: "auth.session-by-id",
      text: "select id, user_id, aal, method, refresh_generation, refreshed_at, created_at from auth.sessions where id = $1",
      values: [id],
    })
    .pipe(Effect.map(({ rows }) => rows[0]))

export const sessionIdsOfUser = (tx: Tx, userId: string) =>
  tx
    .query<{ id: string }>("select id from auth.sessions where user_id = $1 order by created_at", [userId])
    .pipe(Effect.map(({ rows }) => rows.map((r) => r.id)))

const iso = (date: Date | null) => (date === null ? undefined : date.toISOString())
const optional = <K extends string>(key: K, date: Date | null) =>
  date === null ? {} : ({ [key]: iso(date) } as Record<K, string>)

/** The user as GoTrue renders it, identities included. */
export const render = (tx: Tx, row: UserRow): Effect.Effect<User, PgError> =>
  tx
    .query<IdentityRow>({
      name: "auth.identities-of-user",
      text: `select id, provider_id, user_id, identity_data, provider, email, last_sign_in_at, created_at, updated_at
             from auth.identities where user_id = $1 order by created_at`,
      values: [row.id],
    })
    .pipe(
      Effect.map(({ rows }) => ({
        id: row.id,
        aud: row.aud,
        role: row.role,
        email: row.email ?? "",
        phone: row.phone ?? "",
        ...optional("email_confirmed_at", row.email_confirmed_at),
        ...optional("confirmed_at", row.confirmed_at),
        ...optional("last_sign_in_at", row.last_sign_in_at),
        app_metadata: row.raw_app_meta_data,
        user_metadata: row.raw_user_meta_data,
        identities: rows.map((identity) => ({
          identity_id: identity.id,
          id: identity.provider_id,
          user_id: identity.user_id,
          identity_data: identity.identity_data,
          provider: identity.provider,
          ...(identity.email === null ? {} : { email: identity.email }),
          ...optional("last_sign_in_at", identity.last_sign_in_at),
          created_at: identity.created_at.toISOString(),
          updated_at: identity.updated_at.toISOString(),
        })),
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
        is_anonymous: row.is_anonymous,
      })),
    )
