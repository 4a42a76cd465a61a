// Every GoTrue route Reactor serves under /auth/v1.
import { logout } from "./logout.ts"
import { settings } from "./settings.ts"
import { signup } from "./signup.ts"
import { token } from "./token.ts"
import { getUser, updateUser } from "./user.ts"

export const authRoutes = (timeout: number) => [
  signup(timeout),
  token(timeout),
  getUser(timeout),
  updateUser(timeout),
  logout(timeout),
  settings,
]

export { AuthGateway, layer } from "./AuthGateway.ts"
