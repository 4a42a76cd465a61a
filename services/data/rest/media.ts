// Accept negotiation: which body shape the client asked for, among those PostgREST serves.

export interface Media {
  readonly shape: "array" | "object" | "csv"
  /** `nulls=stripped` drops null-valued keys. */
  readonly stripNulls: boolean
  readonly contentType: string
}

interface Range {
  readonly type: string
  readonly params: Readonly<Record<string, string>>
  readonly q: number
}

const parseAccept = (header: string): ReadonlyArray<Range> =>
  header
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const [type, ...rest] = part.split(";").map((s) => s.trim())
      const params: Record<string, string> = {}
      for (const p of rest) {
        const eq = p.indexOf("=")
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim()
      }
      const q = params["q"] === undefined ? 1 : Number(params["q"])
      return { type: (type ?? "").toLowerCase(), params, q: Number.isFinite(q) ? q : 0 }
    })

const json = (stripNulls: boolean): Media => ({
  shape: "array",
  stripNulls,
  contentType: stripNulls
    ? "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"
    : "application/json; charset=utf-8",
})

const supported = (range: Range): Media | undefined => {
  const stripped = range.params["nulls"] === "stripped"
  switch (range.type) {
    case "*/*":
    case "application/*":
    case "application/json":
      return json(false)
    case "application/vnd.pgrst.array+json":
    case "application/vnd.pgrst.array":
      return json(stripped)
    case "application/vnd.pgrst.object+json":
    case "application/vnd.pgrst.object":
      return {
        shape: "object",
        stripNulls: stripped,
        contentType: stripped
          ? "application/vnd.pgrst.object+json; nulls=stripped; charset=utf-8"
          : "application/vnd.pgrst.object+json; charset=utf-8",
      }
    case "text/csv":
      return { shape: "csv", stripNulls: false, contentType: "text/csv; charset=utf-8" }
    default:
      return undefined
  }
}

/** The media to answer with, or the requested types when none is served (PGRST107). */
export const negotiate = (accept: string | undefined): Media | ReadonlyArray<string> => {
  if (accept === undefined || accept.trim() === "") return json(false)
  const ranges = [...parseAccept(accept)].filter((r) => r.q > 0).sort((a, b) => b.q - a.q)
  for (const range of ranges) {
    const media = supported(range)
    if (media !== undefined) return media
  }
  return parseAccept(accept).map((r) => r.type)
}
