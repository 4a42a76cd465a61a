// Where Reactor's own files are, whether it runs from source (tests) or from dist/ (the CLI).
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const findRoot = (from: string): string => {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "migrations"))) return dir
    if (dirname(dir) === dir) throw new Error(`cannot find Reactor's package root above ${from}`)
  }
}

export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)))

export const platformMigrations = join(packageRoot, "migrations")
