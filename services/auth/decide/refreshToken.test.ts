import { randomUUID } from "node:crypto"
import { describe, expect, it } from "vitest"
import { decide, issue, parse } from "./refreshToken.ts"

const secret = "refresh-token-test-secret-of-32-chars+"

describe("a refresh token", () => {
  it("names its session and generation", () => {
    const session = randomUUID()
    const token = issue(secret, session, 7)
    expect(token).toMatch(/^[A-Za-z0-9_-]{48}$/)
    expect(parse(secret, token)).toEqual({ _tag: "Valid", sessionId: session, generation: 7 })
  })

  it("is refused when altered or issued under another secret", () => {
    const token = issue(secret, randomUUID(), 1)
    const altered = `${token.slice(0, 30)}${token[30] === "A" ? "B" : "A"}${token.slice(31)}`
    expect(parse(secret, altered)._tag).toBe("Forged")
    expect(parse("another-secret-another-secret-xxxx", token)._tag).toBe("Forged")
    expect(parse(secret, "not-a-token")._tag).toBe("Malformed")
  })
})

describe("refreshing", () => {
  const now = new Date("2026-01-01T00:00:10Z")
  const rotatedAt = new Date("2026-01-01T00:00:05Z")

  it("rotates the current token to the next generation", () => {
    expect(decide({ generation: 3, refreshedAt: rotatedAt }, 3, now, 10)).toEqual({ _tag: "Rotate", next: 4 })
  })

  it("reissues the current token to a refresh racing the one that just rotated", () => {
    expect(decide({ generation: 3, refreshedAt: rotatedAt }, 2, now, 10)).toEqual({ _tag: "Reissue" })
  })

  it("treats a spent token presented after the reuse interval as reuse", () => {
    expect(decide({ generation: 3, refreshedAt: rotatedAt }, 2, now, 4)).toEqual({ _tag: "Reused" })
    expect(decide({ generation: 3, refreshedAt: rotatedAt }, 2, now, 0)).toEqual({ _tag: "Reused" })
  })

  it("treats any older token as reuse", () => {
    expect(decide({ generation: 3, refreshedAt: rotatedAt }, 1, now, 10)).toEqual({ _tag: "Reused" })
  })

  it("does not know a token from the future", () => {
    expect(decide({ generation: 3, refreshedAt: rotatedAt }, 4, now, 10)).toEqual({ _tag: "Unknown" })
  })
})
