// Verified claims as the JSON text workers set as request.jwt.claims. A token is verified once and
// its claims object cached, so its text is made once too.
import type { Claims } from "../../platform/jwt/Jwt.ts"

const texts = new WeakMap<Claims, string>()

export const claimsText = (claims: Claims) => {
  let text = texts.get(claims)
  if (text === undefined) {
    text = JSON.stringify(claims)
    texts.set(claims, text)
  }
  return text
}
