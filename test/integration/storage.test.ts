// Storage through supabase-js's storage client, over real HTTP, in both topologies and on both blob
// backends (a folder on disk; S3, served here by s3rver), with the app's policies on storage.objects.
import { createHash, randomUUID } from "node:crypto"
import http from "node:http"
import { Readable } from "node:stream"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { reactorEnv, type S3Server } from "../../platform/blobs/LocalS3.ts"
import { type SignedIn, signedIn } from "../support/app.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"
import { startS3 } from "../support/s3.ts"
import { ownFolderPolicies } from "../support/storagePolicies.ts"
import { supabaseClient } from "../support/supabase.ts"

const backends = ["disk", "s3"] as const
const cases = topologies.flatMap((topology) => backends.map((backend) => [topology, backend] as const))

describe.each(cases)("Storage through supabase-js (%s, %s)", (topology, backend) => {
  let reactor: RunningReactor
  let s3: S3Server | undefined
  let ada: SignedIn
  let bob: SignedIn
  const service = () => supabaseClient(reactor.url, reactor.serviceKey)
  const anon = () => supabaseClient(reactor.url, reactor.anonKey)
  const bucket = `files-${randomUUID().slice(0, 8)}`
  const storageUrl = (path: string) => `${reactor.url}/storage/v1${path}`
  const asAda = (headers: Record<string, string> = {}) => ({
    authorization: `Bearer ${ada.token}`,
    ...headers,
  })
  const listOwners = async (name: string) => {
    const client = new pg.Client({ connectionString: reactor.database.url })
    await client.connect()
    try {
      const { rows } = await client.query<{ owner_id: string }>(
        "select owner_id from storage.objects where bucket_id = $1 and name = $2",
        [bucket, name],
      )
      return rows.map((r) => r.owner_id)
    } finally {
      await client.end()
    }
  }

  beforeAll(async () => {
    s3 = backend === "s3" ? await startS3() : undefined
    const env: Record<string, string> = s3 === undefined ? {} : reactorEnv(s3, "reactor-test")
    reactor = await startReactor(topology, { env })
    const admin = new pg.Client({ connectionString: reactor.database.url })
    await admin.connect()
    await admin.query(ownFolderPolicies)
    await admin.end()
    ada = await signedIn(reactor)
    bob = await signedIn(reactor)
    const { error } = await service().storage.createBucket(bucket, { public: false })
    expect(error).toBeNull()
  }, 90_000)
  afterAll(async () => {
    await reactor?.stop()
    await s3?.stop()
  })

  describe("buckets", () => {
    it("are created, read, listed, changed, emptied and deleted with the service key", async () => {
      const storage = service().storage
      const id = `b-${randomUUID().slice(0, 8)}`
      expect(await storage.createBucket(id, { public: true, fileSizeLimit: 1024 })).toMatchObject({
        data: { name: id },
        error: null,
      })
      const got = await storage.getBucket(id)
      expect(got.data).toMatchObject({
        id,
        name: id,
        public: true,
        file_size_limit: 1024,
        allowed_mime_types: null,
      })
      expect((await storage.listBuckets()).data?.map((b) => b.id)).toContain(id)
      expect(
        (await storage.updateBucket(id, { public: false, allowedMimeTypes: ["image/*"] })).error,
      ).toBeNull()
      expect((await storage.getBucket(id)).data).toMatchObject({
        public: false,
        file_size_limit: 1024,
        allowed_mime_types: ["image/*"],
      })
      await storage.from(id).upload("a.png", Buffer.from("png"), { contentType: "image/png" })
      const notEmpty = await storage.deleteBucket(id)
      expect(notEmpty.error).toMatchObject({ statusCode: "409" })
      expect((await storage.emptyBucket(id)).error).toBeNull()
      expect((await storage.deleteBucket(id)).error).toBeNull()
      expect((await storage.getBucket(id)).error).toMatchObject({ statusCode: "404" })
    })

    it("refuses a second bucket with the same id, and a user without a policy", async () => {
      expect((await service().storage.createBucket(bucket)).error).toMatchObject({ statusCode: "409" })
      expect((await ada.client.storage.createBucket(`x-${randomUUID().slice(0, 6)}`)).error).toMatchObject({
        statusCode: "403",
      })
    })
  })

  describe("objects", () => {
    it("are uploaded raw and as a form, then downloaded, described and found", async () => {
      const files = ada.client.storage.from(bucket)
      const raw = await files.upload(`${ada.userId}/hello.txt`, Buffer.from("hello world"), {
        contentType: "text/plain",
        metadata: { kind: "greeting" },
      })
      expect(raw.error).toBeNull()
      expect(raw.data).toMatchObject({
        path: `${ada.userId}/hello.txt`,
        fullPath: `${bucket}/${ada.userId}/hello.txt`,
      })
      const form = await files.upload(
        `${ada.userId}/note.md`,
        new Blob(["# note"], { type: "text/markdown" }),
        {
          cacheControl: "60",
        },
      )
      expect(form.error).toBeNull()
      const downloaded = await files.download(`${ada.userId}/hello.txt`)
      expect(await downloaded.data?.text()).toBe("hello world")
      expect(await (await files.download(`${ada.userId}/note.md`)).data?.text()).toBe("# note")
      const info = await files.info(`${ada.userId}/hello.txt`)
      expect(info.data).toMatchObject({
        name: `${ada.userId}/hello.txt`,
        size: 11,
        contentType: "text/plain",
        metadata: { kind: "greeting" },
      })
      expect((await files.exists(`${ada.userId}/hello.txt`)).data).toBe(true)
      expect((await files.exists(`${ada.userId}/nothing.txt`)).data).toBe(false)
      const head = await fetch(storageUrl(`/object/${bucket}/${ada.userId}/note.md`), { headers: asAda() })
      expect(head.headers.get("cache-control")).toBe("max-age=60")
      expect(head.headers.get("content-type")).toBe("text/markdown")
    })

    it("are replaced only when the upload says upsert", async () => {
      const files = ada.client.storage.from(bucket)
      const path = `${ada.userId}/twice.txt`
      expect((await files.upload(path, Buffer.from("one"))).error).toBeNull()
      expect((await files.upload(path, Buffer.from("two"))).error).toMatchObject({ statusCode: "409" })
      expect(await (await files.download(path)).data?.text()).toBe("one")
      expect((await files.upload(path, Buffer.from("three"), { upsert: true })).error).toBeNull()
      expect(await (await files.download(path)).data?.text()).toBe("three")
      expect((await files.update(path, Buffer.from("four"))).error).toBeNull()
      expect(await (await files.download(path)).data?.text()).toBe("four")
    })

    it("are written and read only where the policies allow", async () => {
      const path = `${ada.userId}/private.txt`
      await ada.client.storage.from(bucket).upload(path, Buffer.from("secret"))
      const intrusion = await bob.client.storage
        .from(bucket)
        .upload(`${ada.userId}/evil.txt`, Buffer.from("x"))
      expect(intrusion.error).toMatchObject({ statusCode: "403" })
      expect((await bob.client.storage.from(bucket).download(path)).error).toMatchObject({
        statusCode: "404",
      })
      expect((await anon().storage.from(bucket).download(path)).error).toMatchObject({ statusCode: "404" })
      // Nothing was stored for the refused upload.
      const listed = await service().storage.from(bucket).list(ada.userId)
      expect(listed.data?.map((o) => o.name)).not.toContain("evil.txt")
    })

    it("serve ranges, revalidation and attachments as HTTP says", async () => {
      const path = `${ada.userId}/digits.txt`
      await ada.client.storage.from(bucket).upload(path, Buffer.from("0123456789"))
      const url = storageUrl(`/object/${bucket}/${path}`)
      const partial = await fetch(url, { headers: asAda({ range: "bytes=2-5" }) })
      expect(partial.status).toBe(206)
      expect(partial.headers.get("content-range")).toBe("bytes 2-5/10")
      expect(await partial.text()).toBe("2345")
      const suffix = await fetch(url, { headers: asAda({ range: "bytes=-3" }) })
      expect(await suffix.text()).toBe("789")
      const beyond = await fetch(url, { headers: asAda({ range: "bytes=10-" }) })
      expect(beyond.status).toBe(416)
      const whole = await fetch(url, { headers: asAda() })
      const etag = whole.headers.get("etag")!
      expect(etag).toMatch(/^"[0-9A-Za-z_-]{8,64}"$/)
      // The same bytes answer the same ETag until they are replaced.
      expect((await fetch(url, { headers: asAda() })).headers.get("etag")).toBe(etag)
      expect(await whole.text()).toBe("0123456789")
      const again = await fetch(url, { headers: asAda({ "if-none-match": etag }) })
      expect(again.status).toBe(304)
      // Other bytes in its place: the old ETag no longer matches.
      await ada.client.storage.from(bucket).upload(path, Buffer.from("9876543210"), { upsert: true })
      const replaced = await fetch(url, { headers: asAda({ "if-none-match": etag }) })
      expect(replaced.status).toBe(200)
      expect(replaced.headers.get("etag")).not.toBe(etag)
      expect(await replaced.text()).toBe("9876543210")
      const attachment = await fetch(`${url}?download=report.txt`, { headers: asAda() })
      expect(attachment.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''report.txt")
    })

    it("are listed folder by folder and removed", async () => {
      const files = ada.client.storage.from(bucket)
      for (const name of ["a.txt", "b.txt", "sub/c.txt"]) {
        await files.upload(`${ada.userId}/list/${name}`, Buffer.from(name))
      }
      const listed = await files.list(`${ada.userId}/list`)
      expect(listed.data?.map((o) => [o.name, o.id === null])).toEqual([
        ["a.txt", false],
        ["b.txt", false],
        ["sub", true],
      ])
      expect(listed.data?.[0]?.metadata).toMatchObject({ size: 5, mimetype: "text/plain;charset=UTF-8" })
      const removed = await files.remove([`${ada.userId}/list/a.txt`, `${ada.userId}/list/sub/c.txt`])
      expect(removed.data?.map((o) => o.name).sort()).toEqual([
        `${ada.userId}/list/a.txt`,
        `${ada.userId}/list/sub/c.txt`,
      ])
      expect((await files.list(`${ada.userId}/list`)).data?.map((o) => o.name)).toEqual(["b.txt"])
      expect((await files.download(`${ada.userId}/list/a.txt`)).error).toMatchObject({ statusCode: "404" })
    })

    it("are moved and copied, across buckets too", async () => {
      const files = ada.client.storage.from(bucket)
      await files.upload(`${ada.userId}/from.txt`, Buffer.from("moving"))
      expect((await files.move(`${ada.userId}/from.txt`, `${ada.userId}/to.txt`)).error).toBeNull()
      expect((await files.download(`${ada.userId}/from.txt`)).error).toMatchObject({ statusCode: "404" })
      expect(await (await files.download(`${ada.userId}/to.txt`)).data?.text()).toBe("moving")
      const copied = await files.copy(`${ada.userId}/to.txt`, `${ada.userId}/copy.txt`)
      expect(copied.error).toBeNull()
      expect(await (await files.download(`${ada.userId}/copy.txt`)).data?.text()).toBe("moving")
      // Bob cannot see Ada's object, so for him it is not there to move.
      const theft = await bob.client.storage
        .from(bucket)
        .move(`${ada.userId}/to.txt`, `${bob.userId}/mine.txt`)
      expect(theft.error).toMatchObject({ statusCode: "404" })
      const other = `other-${randomUUID().slice(0, 8)}`
      await service().storage.createBucket(other, { public: false })
      const across = await service()
        .storage.from(bucket)
        .copy(`${ada.userId}/to.txt`, "copied.txt", { destinationBucket: other })
      expect(across.error).toBeNull()
      expect(await (await service().storage.from(other).download("copied.txt")).data?.text()).toBe("moving")
      const moved = await service()
        .storage.from(other)
        .move("copied.txt", `${ada.userId}/back.txt`, { destinationBucket: bucket })
      expect(moved.error).toBeNull()
      expect(await (await files.download(`${ada.userId}/back.txt`)).data?.text()).toBe("moving")
    })

    it("are shared by signed URLs that open one object until they expire", async () => {
      const files = ada.client.storage.from(bucket)
      await files.upload(`${ada.userId}/shared.txt`, Buffer.from("shared"))
      const signed = await files.createSignedUrl(`${ada.userId}/shared.txt`, 60, { download: "copy.txt" })
      expect(signed.error).toBeNull()
      const followed = await fetch(signed.data!.signedUrl)
      expect(followed.status).toBe(200)
      expect(await followed.text()).toBe("shared")
      expect(followed.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''copy.txt")
      // The token opens that object only, and no other door.
      const token = new URL(signed.data!.signedUrl).searchParams.get("token")!
      const elsewhere = await fetch(
        storageUrl(`/object/sign/${bucket}/${ada.userId}/hello.txt?token=${token}`),
      )
      expect(await elsewhere.json()).toMatchObject({ error: "InvalidSignature" })
      const asApiToken = await fetch(storageUrl(`/object/${bucket}/${ada.userId}/shared.txt`), {
        headers: { authorization: `Bearer ${token}` },
      })
      expect(await asApiToken.json()).toMatchObject({ error: "InvalidJWT" })
      const expiring = await files.createSignedUrl(`${ada.userId}/shared.txt`, 1)
      await new Promise((resolve) => setTimeout(resolve, 2_100))
      expect(await (await fetch(expiring.data!.signedUrl)).json()).toMatchObject({
        error: "InvalidSignature",
      })
      // Bob may not read Ada's object, so he gets no URL for it.
      const refused = await bob.client.storage.from(bucket).createSignedUrl(`${ada.userId}/shared.txt`, 60)
      expect(refused.error).toMatchObject({ statusCode: "404" })
      const several = await files.createSignedUrls([`${ada.userId}/shared.txt`, `${ada.userId}/none.txt`], 60)
      expect(several.data?.map((s) => [s.path, s.error === null])).toEqual([
        [`${ada.userId}/shared.txt`, true],
        [`${ada.userId}/none.txt`, false],
      ])
    })

    it("take one upload each through a signed upload URL, recorded as its creator's", async () => {
      const files = ada.client.storage.from(bucket)
      const path = `${ada.userId}/dropbox.txt`
      const issued = await files.createSignedUploadUrl(path)
      expect(issued.error).toBeNull()
      // Anyone holding it may upload, without a token of their own.
      const uploaded = await anon()
        .storage.from(bucket)
        .uploadToSignedUrl(path, issued.data!.token, Buffer.from("dropped"))
      expect(uploaded.error).toBeNull()
      expect(await (await files.download(path)).data?.text()).toBe("dropped")
      const info = await files.info(path)
      expect(info.data).toMatchObject({ size: 7 })
      const row = await listOwners(path)
      expect(row).toEqual([ada.userId])
      const again = await anon()
        .storage.from(bucket)
        .uploadToSignedUrl(path, issued.data!.token, Buffer.from("again"))
      expect(again.error).toMatchObject({
        statusCode: "400",
        message: "The signature is invalid, expired or already used",
      })
      // Bob gets no upload URL into Ada's folder.
      const refused = await bob.client.storage.from(bucket).createSignedUploadUrl(`${ada.userId}/bob.txt`)
      expect(refused.error).toMatchObject({ statusCode: "403" })
    })

    it("are listed by the v2 list, flat or by folder, a page at a time", async () => {
      const files = ada.client.storage.from(bucket)
      for (const name of ["x/1.txt", "x/2.txt", "x/3.txt", "x/deep/4.txt"]) {
        await files.upload(`${ada.userId}/v2/${name}`, Buffer.from(name))
      }
      const prefix = `${ada.userId}/v2/x/`
      const flat = await files.listV2({ prefix })
      expect(flat.error).toBeNull()
      expect(flat.data?.objects.map((o) => o.key)).toEqual(
        ["1.txt", "2.txt", "3.txt", "deep/4.txt"].map((n) => `${prefix}${n}`),
      )
      expect(flat.data?.hasNext).toBe(false)
      const first = await files.listV2({ prefix, with_delimiter: true, limit: 2 })
      expect(first.data?.objects.map((o) => o.name)).toEqual(["1.txt", "2.txt"])
      expect(first.data?.hasNext).toBe(true)
      const second = await files.listV2({
        prefix,
        with_delimiter: true,
        limit: 2,
        cursor: first.data!.nextCursor!,
      })
      expect(second.data?.objects.map((o) => o.name)).toEqual(["3.txt"])
      expect(second.data?.folders).toEqual([{ name: "deep", key: `${prefix}deep/` }])
      expect(second.data?.hasNext).toBe(false)
    })

    it("of a public bucket are served to anyone at their public URL; a private bucket's are not", async () => {
      const open = `pub-${randomUUID().slice(0, 8)}`
      await service().storage.createBucket(open, { public: true })
      await service()
        .storage.from(open)
        .upload("logo.svg", Buffer.from("<svg/>"), { contentType: "image/svg+xml" })
      const { data } = anon().storage.from(open).getPublicUrl("logo.svg")
      const served = await fetch(data.publicUrl)
      expect(served.status).toBe(200)
      expect(await served.text()).toBe("<svg/>")
      await service().storage.from(bucket).upload("hidden.txt", Buffer.from("hidden"))
      const refused = await fetch(anon().storage.from(bucket).getPublicUrl("hidden.txt").data.publicUrl)
      expect(refused.status).toBe(400)
      expect(await refused.json()).toMatchObject({ statusCode: "404", error: "NoSuchKey" })
    })

    it("over the bucket's size or outside its types are refused, and nothing is kept", async () => {
      const strict = `strict-${randomUUID().slice(0, 8)}`
      await service().storage.createBucket(strict, {
        public: false,
        fileSizeLimit: 10,
        allowedMimeTypes: ["image/*"],
      })
      const files = service().storage.from(strict)
      expect(
        (await files.upload("big.png", Buffer.alloc(11), { contentType: "image/png" })).error,
      ).toMatchObject({
        statusCode: "413",
      })
      // Streamed without a length: the limit is enforced as the bytes arrive.
      const streamed = await fetch(storageUrl(`/object/${strict}/streamed.png`), {
        method: "POST",
        headers: { authorization: `Bearer ${reactor.serviceKey}`, "content-type": "image/png" },
        body: Readable.toWeb(Readable.from([Buffer.alloc(6), Buffer.alloc(6)])) as never,
        duplex: "half",
      } as RequestInit)
      expect(await streamed.json()).toMatchObject({ statusCode: "413", error: "EntityTooLarge" })
      expect(
        (await files.upload("a.txt", Buffer.from("text"), { contentType: "text/plain" })).error,
      ).toMatchObject({
        statusCode: "415",
      })
      expect((await files.upload("ok.png", Buffer.alloc(10), { contentType: "image/png" })).error).toBeNull()
      expect((await files.list()).data?.map((o) => o.name)).toEqual(["ok.png"])
    })

    it("stream a large body through without holding it", async () => {
      const size = 24 * 1024 * 1024
      const chunk = Buffer.alloc(1024 * 1024, 7)
      const hash = createHash("md5")
      for (let i = 0; i < size / chunk.length; i++) hash.update(chunk)
      const upload = await fetch(storageUrl(`/object/${bucket}/${ada.userId}/large.bin`), {
        method: "POST",
        headers: asAda({ "content-type": "application/octet-stream", "content-length": String(size) }),
        body: Readable.toWeb(
          Readable.from(Array.from({ length: size / chunk.length }, () => chunk)),
        ) as never,
        duplex: "half",
      } as RequestInit)
      expect(upload.status).toBe(200)
      const download = await fetch(storageUrl(`/object/${bucket}/${ada.userId}/large.bin`), {
        headers: asAda(),
      })
      expect(download.headers.get("content-length")).toBe(String(size))
      const received = createHash("md5")
      let bytes = 0
      for await (const part of download.body as unknown as AsyncIterable<Uint8Array>) {
        received.update(part)
        bytes += part.length
      }
      expect(bytes).toBe(size)
      expect(received.digest("hex")).toBe(hash.digest("hex"))
    })

    it("keep a connection usable after an upload the server had to throttle", async () => {
      // One socket for both requests: the upload pauses the socket when the store falls behind,
      // and the request after it must still be read.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      const url = new URL(storageUrl(`/object/${bucket}/${ada.userId}/throttled.bin`))
      const call = (method: string, body?: Readable) =>
        new Promise<{ status: number; bytes: number }>((resolve, reject) => {
          const request = http.request(
            url,
            { method, agent, headers: asAda({ "content-type": "application/octet-stream" }) },
            (response) => {
              let bytes = 0
              response.on("data", (part: Buffer) => (bytes += part.length))
              response.on("end", () => resolve({ status: response.statusCode!, bytes }))
            },
          )
          request.on("error", reject)
          request.setTimeout(20_000, () =>
            request.destroy(new Error("no answer on the kept-alive connection")),
          )
          if (body === undefined) request.end()
          else body.pipe(request)
        })
      const size = 32 * 1024 * 1024
      const chunk = Buffer.alloc(256 * 1024, 3)
      const uploaded = await call(
        "POST",
        Readable.from(Array.from({ length: size / chunk.length }, () => chunk)),
      )
      expect(uploaded.status).toBe(200)
      expect(await call("GET")).toEqual({ status: 200, bytes: size })
      agent.destroy()
    })

    it("survive clients that go away in the middle of their uploads", async () => {
      const url = new URL(storageUrl(`/object/${bucket}/${ada.userId}/abandoned.bin`))
      for (let i = 0; i < 10; i++) {
        await new Promise<void>((resolve) => {
          const request = http.request(url, {
            method: "POST",
            headers: asAda({ "content-type": "application/octet-stream", "content-length": "1000000" }),
          })
          request.on("error", () => resolve())
          request.write(Buffer.alloc(1000, 1), () => setTimeout(() => request.destroy(), i * 3))
          request.on("close", () => resolve())
        })
      }
      const after = await fetch(storageUrl(`/object/${bucket}/${ada.userId}/abandoned.bin`), {
        headers: asAda(),
      })
      expect(await after.json()).toMatchObject({ statusCode: "404" })
      expect((await fetch(`${reactor.url}/health`)).status).toBe(200)
    })

    it("answer bad requests in the Storage API's shape", async () => {
      const noToken = await fetch(storageUrl(`/object/${bucket}/x.txt`))
      expect(noToken.status).toBe(400)
      expect(await noToken.json()).toMatchObject({ error: "InvalidJWT" })
      // URLs resolve a literal "..": an encoded one reaches the server and is refused as a name.
      const badName = await fetch(storageUrl(`/object/${bucket}/${ada.userId}%2F..%2Fescape.txt`), {
        method: "POST",
        headers: asAda({ "content-type": "text/plain" }),
        body: "x",
      })
      expect(badName.status).toBe(400)
      expect(await badName.json()).toMatchObject({ statusCode: "400", error: "InvalidKey" })
      const noBucket = await ada.client.storage.from("nope").download("x.txt")
      expect(noBucket.error).toMatchObject({ statusCode: "404" })
    })
  })
})
