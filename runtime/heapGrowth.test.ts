import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { growHeapFourfold, heapGrowthFlag } from "./heapGrowth.ts"

const run = promisify(execFile)

/**
 * A process that holds a few MB and then collects every 250 ms while allocating almost nothing,
 * as a server streaming Buffers does: V8 prints each limit it sets (--trace-gc-verbose) with its
 * growth factor, "(4.0)". Left to itself it lowers the factor as the old generation stops growing.
 */
const collectingProcess = (prelude: string) => `
${prelude}
const kept = []
for (let i = 0; i < 100000; i++) kept.push({ i, text: "x" + i })
let collections = 0
const timer = setInterval(() => {
  gc()
  if (++collections === 8) clearInterval(timer)
}, 250)`

const growthFactors = async (prelude: string) => {
  const { stdout } = await run(process.execPath, [
    "--expose-gc",
    "--trace-gc-verbose",
    "-e",
    collectingProcess(prelude),
  ])
  return [...stdout.matchAll(/\[HeapController\] Limit: .*\((\d+\.\d+)\)/g)].map((match) => Number(match[1]))
}

describe("heap growth", () => {
  it("keeps V8's old-generation limit at 4× what survived each collection, set while running", async () => {
    const factors = await growthFactors(
      `require("node:v8").setFlagsFromString(${JSON.stringify(heapGrowthFlag)})`,
    )
    expect(factors.length).toBeGreaterThanOrEqual(8)
    expect(new Set(factors)).toEqual(new Set([4]))
  }, 60_000)

  it("is needed: without it V8 lowers the factor once the old generation stops growing", async () => {
    const factors = await growthFactors("")
    expect(factors.length).toBeGreaterThanOrEqual(8)
    expect(Math.min(...factors)).toBeLessThan(2)
  }, 60_000)

  it("leaves a growth the operator gave Node alone", () => {
    const set: Array<string> = []
    growHeapFourfold(["--heap-growing-percent=50"], (flags) => set.push(flags))
    growHeapFourfold(["--heap_growing_percent=50", "--enable-source-maps"], (flags) => set.push(flags))
    expect(set).toEqual([])
    growHeapFourfold(["--enable-source-maps"], (flags) => set.push(flags))
    expect(set).toEqual([heapGrowthFlag])
  })
})
