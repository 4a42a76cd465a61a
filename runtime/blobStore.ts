// The blob store the config names: a folder under data_dir, or an S3-compatible server. The gateway
// streams bytes to and from it; the storage worker removes what nothing points at any more.
import { resolve } from "node:path"
import { Effect, Layer, Redacted } from "effect"
import * as DiskBlobStore from "../platform/blobs/DiskBlobStore.ts"
import { ConfigError, ReactorConfig } from "../platform/config/Config.ts"

export const layer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ReactorConfig
    const storage = config.storage
    if (storage.backend === "disk") return DiskBlobStore.layer(resolve(config.server.data_dir, "storage"))
    if (storage.s3_endpoint === "") {
      return yield* new ConfigError({
        problems: [
          "storage.s3_endpoint: expected the S3 server's URL when storage.backend is s3, got nothing",
        ],
      })
    }
    const endpoint = new URL(storage.s3_endpoint)
    // Loaded only when used: the S3 client takes a few hundred milliseconds to import, which a
    // size-1 start on disk should not pay.
    const S3BlobStore = yield* Effect.promise(() => import("../platform/blobs/S3BlobStore.ts"))
    return S3BlobStore.layer({
      endPoint: endpoint.hostname,
      port: Number(endpoint.port || (endpoint.protocol === "https:" ? 443 : 80)),
      useSSL: endpoint.protocol === "https:",
      accessKey: storage.s3_access_key,
      secretKey: Redacted.value(storage.s3_secret_key),
      region: storage.s3_region,
      bucket: storage.s3_bucket,
      pathStyle: true,
    })
  }),
)
