// What GoTrue accepts as an email and a password, as pure checks.

import { WeakPassword } from "../../../contracts/auth.ts"
import { ValidationFailed } from "../../../contracts/errors.ts"

// GoTrue's (badoux/checkmail) pattern.
const emailPattern =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/

/** The email, lower-cased, or why it is not one. */
export const checkEmail = (email: string): string | ValidationFailed => {
  if (email.length > 255)
    return new ValidationFailed({ message: "An email address is too long", field: "email" })
  if (!emailPattern.test(email)) {
    return new ValidationFailed({
      message: "Unable to validate email address: invalid format",
      field: "email",
    })
  }
  return email.toLowerCase()
}

/** GoTrue counts bcrypt's limit in bytes; Reactor keeps the same limit so passwords move between them. */
const maxPasswordBytes = 72

export const checkPassword = (
  password: string,
  minLength: number,
): undefined | ValidationFailed | WeakPassword => {
  if (Buffer.byteLength(password, "utf8") > maxPasswordBytes) {
    return new ValidationFailed({
      message: `Password cannot be longer than ${maxPasswordBytes} characters`,
      field: "password",
    })
  }
  if ([...password].length < minLength) {
    return new WeakPassword({
      message: `Password should be at least ${minLength} characters.`,
      reasons: ["length"],
    })
  }
  return undefined
}
