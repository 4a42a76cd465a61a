// Every Storage API route Reactor serves under /storage/v1.
import { bucketRoutes } from "./buckets.ts"
import { objectRoutes } from "./objects.ts"

export const storageRoutes = (timeout: number) => [...bucketRoutes(timeout), ...objectRoutes(timeout)]
