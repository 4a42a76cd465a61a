#!/usr/bin/env node
// The `reactor` command. Reactor is TypeScript compiled and bundled into dist/reactor/ (npm install
// builds it; see scripts/build.mjs).
import { existsSync } from "node:fs"

const entry = new URL("../dist/reactor/reactor.js", import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write("reactor: not built yet — run `npm run build` (npm install runs it too)\n")
  process.exit(1)
}
await import(entry.href)
