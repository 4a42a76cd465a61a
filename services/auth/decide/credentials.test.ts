import { describe, expect, it } from "vitest"
import { checkEmail, checkPassword } from "./credentials.ts"

describe("an email", () => {
  it("is accepted lower-cased", () => {
    expect(checkEmail("Ada.Lovelace+test@Example.COM")).toBe("ada.lovelace+test@example.com")
  })
  it.each(["plain", "a@", "@b.c", "a b@c.d", "a@-b.c", `${"x".repeat(250)}@e.com`])("refuses %s", (email) => {
    expect(checkEmail(email)).toMatchObject({ _tag: "ValidationFailed", field: "email" })
  })
})

describe("a password", () => {
  it("passes at the minimum length", () => {
    expect(checkPassword("123456", 6)).toBeUndefined()
  })
  it("is weak below the minimum length, counted in characters", () => {
    expect(checkPassword("12345", 6)).toMatchObject({
      _tag: "WeakPassword",
      reasons: ["length"],
      message: "Password should be at least 6 characters.",
    })
    expect(checkPassword("ééééé", 6)).toMatchObject({ _tag: "WeakPassword" })
  })
  it("is refused over 72 bytes, as GoTrue refuses it", () => {
    expect(checkPassword("é".repeat(37), 6)).toMatchObject({ _tag: "ValidationFailed" })
    expect(checkPassword("x".repeat(72), 6)).toBeUndefined()
  })
})
