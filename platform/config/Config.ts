// Loads Reactor.toml, applies REACTOR_<SECTION>_<KEY> overrides and checks every key, reporting
// each bad value with its key, where it came from, and what was expected.
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { Context, Data, Effect, Exit, Layer, Redacted, Schema } from "effect"
import { parse as parseToml } from "smol-toml"
import { type Key, type SectionName, type Sections, sections } from "./keys.ts"

type ValueOf<K> =
  K extends Key<infer A> ? (K["kind"] extends "secret" ? Redacted.Redacted<string> : A) : never

export type Config = {
  readonly [S in SectionName]: { readonly [K in keyof Sections[S]]: ValueOf<Sections[S][K]> }
}

export class ReactorConfig extends Context.Service<ReactorConfig, Config>()("reactor/Config") {}

export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly problems: ReadonlyArray<string>
}> {
  override get message() {
    return `Invalid configuration:\n${this.problems.map((p) => `  - ${p}`).join("\n")}`
  }
}

export interface LoadOptions {
  /** Path of the TOML file. Default: $REACTOR_CONFIG, else ./Reactor.toml when it exists. */
  readonly file?: string
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
}

export const envName = (section: string, key: string) =>
  `REACTOR_${section.toUpperCase()}_${key.toUpperCase()}`

/** Environment variables are text: read them as the key's kind. */
const fromEnv = (kind: Key<unknown>["kind"], text: string): unknown => {
  switch (kind) {
    case "integer":
      return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text
    case "boolean": {
      const t = text.trim().toLowerCase()
      return ["true", "1", "yes", "on"].includes(t)
        ? true
        : ["false", "0", "no", "off"].includes(t)
          ? false
          : text
    }
    case "list":
      if (text.trim().startsWith("[")) {
        try {
          return JSON.parse(text)
        } catch {
          return text
        }
      }
      return text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
    default:
      return text
  }
}

const describe = (kind: Key<unknown>["kind"], raw: unknown) =>
  kind === "secret" ? `a value of ${String(raw).length} characters` : JSON.stringify(raw)

export const load = (options: LoadOptions = {}): Effect.Effect<Config, ConfigError> =>
  Effect.suspend(() => {
    const env = options.env ?? process.env
    const cwd = options.cwd ?? process.cwd()
    const problems: Array<string> = []
    const explicit = options.file ?? env["REACTOR_CONFIG"]
    const path = resolve(cwd, explicit ?? "Reactor.toml")
    let file: Record<string, unknown> = {}
    if (explicit !== undefined || existsSync(path)) {
      try {
        file = parseToml(readFileSync(path, "utf8")) as Record<string, unknown>
      } catch (error) {
        problems.push(`${path}: ${(error as Error).message.split("\n")[0]}`)
      }
    }
    for (const [section, table] of Object.entries(file)) {
      if (!(section in sections)) {
        problems.push(`${path}: unknown section [${section}] (known: ${Object.keys(sections).join(", ")})`)
        continue
      }
      if (typeof table !== "object" || table === null || Array.isArray(table)) {
        problems.push(`${path}: [${section}] must be a table`)
        continue
      }
      for (const key of Object.keys(table)) {
        if (!(key in sections[section as SectionName]))
          problems.push(`${path}: unknown key ${section}.${key}`)
      }
    }
    const config: Record<string, Record<string, unknown>> = {}
    for (const [section, keys] of Object.entries(sections)) {
      const values: Record<string, unknown> = {}
      const table = (file[section] ?? {}) as Record<string, unknown>
      for (const [name, spec] of Object.entries(keys) as Array<[string, Key<unknown>]>) {
        const variable = envName(section, name)
        const fromEnvironment = env[variable]
        const raw =
          fromEnvironment !== undefined ? fromEnv(spec.kind, fromEnvironment) : (table[name] ?? spec.default)
        const source = fromEnvironment !== undefined ? variable : name in table ? path : "default"
        const decoded = Schema.decodeUnknownExit(spec.schema)(raw)
        if (Exit.isFailure(decoded)) {
          problems.push(
            `${section}.${name} (from ${source}): expected ${spec.expected}, got ${describe(spec.kind, raw)}`,
          )
          continue
        }
        values[name] =
          spec.kind === "secret"
            ? Redacted.make(decoded.value as string, { label: `${section}.${name}` })
            : decoded.value
      }
      config[section] = values
    }
    return problems.length > 0
      ? Effect.fail(new ConfigError({ problems }))
      : Effect.succeed(config as unknown as Config)
  })

export const layer = (options: LoadOptions = {}) => Layer.effect(ReactorConfig, load(options))

/** server.bind as host and port; an IPv6 host loses its brackets. */
export const bindAddress = (config: Config): { readonly host: string; readonly port: number } => {
  const bind = config.server.bind
  const at = bind.lastIndexOf(":")
  return { host: bind.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(bind.slice(at + 1)) }
}
