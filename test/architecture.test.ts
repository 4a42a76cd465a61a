// Dependencies point one way: contracts ← bus ← platform ← services/*, gateway ← runtime.
// This reads every import in the source and fails on one that points the wrong way.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { packageRoot } from "../platform/paths.ts"

type Area = "contracts" | "bus" | "platform" | "gateway" | "runtime" | `services/${string}`

/** What each area may import, besides itself and npm packages. */
const allowed = (from: Area, to: Area): boolean => {
  if (from === to) return true
  switch (from) {
    case "contracts":
      return false
    case "bus":
      return to === "contracts"
    case "platform":
      return to === "contracts" || to === "bus"
    case "gateway":
      return to === "contracts" || to === "bus" || to === "platform"
    case "runtime":
      return true
    default:
      // A service: never another service, never the gateway or the runtime.
      return to === "contracts" || to === "bus" || to === "platform"
  }
}

const areaOf = (file: string): Area | undefined => {
  const path = relative(packageRoot, file).split("/")
  if (path[0] === "services" && path[1] !== undefined) return `services/${path[1]}`
  return ["contracts", "bus", "platform", "gateway", "runtime"].includes(path[0]!)
    ? (path[0] as Area)
    : undefined
}

const sources = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sources(path)
    return path.endsWith(".ts") && !path.endsWith(".test.ts") && !path.includes("/test/") ? [path] : []
  })

const importsOf = (file: string): Array<string> =>
  [
    ...readFileSync(file, "utf8").matchAll(
      /(?:import|export)[^"'`]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g,
    ),
  ]
    .map((m) => m[1] ?? m[2]!)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => resolve(dirname(file), specifier))

const violations = (files: ReadonlyArray<string>) =>
  files.flatMap((file) => {
    const from = areaOf(file)
    if (from === undefined) return []
    return importsOf(file).flatMap((target) => {
      const to = areaOf(target)
      return to !== undefined && !allowed(from, to)
        ? [`${relative(packageRoot, file)} imports ${relative(packageRoot, target)}`]
        : []
    })
  })

describe("the dependency rule", () => {
  const files = ["contracts", "bus", "platform", "gateway", "runtime", "services"].flatMap((d) =>
    sources(join(packageRoot, d)),
  )

  it("holds across the source tree", () => {
    expect(files.length).toBeGreaterThan(40)
    expect(violations(files)).toEqual([])
  })

  it("catches a service importing another service, the gateway, or contracts importing anything of ours", () => {
    const imports = (from: string, to: string) =>
      allowed(areaOf(join(packageRoot, from))!, areaOf(join(packageRoot, to))!)
    expect(imports("services/auth/x.ts", "services/storage/y.ts")).toBe(false)
    expect(imports("services/auth/x.ts", "gateway/Server.ts")).toBe(false)
    expect(imports("contracts/auth.ts", "bus/Bus.ts")).toBe(false)
    expect(imports("bus/Bus.ts", "platform/config/Config.ts")).toBe(false)
    expect(imports("gateway/Server.ts", "services/auth/Worker.ts")).toBe(false)
    expect(imports("services/auth/x.ts", "platform/postgres/Postgres.ts")).toBe(true)
  })
})
