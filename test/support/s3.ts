// The S3 server a test file runs against: s3rver (a dev dependency, in a child process) by default;
// with REACTOR_TEST_SERVICES=containers, MinIO from testcontainers (image REACTOR_TEST_MINIO_IMAGE),
// with the same interface. No registry this project's machines reach serves a MinIO image, and
// Debian has no MinIO package to build one from (scripts/test-images.sh), so MinIO runs where an
// engine has, or can pull, the image.
import { randomBytes } from "node:crypto"
import { type S3Server, startS3rver } from "../../platform/blobs/LocalS3.ts"
import { containerHost, containerRuntime, startContainer, useContainers } from "./nats.ts"

/** A release testcontainers' own MinIO modules use; MinIO publishes no newer community images. */
const defaultMinioImage = "minio/minio:RELEASE.2025-02-28T09-55-16Z"

export const startMinio = async (): Promise<S3Server> => {
  const { GenericContainer, Wait } = await containerRuntime()
  const image = process.env["REACTOR_TEST_MINIO_IMAGE"] || defaultMinioImage
  const accessKey = "reactor-test"
  const secretKey = randomBytes(18).toString("base64url")
  const container = await startContainer(
    new GenericContainer(image)
      .withEnvironment({ MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey })
      .withCommand(["server", "/data"])
      .withExposedPorts(9000)
      .withLabels({ "reactor.test": "minio" })
      .withWaitStrategy(Wait.forHttp("/minio/health/live", 9000))
      .withStartupTimeout(120_000),
    image,
    "REACTOR_TEST_MINIO_IMAGE",
    "load a MinIO image into the engine (docker load) and set REACTOR_TEST_MINIO_IMAGE to it: Debian has no MinIO to build one from.",
  )
  return {
    name: "MinIO",
    host: containerHost(container),
    port: container.getMappedPort(9000),
    accessKey,
    secretKey,
    stop: () => container.stop().then(() => undefined),
  }
}

export const startS3 = (): Promise<S3Server> => (useContainers() ? startMinio() : startS3rver())
