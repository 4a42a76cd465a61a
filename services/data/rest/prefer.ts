// The Prefer header (RFC 7240) as PostgREST reads it: the first value of each preference wins.

export interface Preferences {
  readonly return: "representation" | "minimal" | "headers-only" | undefined
  readonly count: "exact" | "planned" | "estimated" | undefined
  readonly resolution: "merge-duplicates" | "ignore-duplicates" | undefined
  readonly missing: "default" | "null" | undefined
  readonly handling: "strict" | "lenient" | undefined
  readonly tx: "commit" | "rollback" | undefined
  readonly maxAffected: number | undefined
  /** Preferences PostgREST does not know, refused under `handling=strict`. */
  readonly invalid: ReadonlyArray<string>
}

const known = {
  return: ["representation", "minimal", "headers-only"],
  count: ["exact", "planned", "estimated"],
  resolution: ["merge-duplicates", "ignore-duplicates"],
  missing: ["default", "null"],
  handling: ["strict", "lenient"],
  tx: ["commit", "rollback"],
} as const

type Known = keyof typeof known

const first = <K extends Known>(
  prefs: ReadonlyArray<string>,
  key: K,
): (typeof known)[K][number] | undefined => {
  for (const p of prefs) {
    const value = p.startsWith(`${key}=`) ? p.slice(key.length + 1) : undefined
    if (value !== undefined && (known[key] as ReadonlyArray<string>).includes(value)) {
      return value as (typeof known)[K][number]
    }
  }
  return undefined
}

const isKnown = (p: string) =>
  (Object.keys(known) as Array<Known>).some((key) =>
    (known[key] as ReadonlyArray<string>).some((v) => p === `${key}=${v}`),
  ) || /^max-affected=\d+$/.test(p)

export const parsePrefer = (header: string | undefined): Preferences => {
  const prefs = (header ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
  const maxAffected = prefs.find((p) => /^max-affected=\d+$/.test(p))
  return {
    return: first(prefs, "return"),
    count: first(prefs, "count"),
    resolution: first(prefs, "resolution"),
    missing: first(prefs, "missing"),
    handling: first(prefs, "handling"),
    tx: first(prefs, "tx"),
    maxAffected: maxAffected === undefined ? undefined : Number(maxAffected.slice("max-affected=".length)),
    invalid: prefs.filter((p) => !isKnown(p)),
  }
}

/** The `Preference-Applied` value for the preferences a response honoured, in PostgREST's order. */
export const applied = (
  prefs: Preferences,
  honoured: { readonly resolution?: boolean; readonly missing?: boolean; readonly return?: boolean },
): string | undefined => {
  const values = [
    honoured.resolution && prefs.resolution !== undefined ? `resolution=${prefs.resolution}` : undefined,
    honoured.missing && prefs.missing !== undefined ? `missing=${prefs.missing}` : undefined,
    honoured.return && prefs.return !== undefined ? `return=${prefs.return}` : undefined,
    prefs.count !== undefined ? `count=${prefs.count}` : undefined,
    prefs.handling !== undefined ? `handling=${prefs.handling}` : undefined,
    prefs.handling === "strict" && prefs.maxAffected !== undefined
      ? `max-affected=${prefs.maxAffected}`
      : undefined,
  ].filter((v) => v !== undefined)
  return values.length === 0 ? undefined : values.join(", ")
}

/** Whether `rows` breaks `max-affected`, which only binds under `handling=strict`. */
export const exceedsMaxAffected = (prefs: Preferences, rows: number) =>
  prefs.handling === "strict" && prefs.maxAffected !== undefined && rows > prefs.maxAffected
