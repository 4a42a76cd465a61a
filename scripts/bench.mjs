#!/usr/bin/env node
// `npm run bench`: installs what the benchmark drives (wrk, nats-server) when it can, builds, runs.
import { spawnSync } from "node:child_process"

const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0
const missing = ["wrk", "nats-server", "curl"].filter((c) => !has(c))
if (missing.length > 0) {
  if (process.getuid?.() !== 0 || !has("apt-get")) {
    console.error(
      `the benchmark needs ${missing.join(" and ")}: install them (Debian: apt-get install -y ${missing.join(" ")})`,
    )
    process.exit(1)
  }
  console.log(`installing ${missing.join(", ")} from Debian's packages`)
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "-qq", ...missing], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    })
  if (install().status !== 0) {
    spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" })
    if (install().status !== 0) process.exit(1)
  }
}
const build = spawnSync("npm", ["run", "build", "--silent"], { stdio: "inherit" })
if (build.status !== 0) process.exit(build.status ?? 1)
const bench = spawnSync(process.execPath, ["dist/bench/main.js"], { stdio: "inherit" })
process.exit(bench.status ?? 1)
