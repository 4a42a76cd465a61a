// s3rver as tests and the benchmark run it (LocalS3.ts). Its FilesystemStore answers a PUT before
// the bytes are on disk, writes them over the object in place and rewrites metadata files in place,
// so a request right after a PUT can read an empty object or half a JSON file (a 500). Here each
// file is written beside the tree and renamed into place once closed, as S3 shows only whole objects;
// and deletes that run side by side no longer fail each other. It also lists and aborts multipart
// uploads, which stock s3rver refuses (NotImplemented), so a store's cleanup of abandoned uploads
// is tested against a server that keeps them.
const { randomUUID, createHash } = require("node:crypto")
const { mkdir, readdir, readFile, rename, rm, stat, writeFile } = require("node:fs/promises")
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

// Multipart uploads in progress, as FilesystemStore keeps them: a directory per upload holding its
// key and parts. ListMultipartUploads answers them all at once (never truncated); AbortMultipartUpload
// removes one. Ahead of s3rver's own routes, so without its signature check: a loopback test server.
const S3rver = require("s3rver")
const xmlEscape = (text) =>
  String(text).replace(
    /[<>&'"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c],
  )

const uploadsOf = async (store, bucket) => {
  const dir = store.getResourcePath(bucket, undefined, "uploads")
  const uploads = []
  for (const uploadId of await readdir(dir).catch(() => [])) {
    const key = await readFile(join(dir, uploadId, "key"), "utf8").catch(() => undefined)
    if (key === undefined) continue
    const { birthtime, mtime } = await stat(join(dir, uploadId, "key"))
    uploads.push({ key, uploadId, initiated: birthtime.getTime() > 0 ? birthtime : mtime })
  }
  return uploads
}

const multipartUploads = async (ctx, next) => {
  const path = ctx.path.split("/").filter((part) => part !== "")
  const store = ctx.app.store
  if (ctx.method === "GET" && path.length === 1 && "uploads" in ctx.query) {
    const prefix = String(ctx.query.prefix ?? "")
    const uploads = (await uploadsOf(store, path[0])).filter((upload) => upload.key.startsWith(prefix))
    ctx.type = "application/xml"
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${xmlEscape(path[0])}</Bucket>${uploads
      .map(
        (u) =>
          `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${xmlEscape(u.uploadId)}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
      )
      .join("")}</ListMultipartUploadsResult>`
    return
  }
  if (ctx.method === "DELETE" && path.length > 1 && typeof ctx.query.uploadId === "string") {
    const dir = join(store.getResourcePath(path[0], undefined, "uploads"), ctx.query.uploadId)
    if (
      !/^[0-9a-zA-Z_-]+$/.test(ctx.query.uploadId) ||
      (await stat(dir).catch(() => undefined)) === undefined
    ) {
      ctx.status = 404
      ctx.type = "application/xml"
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`
      return
    }
    await rm(dir, { recursive: true, force: true })
    ctx.status = 204
    return
  }
  return next()
}

const run = S3rver.prototype.run
S3rver.prototype.run = function runWithMultipartUploads(...args) {
  // Before the router, the last middleware s3rver installs.
  this.middleware.splice(this.middleware.length - 1, 0, multipartUploads)
  return run.apply(this, args)
}

require("s3rver/bin/s3rver.js")
