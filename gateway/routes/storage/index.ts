// Every Storage API route Reactor serves under /storage/v1.
import { bucketRoutes } from "./buckets.ts"
import { objectRoutes } from "./objects.ts"
import { signedRoutes } from "./signed.ts"

// Signed URLs' paths first: /object/sign/… would otherwise read as a bucket named "sign".
export const storageRoutes = (timeout: number) => [
  ...bucketRoutes(timeout),
  ...signedRoutes(timeout),
  ...objectRoutes(timeout),
]

export { layer as signedUrlsLayer, SignedUrls } from "./SignedUrls.ts"
