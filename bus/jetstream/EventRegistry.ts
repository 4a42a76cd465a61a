// The event contracts this process can decode, by type: every catalogue's, and any other it has
// published or subscribed to (a test's own events, say). A subscriber resolves a message's writer
// version against the contract found here.
import type { Event } from "../../contracts/Contract.ts"
import { catalogues } from "../../contracts/index.ts"

export class EventRegistry {
  readonly #byType = new Map<string, Event>(
    catalogues.flatMap((catalogue) => catalogue.events.map((event) => [event.type, event] as const)),
  )

  get(type: string): Event | undefined {
    return this.#byType.get(type)
  }

  /** Learns a contract, unless the type is known already: the catalogue's version wins. */
  add(contract: Event): void {
    if (!this.#byType.has(contract.type)) this.#byType.set(contract.type, contract)
  }
}
