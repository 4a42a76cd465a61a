// The audiences of one table, filed by the slots the authorizer's index gives them, so that a change
// is put only to the audiences that may see it. With an audience per user (`user_id = auth.uid()`)
// asking every audience would cost each change time in proportion to the subscribers.
import type { Claims } from "../../platform/jwt/Jwt.ts"
import type { AudienceIndex } from "./ChangeAuthorizer.ts"
import { getOrSet } from "./getOrSet.ts"
import type { RowChange } from "./RowChange.ts"

export class AudienceTable<A extends { readonly claims: Claims }> {
  /** Every audience, with the slots it is filed under (undefined: asked about every change). */
  private readonly filed = new Map<A, ReadonlyArray<string> | undefined>()
  private readonly bySlot = new Map<string, Set<A>>()
  private readonly always = new Set<A>()
  /** The index the audiences are filed by; another one (the policies changed) files them again. */
  private index: AudienceIndex | undefined

  constructor(
    readonly schema: string,
    readonly table: string,
  ) {}

  get size(): number {
    return this.filed.size
  }

  add(audience: A): void {
    this.file(audience)
  }

  remove(audience: A): void {
    this.unfile(audience)
    this.filed.delete(audience)
  }

  /** The audiences that may see `change` (a superset: each is still asked), by `index`. */
  candidates(change: RowChange, index: AudienceIndex | undefined): Iterable<A> {
    if (index !== this.index) {
      this.index = index
      for (const audience of [...this.filed.keys()]) {
        this.unfile(audience)
        this.file(audience)
      }
    }
    const slots = index?.slotsFor(change)
    if (slots === undefined) return this.filed.keys()
    const found = new Set(this.always)
    for (const slot of slots) for (const audience of this.bySlot.get(slot) ?? []) found.add(audience)
    return found
  }

  private file(audience: A): void {
    const slots = this.index?.slotsOf(this.schema, this.table, audience.claims)
    this.filed.set(audience, slots)
    if (slots === undefined) this.always.add(audience)
    else for (const slot of slots) getOrSet(this.bySlot, slot, () => new Set<A>()).add(audience)
  }

  private unfile(audience: A): void {
    const slots = this.filed.get(audience)
    if (slots === undefined) this.always.delete(audience)
    else
      for (const slot of slots) {
        const audiences = this.bySlot.get(slot)
        audiences?.delete(audience)
        if (audiences?.size === 0) this.bySlot.delete(slot)
      }
  }
}
