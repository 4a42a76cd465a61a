// The README is where users learn the configuration: every key Reactor reads must be there.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { sections } from "../platform/config/keys.ts"
import { packageRoot } from "../platform/paths.ts"

describe("the README", () => {
  const readme = readFileSync(join(packageRoot, "README.md"), "utf8")

  it("documents every configuration key", () => {
    const keys = Object.entries(sections).flatMap(([section, keys]) =>
      Object.keys(keys).map((key) => `${section}.${key}`),
    )
    const documented = (key: string) =>
      new RegExp(`^\\|\\s*\`${key.replace(".", "\\.")}\`\\s*\\|`, "m").test(readme)
    expect(keys.filter((key) => !documented(key))).toEqual([])
  })

  it("gives the two set-up commands, and CI runs the test one", () => {
    expect(readme).toContain("npm install && npm start")
    expect(readme).toContain("npm install && npm test")
    expect(readFileSync(join(packageRoot, ".ci", "run"), "utf8")).toContain("npm install && npm test")
  })
})
