// V8 sizes the old generation's next limit from how fast the program promotes objects into it: a
// server whose long-lived heap is small and grows slowly gets a limit just 1.1× its live size.
// Streaming through Node allocates Buffers at a high rate, though, whose memory lives outside that
// heap, and V8 still collects on their account: during an S3 download through the gateway, whose
// old generation held ~20 MB, V8 ran a major collection every ~50 ms (15 per 256 MiB), about a
// third of the process's CPU (bench/results/2026-12-08a-adhoc.md). A fixed factor of 4, the most
// V8 ever picks by itself, leaves room for a stream's buffers between collections; the live heap
// here is tens of MB, so the most this costs is a few times that.
import { setFlagsFromString } from "node:v8"

/** The V8 flag: each major collection sets the next limit at 4× what survived it. */
export const heapGrowthFlag = "--heap-growing-percent=300"

/**
 * Read by V8 at every major collection, so setting it once the process runs is enough. An
 * operator who started Node with a growth of their own keeps it.
 */
export const growHeapFourfold = (
  execArgv: ReadonlyArray<string> = process.execArgv,
  setFlags: (flags: string) => void = setFlagsFromString,
) => {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return
  setFlags(heapGrowthFlag)
}
