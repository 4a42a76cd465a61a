import * as MemoryBus from "./MemoryBus.ts"
import { busContract } from "./test/busContract.ts"

busContract("MemoryBus", (options) => MemoryBus.make({ ...options, ackWait: 1_000 }))
