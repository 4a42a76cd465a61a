// fsync for files and directories: a rename is only durable once the directory holding the new
// name is synced, and so is a directory that mkdir just made.
import { mkdir, open } from "node:fs/promises"
import { dirname } from "node:path"

export const syncDir = async (path: string): Promise<void> => {
  const handle = await open(path, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** mkdir -p whose new directories survive a crash. `dir` itself is left to the caller's syncDir. */
export const makeDirs = async (dir: string): Promise<void> => {
  const first = await mkdir(dir, { recursive: true })
  if (first === undefined) return
  const made = [dir]
  for (let d = dir; d !== first && dirname(d) !== d; ) {
    d = dirname(d)
    made.push(d)
  }
  await Promise.all([dirname(first), ...made.slice(1)].map(syncDir))
}

const missingCodes = new Set(["ENOENT", "ENOTDIR", "EISDIR"])

/** A file that is not there (or is a directory where a file was expected). */
const isMissing = (error: unknown): boolean =>
  missingCodes.has((error as { code?: unknown } | null)?.code as string)

/** For `.catch`: undefined when the file is missing, the error otherwise. */
export const orMissing = (error: unknown): undefined => {
  if (isMissing(error)) return undefined
  throw error
}
