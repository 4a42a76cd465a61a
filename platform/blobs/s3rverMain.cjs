// s3rver as tests and the benchmark run it (LocalS3.ts). Its FilesystemStore answers a PUT before
// the bytes are on disk, writes them over the object in place and rewrites metadata files in place,
// so a request right after a PUT can read an empty object or half a JSON file (a 500). Here each
// file is written beside the tree and renamed into place once closed, as S3 shows only whole objects;
// and deletes that run side by side no longer fail each other.
const { randomUUID, createHash } = require("node:crypto")
const { mkdir, rename, rm, writeFile } = require("node:fs/promises")
const { createWriteStream } = require("node:fs")
const { dirname, join } = require("node:path")
const { Readable, Transform } = require("node:stream")
const { pipeline } = require("node:stream/promises")
const FilesystemStore = require("s3rver/lib/stores/filesystem")
const S3Object = require("s3rver/lib/models/object")

// Outside every bucket, so listings never walk it (only ListBuckets would show it).
const tempPath = (store) => join(store.rootDirectory, ".s3rver-tmp", randomUUID())

const replace = async (store, path, write) => {
  const temp = tempPath(store)
  await mkdir(dirname(temp), { recursive: true })
  try {
    const result = await write(temp)
    // A delete in the same directory may remove it, empty, between the mkdir and the rename.
    for (let attempt = 1; ; attempt++) {
      await mkdir(dirname(path), { recursive: true })
      try {
        await rename(temp, path)
        return result
      } catch (error) {
        if (error.code !== "ENOENT" || attempt === 3) throw error
      }
    }
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}

// Deletes run side by side (DeleteObjects), and each removes its emptied directories after
// unlinking the object's files: one may find a directory another just removed, or one a put just
// filled. The object is gone either way.
const deleteObject = FilesystemStore.prototype.deleteObject
FilesystemStore.prototype.deleteObject = async function deleteObjectTolerantly(bucket, key) {
  try {
    await deleteObject.call(this, bucket, key)
  } catch (error) {
    if (error.code !== "ENOENT" && error.code !== "ENOTEMPTY") throw error
  }
}

FilesystemStore.prototype.putObject = async function putObject(object) {
  const path = this.getResourcePath(object.bucket, object.key, "object")
  const md5 = createHash("md5")
  let size = 0
  const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content
  await replace(this, path, (temp) =>
    pipeline(
      content,
      new Transform({
        transform(chunk, _encoding, callback) {
          md5.update(chunk)
          size += chunk.length
          callback(null, chunk)
        },
      }),
      createWriteStream(temp),
    ),
  )
  const digest = md5.digest("hex")
  await this.putMetadata(object.bucket, object.key, object.metadata, digest)
  return { size, md5: digest }
}

FilesystemStore.prototype.putMetadata = async function putMetadata(bucket, key, metadata, md5) {
  const kept = Object.fromEntries(
    Object.entries(metadata).filter(
      ([name]) => S3Object.ALLOWED_METADATA.includes(name) || name.startsWith("x-amz-meta-"),
    ),
  )
  if (md5)
    await replace(this, this.getResourcePath(bucket, key, "object.md5"), (temp) => writeFile(temp, md5))
  await replace(this, this.getResourcePath(bucket, key, "metadata.json"), (temp) =>
    writeFile(temp, JSON.stringify(kept, null, 2)),
  )
}

require("s3rver/bin/s3rver.js")
