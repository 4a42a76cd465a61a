#!/usr/bin/env node
// `npm test`: makes sure the servers the suite starts exist (nats-server; Postgres comes from npm),
// runs every test, and ends with one line: "N passed, N failed".
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

const ensureNats = () => {
  if (has("nats-server")) return
  const root = process.getuid?.() === 0
  if (root && has("apt-get")) {
    console.log("nats-server is missing: installing Debian's package (apt-get install -y nats-server)")
    const install = () =>
      spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], {
        stdio: "inherit",
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      })
    if (install().status !== 0) {
      spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" })
      if (install().status !== 0) process.exit(1)
    }
    return
  }
  console.error(
    "nats-server is not installed and this script cannot install it (it needs root and apt-get).\n" +
      "Install it (Debian: sudo apt-get install -y nats-server; elsewhere: https://github.com/nats-io/nats-server/releases) and run npm test again.",
  )
  process.exit(1)
}

ensureNats()

const dir = mkdtempSync(join(tmpdir(), "reactor-test-report-"))
const report = join(dir, "report.json")
const vitest = spawnSync(
  process.execPath,
  [
    "node_modules/vitest/vitest.mjs",
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: "inherit" },
)
let passed = 0
let failed = 0
try {
  const results = JSON.parse(readFileSync(report, "utf8"))
  passed = results.numPassedTests
  failed =
    results.numFailedTests +
    (results.numFailedTestSuites > 0 && results.numFailedTests === 0 ? results.numFailedTestSuites : 0)
} catch {
  failed = Math.max(1, failed)
}
rmSync(dir, { recursive: true, force: true })
if (vitest.status !== 0 && failed === 0) failed = 1
console.log(`\n${passed} passed, ${failed} failed`)
// A failure counted is a failed run, whatever exit code vitest's process ended with.
process.exit(failed > 0 ? 1 : (vitest.status ?? 1))
