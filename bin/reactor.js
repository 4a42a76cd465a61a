#!/usr/bin/env node
// The `reactor` command. Reactor is TypeScript compiled to dist/ (npm install builds it).
import { existsSync } from "node:fs"

const entry = new URL("../dist/runtime/cli.js", import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write("reactor: not built yet — run `npm run build` (npm install runs it too)\n")
  process.exit(1)
}
await import(entry.href)
