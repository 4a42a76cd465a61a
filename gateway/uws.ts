// Loads uWebSockets.js's native binary. The package silently falls back to a slow imitation when
// its binary cannot load (another Node major, say); Reactor refuses that unless told to accept it.
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Data } from "effect"

export type Uws = typeof import("@trufflesuite/uws-js-unofficial")

export class NativeUwsUnavailable extends Data.TaggedError("NativeUwsUnavailable")<{
  readonly message: string
}> {}

const require = createRequire(import.meta.url)

/** `abi` is Node's module ABI; a test passes one no binary exists for. */
export const loadUws = (allowSlow: boolean, abi: string = process.versions.modules): Uws => {
  const root = dirname(require.resolve("@trufflesuite/uws-js-unofficial/package.json"))
  const binary = join(root, "binaries", `uws_${process.platform}_${process.arch}_${abi}.node`)
  try {
    return require(binary) as Uws
  } catch (error) {
    if (allowSlow) {
      return require(join(root, "dist", "index.js")) as Uws
    }
    throw new NativeUwsUnavailable({
      message:
        `uWebSockets.js has no native binary for Node ${process.version} on ${process.platform}-${process.arch} ` +
        `(${(error as Error).message.split("\n")[0]}). Run Reactor on Node 20, or set server.allow_slow_uws = true ` +
        "(REACTOR_SERVER_ALLOW_SLOW_UWS=true) to accept the much slower fallback.",
    })
  }
}
