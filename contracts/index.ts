// The shared vocabulary of Reactor: every message that crosses the bus, by capability.
import * as Auth from "./auth.ts"
import * as Codec from "./avro/Codec.ts"
import * as Contract from "./Contract.ts"
import * as Data from "./data.ts"
import * as Errors from "./errors.ts"
import * as Shared from "./shared.ts"
import * as Storage from "./storage.ts"
import * as System from "./system.ts"

export { Auth, Codec, Contract, Data, Errors, Shared, Storage, System }

/** Every capability's catalogue; the Avro test and the error mapping walk this list. */
export const catalogues = [System.catalogue, Auth.catalogue, Data.catalogue, Storage.catalogue] as const

/** Every error that may cross the bus, as a union of their decoded types. */
export type ContractError =
  | (typeof Errors.commonErrors)[number]["Type"]
  | (typeof catalogues)[number]["errors"][number]["Type"]

export type ContractErrorTag = ContractError["_tag"]
