import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { isLoopback, make } from "../routes/admin/AdminGate.ts"
import { formatAddress } from "./address.ts"

describe("a client address", () => {
  it("reads IPv4, IPv4 mapped into IPv6, and IPv6", () => {
    expect(formatAddress(new Uint8Array([127, 0, 0, 1]))).toBe("127.0.0.1")
    expect(formatAddress(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]))).toBe(
      "10.1.2.3",
    )
    expect(formatAddress(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))).toBe(
      "2001:db8:0:0:0:0:0:1",
    )
  })

  it("tells loopback clients, and only them, for the admin surface", () => {
    for (const ip of [
      "127.0.0.1",
      "127.8.9.10",
      formatAddress(new Uint8Array([...Array(15).fill(0), 1])),
      "::1",
      "::ffff:127.0.0.1",
    ]) {
      expect(isLoopback(ip)).toBe(true)
    }
    for (const ip of ["10.0.0.1", "192.168.1.1", "2001:db8:0:0:0:0:0:1", "0:0:0:0:0:0:0:2", ""])
      expect(isLoopback(ip)).toBe(false)
  })
})

describe("the admin gate", () => {
  const request = (ip: string, token: string) =>
    ({
      ip,
      headers: new Map([["authorization", `Bearer ${token}`]]),
    }) as unknown as import("./HttpRequest.ts").HttpRequest
  const outcome = (gate: ReturnType<typeof make>, ip: string, token: string) =>
    Effect.runSync(
      Effect.match(gate.check(request(ip, token)), { onFailure: (e) => e._tag, onSuccess: () => "ok" }),
    )

  it("wants the token, compared exactly", () => {
    const gate = make({ token: "secret-token", allowRemote: false, onlyLoopbackClients: false })
    expect(outcome(gate, "127.0.0.1", "secret-token")).toBe("ok")
    expect(outcome(gate, "127.0.0.1", "secret-tokeN")).toBe("AdminUnauthorized")
    expect(outcome(gate, "127.0.0.1", "secret")).toBe("AdminUnauthorized")
  })

  it("refuses remote clients unless allowed, even with the token", () => {
    expect(
      outcome(make({ token: "t", allowRemote: false, onlyLoopbackClients: false }), "10.0.0.7", "t"),
    ).toBe("AdminRemote")
    expect(
      outcome(make({ token: "t", allowRemote: true, onlyLoopbackClients: false }), "10.0.0.7", "t"),
    ).toBe("ok")
  })

  it("is absent without a token", () => {
    expect(make({ token: "", allowRemote: false, onlyLoopbackClients: true }).enabled).toBe(false)
  })
})
