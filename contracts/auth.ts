// Auth: users, sessions and tokens, GoTrue-compatible. Every message of the capability is listed here.
import { Schema } from "effect"
import { type Catalogue, capability } from "./Contract.ts"
import { InternalError, ValidationFailed } from "./errors.ts"
import { Done, JsonObject, Timestamp, Uuid } from "./shared.ts"

const auth = capability("auth")

// ---------------------------------------------------------------------------------------------
// Replies: these are GoTrue's own JSON shapes, so the gateway passes them through unchanged.

export const Identity = Schema.Struct({
  identity_id: Uuid,
  id: Schema.String.annotate({ description: "The user's id at the provider (the user id for email)" }),
  user_id: Uuid,
  identity_data: JsonObject,
  provider: Schema.String.annotate({ description: "e.g. email" }),
  email: Schema.optionalKey(Schema.String),
  last_sign_in_at: Schema.optionalKey(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const User = Schema.Struct({
  id: Uuid,
  aud: Schema.String.annotate({ description: "Audience, 'authenticated'" }),
  role: Schema.String.annotate({ description: "Postgres role the user's requests run as" }),
  email: Schema.String.annotate({ description: "Empty for anonymous users" }),
  phone: Schema.String.annotate({ description: "Empty when the user has none" }),
  email_confirmed_at: Schema.optionalKey(Timestamp),
  confirmed_at: Schema.optionalKey(Timestamp),
  last_sign_in_at: Schema.optionalKey(Timestamp),
  app_metadata: JsonObject,
  user_metadata: JsonObject,
  identities: Schema.Array(Identity),
  created_at: Timestamp,
  updated_at: Timestamp,
  is_anonymous: Schema.Boolean,
}).annotate({ description: "A user as GoTrue renders it" })
export type User = typeof User.Type

export const Session = Schema.Struct({
  access_token: Schema.String.annotate({ description: "HS256 JWT for the API" }),
  token_type: Schema.Literal("bearer"),
  expires_in: Schema.Int.annotate({ description: "Seconds the access token lives" }),
  expires_at: Schema.Int.annotate({ description: "Unix time the access token expires" }),
  refresh_token: Schema.String.annotate({ description: "Opaque, single-use (rotated on refresh)" }),
  user: User,
}).annotate({ description: "A session as GoTrue renders it" })
export type Session = typeof Session.Type

export const SignUpResult = Schema.Struct({
  user: User,
  session: Schema.NullOr(Session).annotate({ description: "Null when the email must be confirmed first" }),
})

// ---------------------------------------------------------------------------------------------
// Errors. The tag is the public code; the gateway maps each to GoTrue's code, status and message.

export class UserAlreadyExists extends Schema.TaggedError<UserAlreadyExists>()("UserAlreadyExists", {}) {}
export class EmailExists extends Schema.TaggedError<EmailExists>()("EmailExists", {}) {}
export class WeakPassword extends Schema.TaggedError<WeakPassword>()("WeakPassword", {
  message: Schema.String,
  reasons: Schema.Array(Schema.Literals(["length", "characters", "pwned"])),
}) {}
export class SamePassword extends Schema.TaggedError<SamePassword>()("SamePassword", {}) {}
export class SignupDisabled extends Schema.TaggedError<SignupDisabled>()("SignupDisabled", {}) {}
export class AnonymousSignInsDisabled extends Schema.TaggedError<AnonymousSignInsDisabled>()(
  "AnonymousSignInsDisabled",
  {},
) {}
export class InvalidCredentials extends Schema.TaggedError<InvalidCredentials>()("InvalidCredentials", {}) {}
export class EmailNotConfirmed extends Schema.TaggedError<EmailNotConfirmed>()("EmailNotConfirmed", {}) {}
export class RefreshTokenNotFound extends Schema.TaggedError<RefreshTokenNotFound>()(
  "RefreshTokenNotFound",
  {},
) {}
export class RefreshTokenAlreadyUsed extends Schema.TaggedError<RefreshTokenAlreadyUsed>()(
  "RefreshTokenAlreadyUsed",
  {},
) {}
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {}) {}
export class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", {}) {}
export class UserBanned extends Schema.TaggedError<UserBanned>()("UserBanned", {}) {}

// ---------------------------------------------------------------------------------------------
// Commands and queries.

const Email = Schema.String.annotate({ description: "An email address, compared case-insensitively" })
const Password = Schema.String.annotate({
  description: "A password in clear; only its argon2id hash is kept",
})

export const SignUp = auth.command({
  name: "SignUp",
  description: "Register a user with email and password; starts a session unless the email must be confirmed",
  payload: Schema.Struct({ email: Email, password: Password, data: JsonObject }),
  success: SignUpResult,
  errors: [UserAlreadyExists, WeakPassword, SignupDisabled, ValidationFailed, InternalError],
})

export const SignInAnonymously = auth.command({
  name: "SignInAnonymously",
  description: "Create an anonymous user and start a session for it",
  payload: Schema.Struct({ data: JsonObject }),
  success: Session,
  errors: [AnonymousSignInsDisabled, SignupDisabled, ValidationFailed, InternalError],
})

export const SignInWithPassword = auth.command({
  name: "SignInWithPassword",
  description: "Start a session for the user with this email and password",
  payload: Schema.Struct({ email: Email, password: Password }),
  success: Session,
  errors: [InvalidCredentials, EmailNotConfirmed, UserBanned, ValidationFailed, InternalError],
})

export const RefreshSession = auth.command({
  name: "RefreshSession",
  description:
    "Trade a refresh token for a new access token and refresh token (rotation with reuse detection)",
  payload: Schema.Struct({ refresh_token: Schema.String }),
  success: Session,
  errors: [
    RefreshTokenNotFound,
    RefreshTokenAlreadyUsed,
    SessionNotFound,
    UserBanned,
    ValidationFailed,
    InternalError,
  ],
})

export const UpdateUser = auth.command({
  name: "UpdateUser",
  description: "Change the signed-in user's email, password or user metadata",
  payload: Schema.Struct({
    user_id: Uuid,
    session_id: Uuid,
    email: Schema.optionalKey(Email),
    password: Schema.optionalKey(Password),
    data: Schema.optionalKey(JsonObject),
  }),
  success: User,
  errors: [
    UserNotFound,
    SessionNotFound,
    WeakPassword,
    SamePassword,
    EmailExists,
    ValidationFailed,
    InternalError,
  ],
})

export const SignOut = auth.command({
  name: "SignOut",
  description: "End this session (local), every session of the user (global), or all but this one (others)",
  payload: Schema.Struct({
    user_id: Uuid,
    session_id: Uuid,
    scope: Schema.Literals(["global", "local", "others"]),
  }),
  success: Done,
  errors: [ValidationFailed, InternalError],
})

export const GetUser = auth.query({
  name: "GetUser",
  description: "The user behind a session, if the session is still alive",
  payload: Schema.Struct({ user_id: Uuid, session_id: Schema.NullOr(Uuid) }),
  success: User,
  errors: [UserNotFound, SessionNotFound, InternalError],
})

// ---------------------------------------------------------------------------------------------
// Events: the source of truth; auth.users, auth.identities, auth.sessions and auth.refresh_tokens
// are projections of them.

export const UserSignedUp = auth.event({
  name: "UserSignedUp",
  description: "A user was created, by email sign-up or anonymously",
  payload: Schema.Struct({
    user_id: Uuid,
    identity_id: Schema.NullOr(Uuid).annotate({
      description: "The email identity's id; null for anonymous users",
    }),
    email: Schema.NullOr(Schema.String).annotate({ description: "Lower-cased; null for anonymous users" }),
    password_hash: Schema.NullOr(Schema.String).annotate({ description: "argon2id PHC string" }),
    user_metadata: JsonObject,
    app_metadata: JsonObject,
    is_anonymous: Schema.Boolean,
    confirmed_at: Schema.NullOr(Timestamp).annotate({
      description: "Set when the email needs no confirmation",
    }),
    at: Timestamp,
  }),
})

export const SessionStarted = auth.event({
  name: "SessionStarted",
  description: "A user signed in and got a session; its first refresh token is generation 0",
  payload: Schema.Struct({
    session_id: Uuid,
    user_id: Uuid,
    method: Schema.Literals(["password", "anonymous"]).annotate({
      description: "How the user authenticated (amr)",
    }),
    aal: Schema.Literals(["aal1", "aal2"]),
    at: Timestamp,
  }),
})

export const RefreshTokenRotated = auth.event({
  name: "RefreshTokenRotated",
  description: "The session's refresh token was spent and its successor issued",
  payload: Schema.Struct({
    session_id: Uuid,
    user_id: Uuid,
    generation: Schema.Int.annotate({
      description: "The successor's generation; tokens of earlier ones are spent",
    }),
    at: Timestamp,
  }),
})

export const SessionRevoked = auth.event({
  name: "SessionRevoked",
  description:
    "A session ended: its refresh tokens no longer work and its access tokens are refused by /user",
  payload: Schema.Struct({
    session_id: Uuid,
    user_id: Uuid,
    reason: Schema.Literals(["logout", "refresh_token_reused", "password_changed"]),
    at: Timestamp,
  }),
})

export const PasswordChanged = auth.event({
  name: "PasswordChanged",
  description: "The user set a new password",
  payload: Schema.Struct({ user_id: Uuid, password_hash: Schema.String, at: Timestamp }),
})

export const EmailChanged = auth.event({
  name: "EmailChanged",
  description: "The user's email changed",
  payload: Schema.Struct({ user_id: Uuid, email: Schema.String, at: Timestamp }),
})

export const UserMetadataUpdated = auth.event({
  name: "UserMetadataUpdated",
  description: "The user's own metadata was replaced by a merge of old and new keys",
  payload: Schema.Struct({ user_id: Uuid, user_metadata: JsonObject, at: Timestamp }),
})

export const catalogue = {
  capability: "auth",
  commands: [SignUp, SignInAnonymously, SignInWithPassword, RefreshSession, UpdateUser, SignOut],
  queries: [GetUser],
  events: [
    UserSignedUp,
    SessionStarted,
    RefreshTokenRotated,
    SessionRevoked,
    PasswordChanged,
    EmailChanged,
    UserMetadataUpdated,
  ],
  errors: [
    UserAlreadyExists,
    EmailExists,
    WeakPassword,
    SamePassword,
    SignupDisabled,
    AnonymousSignInsDisabled,
    InvalidCredentials,
    EmailNotConfirmed,
    RefreshTokenNotFound,
    RefreshTokenAlreadyUsed,
    SessionNotFound,
    UserNotFound,
    UserBanned,
  ],
} as const satisfies Catalogue
