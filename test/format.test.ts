// One formatter and one linter for the whole tree: code Biome would change fails the suite.
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { packageRoot } from "../platform/paths.ts"

describe("the source tree", () => {
  it("is formatted and lint-clean by Biome", () => {
    const biome = spawnSync(join(packageRoot, "node_modules", ".bin", "biome"), ["check", "."], {
      cwd: packageRoot,
      encoding: "utf8",
    })
    expect(biome.stdout + biome.stderr).toContain("No fixes applied")
    expect(biome.status).toBe(0)
  })
})
