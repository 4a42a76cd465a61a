// Sessions as GoTrue hands them out: an access token with Supabase's claims, a refresh token, the user.
import { Effect } from "effect"
import type { Session, User } from "../../contracts/auth.ts"
import { sign } from "../../platform/jwt/Jwt.ts"
import type { AuthSettingsShape } from "./Config.ts"
import * as RefreshToken from "./decide/refreshToken.ts"
import type { SessionRow } from "./Repository.ts"

export const session = (
  settings: AuthSettingsShape,
  user: User,
  row: Pick<SessionRow, "id" | "aal" | "method" | "created_at">,
  generation: number,
  now: Date,
): Effect.Effect<Session> => {
  const iat = Math.floor(now.getTime() / 1000)
  const exp = iat + settings.jwtExpiry
  return sign(settings.jwtSecret, {
    iss: settings.issuer,
    sub: user.id,
    aud: user.aud,
    exp,
    iat,
    email: user.email,
    phone: user.phone,
    app_metadata: user.app_metadata,
    user_metadata: user.user_metadata,
    role: user.role,
    aal: row.aal,
    amr: [{ method: row.method, timestamp: Math.floor(row.created_at.getTime() / 1000) }],
    session_id: row.id,
    is_anonymous: user.is_anonymous,
  }).pipe(
    Effect.map((access_token) => ({
      access_token,
      token_type: "bearer" as const,
      expires_in: settings.jwtExpiry,
      expires_at: exp,
      refresh_token: RefreshToken.issue(settings.jwtSecret, row.id, generation),
      user,
    })),
  )
}
