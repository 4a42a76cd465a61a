// One committed row change as the hub receives it, in log order.
export interface RowChange {
  /** Opaque log position; positions increase in delivery order. */
  readonly position: string
  readonly schema: string
  readonly table: string
  readonly type: "INSERT" | "UPDATE" | "DELETE"
  readonly commit_timestamp: string
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
  /** null for DELETE. */
  readonly record: Record<string, unknown> | null
  /** null for INSERT; for UPDATE and DELETE at least the primary key. */
  readonly old_record: Record<string, unknown> | null
}
