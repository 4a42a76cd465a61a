// No generator function is made per call. `(x) => Effect.gen(function* () {…})` evaluates a new
// generator function each time it runs, and V8 gives every generator closure its own prototype
// and initial map. The map lives in old space and points back at the closure, so each scavenge
// keeps whatever the closure reaches (a request's fibers, its parsed query…) alive and promotes
// it: under primary-key GETs that was 2.5–3.5 MB promoted per scavenge and a fifth of the gateway
// thread in GC. A body written once (`Effect.fnUntraced(function* (x) {…})` at module or layer
// level) is one closure for all calls. So: a generator function may sit inside other generator
// functions (a layer's body runs once), never inside an ordinary function or arrow — unless that
// function runs once (a factory called at start): a comment saying "made once" on the line above
// the generator, or on its line, says so.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { parseAst } from "rolldown/parseAst"
import { describe, expect, it } from "vitest"
import { packageRoot } from "../platform/paths.ts"

interface Node {
  readonly type: string
  readonly start: number
  readonly generator?: boolean
  readonly [key: string]: unknown
}

const isFunction = (node: Node) =>
  node.type === "ArrowFunctionExpression" ||
  node.type === "FunctionExpression" ||
  node.type === "FunctionDeclaration"

const isNode = (value: unknown): value is Node =>
  typeof value === "object" && value !== null && typeof (value as Node).type === "string"

/** Lines of the generator functions in `text` that an ordinary function or arrow encloses. */
const generatorsMadePerCall = (text: string): Array<number> => {
  const found: Array<number> = []
  const lines = text.split("\n")
  const visit = (node: Node, insideOrdinary: boolean) => {
    const fn = isFunction(node)
    if (fn && node.generator === true && insideOrdinary) {
      const line = text.slice(0, node.start).split("\n").length
      const marked = lines.slice(Math.max(0, line - 2), line).some((l) => /made once/i.test(l))
      if (!marked) found.push(line)
    }
    const inside = insideOrdinary || (fn && node.generator !== true)
    for (const key in node) {
      const value = node[key]
      if (Array.isArray(value)) {
        for (const child of value) if (isNode(child)) visit(child, inside)
      } else if (isNode(value)) visit(value, inside)
    }
  }
  visit(parseAst(text, { lang: "ts", sourceType: "module" }) as unknown as Node, false)
  return found
}

const sources = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === "node_modules" || name === "test" ? [] : sources(path)
    return path.endsWith(".ts") && !path.endsWith(".test.ts") && !path.endsWith(".d.ts") ? [path] : []
  })

describe("generator functions", () => {
  it("are never made per call in the source tree", () => {
    const files = ["contracts", "bus", "platform", "gateway", "runtime", "services"].flatMap((d) =>
      sources(join(packageRoot, d)),
    )
    expect(files.length).toBeGreaterThan(40)
    const offending = files.flatMap((file) =>
      generatorsMadePerCall(readFileSync(file, "utf8")).map(
        (line) => `${relative(packageRoot, file)}:${line}`,
      ),
    )
    expect(offending).toEqual([])
  })

  it("are caught inside an arrow, a function or a callback, and allowed once at module or layer level", () => {
    const perCall = [
      "const f = (x: number) => Effect.gen(function* () { return x })",
      "function f(x: number) { return Effect.gen(function* () { return x }) }",
      "const layer = Effect.gen(function* () { return handler(C, (p) => Effect.gen(function* () { return p })) })",
    ]
    for (const text of perCall) expect(generatorsMadePerCall(text)).toEqual([1])
    const once = [
      "const f = Effect.fnUntraced(function* (x: number) { return x })",
      "const layer = Effect.gen(function* () { const f = Effect.fnUntraced(function* (p) { return p }); return f })",
      "export const main = Effect.gen(function* () { yield* Effect.gen(function* () { return 1 }) })",
      "const make = (o: O) => ({\n  // Made once per make, not per call.\n  run: Effect.fnUntraced(function* () { return o }),\n})",
    ]
    for (const text of once) expect(generatorsMadePerCall(text)).toEqual([])
  })
})
