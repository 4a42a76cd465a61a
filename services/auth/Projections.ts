// How auth events become rows in auth.users, auth.identities and auth.sessions. Handlers apply
// them in the same transaction that appends the events; a rebuild applies them to the whole log.
// Events of different streams can touch one row (each session's sign-in stamps its user), and the
// log orders such events by transaction id, not by commit: those updates only ever move a
// timestamp forward (greatest), so any order gives the same row.
import { Effect } from "effect"
import * as Auth from "../../contracts/auth.ts"
import type { Event, PayloadOf } from "../../contracts/Contract.ts"
import type { NewEvent, StoredEvent } from "../../platform/eventlog/EventStore.ts"
import type { Projector } from "../../platform/eventlog/Rebuild.ts"
import type { PgError, Tx } from "../../platform/postgres/Postgres.ts"

type Applier<E extends Event> = (tx: Tx, payload: PayloadOf<E>) => Effect.Effect<unknown, PgError>

const on = <E extends Event>(contract: E, apply: Applier<E>) =>
  [contract.type, apply as Applier<Event>] as const

const appliers = new Map<string, Applier<Event>>([
  on(Auth.UserSignedUp, (tx, e) =>
    Effect.andThen(
      tx.query(
        `insert into auth.users (id, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data,
                                 is_anonymous, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
        [
          e.user_id,
          e.email,
          e.password_hash,
          e.confirmed_at,
          e.app_metadata,
          e.user_metadata,
          e.is_anonymous,
          e.at,
        ],
      ),
      e.identity_id === null || e.email === null
        ? Effect.void
        : tx.query(
            `insert into auth.identities (id, provider_id, user_id, identity_data, provider, created_at, updated_at)
             values ($1, $2::text, $2::uuid, $3, 'email', $4, $4)`,
            [
              e.identity_id,
              e.user_id,
              {
                sub: e.user_id,
                email: e.email,
                email_verified: e.confirmed_at !== null,
                phone_verified: false,
              },
              e.at,
            ],
          ),
    ),
  ),
  on(Auth.SessionStarted, (tx, e) =>
    Effect.all([
      tx.query(
        `insert into auth.sessions (id, user_id, aal, method, refresh_generation, created_at, updated_at)
         values ($1, $2, $3, $4, 0, $5, $5)`,
        [e.session_id, e.user_id, e.aal, e.method, e.at],
      ),
      tx.query(
        "update auth.users set last_sign_in_at = greatest(last_sign_in_at, $2), updated_at = greatest(updated_at, $2) where id = $1",
        [e.user_id, e.at],
      ),
      e.method === "password"
        ? tx.query(
            "update auth.identities set last_sign_in_at = greatest(last_sign_in_at, $2), updated_at = greatest(updated_at, $2) where user_id = $1 and provider = 'email'",
            [e.user_id, e.at],
          )
        : Effect.void,
    ]),
  ),
  on(Auth.RefreshTokenRotated, (tx, e) =>
    tx.query(
      "update auth.sessions set refresh_generation = $2, refreshed_at = $3, updated_at = $3 where id = $1",
      [e.session_id, e.generation, e.at],
    ),
  ),
  on(Auth.SessionRevoked, (tx, e) => tx.query("delete from auth.sessions where id = $1", [e.session_id])),
  on(Auth.PasswordChanged, (tx, e) =>
    tx.query(
      "update auth.users set encrypted_password = $2, updated_at = greatest(updated_at, $3) where id = $1",
      [e.user_id, e.password_hash, e.at],
    ),
  ),
  on(Auth.EmailChanged, (tx, e) =>
    Effect.all([
      tx.query(
        `update auth.users set email = $2, email_confirmed_at = coalesce(email_confirmed_at, $3), is_anonymous = false, updated_at = greatest(updated_at, $3)
         where id = $1`,
        [e.user_id, e.email, e.at],
      ),
      tx.query(
        `update auth.identities set identity_data = jsonb_set(identity_data, '{email}', to_jsonb($2::text)), updated_at = greatest(updated_at, $3)
         where user_id = $1 and provider = 'email'`,
        [e.user_id, e.email, e.at],
      ),
    ]),
  ),
  on(Auth.UserMetadataUpdated, (tx, e) =>
    tx.query(
      "update auth.users set raw_user_meta_data = $2, updated_at = greatest(updated_at, $3) where id = $1",
      [e.user_id, e.user_metadata, e.at],
    ),
  ),
])

export const apply = (tx: Tx, event: NewEvent | StoredEvent): Effect.Effect<void, PgError> => {
  const applier = appliers.get(event.contract.type)
  return applier === undefined ? Effect.void : Effect.asVoid(applier(tx, event.payload as never))
}

export const applyAll = (tx: Tx, events: ReadonlyArray<NewEvent>) =>
  Effect.forEach(events, (e) => apply(tx, e), { discard: true })

export const projector: Projector = {
  tables: ["auth.sessions", "auth.identities", "auth.users"],
  apply,
}
