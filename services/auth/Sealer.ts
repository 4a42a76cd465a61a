// Replies kept in the command log hold tokens: they are stored sealed (AES-256-GCM under a key
// derived from the project secret), so reading the database does not hand out sessions.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto"
import type { Sealer } from "../../platform/eventlog/CommandTransaction.ts"

export const sealer = (secret: string): Sealer => {
  const key = Buffer.from(hkdfSync("sha256", secret, "reactor", "command-log", 32))
  return {
    seal: (value) => {
      const iv = randomBytes(12)
      const cipher = createCipheriv("aes-256-gcm", key, iv)
      const body = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()])
      return { sealed: Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64") }
    },
    open: (stored) => {
      const bytes = Buffer.from((stored as { sealed: string }).sealed, "base64")
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12))
      decipher.setAuthTag(bytes.subarray(12, 28))
      return JSON.parse(
        Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8"),
      )
    },
  }
}
