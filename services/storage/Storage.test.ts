// The storage worker over the in-memory bus against real Postgres: buckets, the upload handshake,
// the app's policies on storage.objects, listings, removal, and the log the projections follow.
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Bus, type BusShape } from "../../bus/Bus.ts"
import * as MemoryBus from "../../bus/MemoryBus.ts"
import type { Command, ErrorOf, PayloadOf, Query, SuccessOf } from "../../contracts/Contract.ts"
import * as Storage from "../../contracts/storage.ts"
import type { BlobStoreShape } from "../../platform/blobs/BlobStore.ts"
import * as DiskBlobStore from "../../platform/blobs/DiskBlobStore.ts"
import * as Config from "../../platform/config/Config.ts"
import { rebuild } from "../../platform/eventlog/Rebuild.ts"
import { migrate } from "../../platform/migrate/Migrations.ts"
import * as Postgres from "../../platform/postgres/Postgres.ts"
import { createTestDatabase, type TestDatabase } from "../../test/support/database.ts"
import { ownFolderPolicies } from "../../test/support/storagePolicies.ts"
import * as Projections from "./Projections.ts"
import { serve } from "./Worker.ts"

let db: TestDatabase
let scope: Scope.Closeable
let bus: BusShape
let postgres: Postgres.PostgresShape
let blobs: BlobStoreShape
let blobRoot: string

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

beforeAll(async () => {
  db = await createTestDatabase()
  await run(migrate({ url: db.url }))
  scope = Effect.runSync(Scope.make())
  postgres = await run(Scope.provide(Postgres.make(db.url, 4), scope))
  bus = await run(MemoryBus.make())
  const config = Config.layer({ env: { REACTOR_STORAGE_FILE_SIZE_LIMIT: "1000000" }, cwd: "/nonexistent" })
  blobRoot = mkdtempSync(join(tmpdir(), "reactor-storage-worker-"))
  blobs = DiskBlobStore.make(blobRoot)
  await run(
    Scope.provide(
      serve(blobs).pipe(
        Effect.provide(
          Layer.mergeAll(config, Layer.succeed(Bus, bus), Layer.succeed(Postgres.Postgres, postgres)),
        ),
      ),
      scope,
    ),
  )
  await run(
    postgres.query(`${ownFolderPolicies}
      create policy "buckets: read" on storage.buckets for select to authenticated using (true);`),
  )
})
afterAll(async () => {
  await run(Scope.close(scope, Exit.void))
  await db.drop()
  rmSync(blobRoot, { recursive: true, force: true })
})

/** Whether the blob store still holds `key`. */
const stored = (key: string) => run(blobs.stat(key)).then((info) => info !== undefined)

const service: Storage.Caller = { role: "service_role", claims: JSON.stringify({ role: "service_role" }) }
const anon: Storage.Caller = { role: "anon", claims: JSON.stringify({ role: "anon" }) }
const user = (id = randomUUID()) => ({
  id,
  caller: {
    role: "authenticated",
    claims: JSON.stringify({ role: "authenticated", sub: id }),
  } as Storage.Caller,
})

const meta = () => ({ meta: { requestId: randomUUID() }, timeoutMs: 10_000 })
const send = <C extends Command>(contract: C, payload: PayloadOf<C>) =>
  run(
    bus.send(contract, payload, { ...meta(), idempotencyKey: randomUUID() }) as Effect.Effect<
      SuccessOf<C>,
      ErrorOf<C>
    >,
  )
const ask = <C extends Query>(contract: C, payload: PayloadOf<C>) =>
  run(bus.request(contract, payload, meta()) as Effect.Effect<SuccessOf<C>, ErrorOf<C>>)
const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error as Storage.StorageError
  }
  throw new Error("expected a failure")
}

const settings = (
  s: Partial<typeof Storage.BucketSettings.Type> = {},
): typeof Storage.BucketSettings.Type => ({
  public: false,
  file_size_limit: null,
  allowed_mime_types: null,
  unset: [],
  ...s,
})

/** The handshake the gateway makes: prepare, (store the bytes), record. */
const upload = async (
  caller: Storage.Caller,
  bucket: string,
  name: string,
  options: { upsert?: boolean; mimetype?: string; size?: number } = {},
) => {
  const mimetype = options.mimetype ?? "text/plain"
  const size = options.size ?? 5
  const plan = await ask(Storage.PrepareUpload, {
    caller,
    bucket,
    name,
    upsert: options.upsert ?? false,
    mimetype,
    size,
    upload_token: null,
  })
  const bytes = await run(
    blobs.put(plan.blob_key, Readable.from([Buffer.alloc(size, 1)]), {
      limit: plan.limit,
      contentType: mimetype,
    }),
  )
  return send(Storage.PutObject, {
    caller,
    bucket,
    name,
    upsert: options.upsert ?? false,
    blob_key: plan.blob_key,
    size,
    etag: bytes.etag,
    mimetype,
    cache_control: "max-age=3600",
    user_metadata: null,
    owner: null,
    upload_token: null,
  })
}

describe("buckets", () => {
  it("are created once, by a caller the policies allow, with valid names", async () => {
    expect(
      await send(Storage.CreateBucket, { caller: service, id: "avatars", name: "", settings: settings() }),
    ).toEqual({
      name: "avatars",
    })
    const again = await failure(
      send(Storage.CreateBucket, { caller: service, id: "avatars", name: "", settings: settings() }),
    )
    expect(again.code).toBe("ResourceAlreadyExists")
    const bad = await failure(
      send(Storage.CreateBucket, { caller: service, id: "a/b", name: "", settings: settings() }),
    )
    expect(bad.code).toBe("InvalidBucketName")
    // No policy lets an ordinary user create buckets.
    const denied = await failure(
      send(Storage.CreateBucket, { caller: user().caller, id: "mine", name: "", settings: settings() }),
    )
    expect(denied).toMatchObject({ code: "AccessDenied", status: 403 })
  })

  it("are seen as the policies on storage.buckets say", async () => {
    const all = { limit: null, offset: null, search: null, sort_column: null, sort_order: null }
    expect((await ask(Storage.ListBuckets, { caller: service, ...all })).map((b) => b.id)).toContain(
      "avatars",
    )
    expect((await ask(Storage.ListBuckets, { caller: user().caller, ...all })).map((b) => b.id)).toContain(
      "avatars",
    )
    expect(await ask(Storage.ListBuckets, { caller: anon, ...all })).toEqual([])
    expect((await failure(ask(Storage.GetBucket, { caller: anon, id: "avatars" }))).code).toBe("NoSuchBucket")
  })

  it("keep the settings an update leaves out", async () => {
    await send(Storage.CreateBucket, {
      caller: service,
      id: "limited",
      name: "",
      settings: settings({ file_size_limit: 100, allowed_mime_types: ["image/*"] }),
    })
    await send(Storage.UpdateBucket, {
      caller: service,
      id: "limited",
      settings: settings({ public: true, unset: ["file_size_limit", "allowed_mime_types"] }),
    })
    expect(await ask(Storage.GetBucket, { caller: service, id: "limited" })).toMatchObject({
      public: true,
      file_size_limit: 100,
      allowed_mime_types: ["image/*"],
    })
  })

  it("refuse types and sizes they do not take before any byte is stored", async () => {
    const prepare = (mimetype: string, size: number) =>
      ask(Storage.PrepareUpload, {
        caller: service,
        bucket: "limited",
        name: "x.png",
        upsert: false,
        mimetype,
        size,
        upload_token: null,
      })
    expect((await failure(prepare("text/plain", 10))).code).toBe("InvalidMimeType")
    expect((await failure(prepare("image/png", 101))).code).toBe("EntityTooLarge")
    expect(await prepare("image/png; charset=binary", 100)).toMatchObject({ limit: 100 })
  })
})

describe("objects", () => {
  it("are recorded after their bytes, and replaced only when asked to", async () => {
    const first = await upload(service, "avatars", "team/logo.txt")
    expect(first).toMatchObject({
      bucket_id: "avatars",
      name: "team/logo.txt",
      metadata: { size: 5, mimetype: "text/plain" },
    })
    expect(first.metadata.eTag).toMatch(/^"[0-9a-f]{32}"$/)
    expect((await failure(upload(service, "avatars", "team/logo.txt"))).code).toBe("KeyAlreadyExists")
    const replaced = await upload(service, "avatars", "team/logo.txt", { upsert: true, size: 7 })
    expect(replaced.id).toBe(first.id)
    expect(replaced.blob_key).not.toBe(first.blob_key)
    expect(replaced.metadata.size).toBe(7)
    // The bytes it replaced are garbage once the replacement committed.
    expect(await stored(first.blob_key)).toBe(false)
    expect(await stored(replaced.blob_key)).toBe(true)
  })

  it("are written and read only where the policies allow", async () => {
    const alice = user()
    const bob = user()
    const own = await upload(alice.caller, "avatars", `${alice.id}/me.txt`)
    expect(own.owner).toBe(alice.id)
    expect((await failure(upload(alice.caller, "avatars", `${bob.id}/me.txt`))).code).toBe("AccessDenied")
    const get = (caller: Storage.Caller) =>
      ask(Storage.GetObject, { caller, bucket: "avatars", name: `${alice.id}/me.txt`, public: false })
    expect((await get(alice.caller)).id).toBe(own.id)
    expect((await failure(get(bob.caller))).code).toBe("NoSuchKey")
    expect((await failure(get(anon))).code).toBe("NoSuchKey")
    // The public route serves public buckets only.
    const viaPublic = (bucket: string, name: string) =>
      ask(Storage.GetObject, { caller: anon, bucket, name, public: true })
    expect((await failure(viaPublic("avatars", `${alice.id}/me.txt`))).code).toBe("NoSuchKey")
    await upload(service, "limited", "pic.png", { mimetype: "image/png", size: 10 })
    expect((await viaPublic("limited", "pic.png")).metadata.size).toBe(10)
  })

  it("refuse names that could become paths", async () => {
    for (const name of ["../x", "a//b", "a/./b", "a/", "", "x\u0000y"]) {
      expect((await failure(upload(service, "avatars", name))).code).toBe("InvalidKey")
    }
    // Any unicode is fine: names never become paths.
    expect((await upload(service, "avatars", "ünï/çødé 🎉.txt")).name).toBe("ünï/çødé 🎉.txt")
  })

  it("are listed folder by folder, with search, order and paging", async () => {
    for (const name of [
      "docs/a.txt",
      "docs/b.txt",
      "docs/deep/c.txt",
      "docs/deep/more/d.txt",
      "docs/zz/e.txt",
    ]) {
      await upload(service, "avatars", name)
    }
    const list = (prefix: string, extra: Partial<PayloadOf<typeof Storage.ListObjects>> = {}) =>
      ask(Storage.ListObjects, {
        caller: service,
        bucket: "avatars",
        prefix,
        limit: 100,
        offset: 0,
        search: "",
        sort_column: "name",
        sort_order: "asc",
        ...extra,
      })
    const docs = await list("docs")
    expect(docs.map((e) => [e.name, e.id === null])).toEqual([
      ["a.txt", false],
      ["b.txt", false],
      ["deep", true],
      ["zz", true],
    ])
    expect((await list("docs/")).map((e) => e.name)).toEqual(["a.txt", "b.txt", "deep", "zz"])
    expect((await list("docs", { search: "b" })).map((e) => e.name)).toEqual(["b.txt"])
    expect((await list("docs", { sort_order: "desc", limit: 2, offset: 1 })).map((e) => e.name)).toEqual([
      "deep",
      "b.txt",
    ])
    expect((await list("docs/deep")).map((e) => e.name)).toEqual(["c.txt", "more"])
  })

  it("are removed where the policies allow, and their bytes become garbage", async () => {
    const alice = user()
    const mine = await upload(alice.caller, "avatars", `${alice.id}/gone.txt`)
    await upload(service, "avatars", "others/keep.txt")
    const removed = await send(Storage.RemoveObjects, {
      caller: alice.caller,
      bucket: "avatars",
      names: [`${alice.id}/gone.txt`, "others/keep.txt", "never/was.txt"],
    })
    expect(removed.map((o) => o.name)).toEqual([`${alice.id}/gone.txt`])
    expect(await stored(mine.blob_key)).toBe(false)
    const kept = await ask(Storage.GetObject, {
      caller: service,
      bucket: "avatars",
      name: "others/keep.txt",
      public: false,
    })
    expect(kept.name).toBe("others/keep.txt")
  })

  it("are moved and copied within a bucket and across buckets, as the policies allow", async () => {
    const alice = user()
    const original = await upload(alice.caller, "avatars", `${alice.id}/draft.txt`, { size: 9 })
    const move = (caller: Storage.Caller, from: string, to: string, destination = "avatars") =>
      send(Storage.MoveObject, { caller, bucket: "avatars", from, to, destination_bucket: destination })
    await move(alice.caller, `${alice.id}/draft.txt`, `${alice.id}/final.txt`)
    const moved = await ask(Storage.GetObject, {
      caller: alice.caller,
      bucket: "avatars",
      name: `${alice.id}/final.txt`,
      public: false,
    })
    expect(moved).toMatchObject({ id: original.id, blob_key: original.blob_key })
    // Out of its folder, the policy's check refuses it; another's object is not there for it.
    expect((await failure(move(alice.caller, `${alice.id}/final.txt`, "elsewhere/final.txt"))).code).toBe(
      "AccessDenied",
    )
    const bob = user()
    expect((await failure(move(bob.caller, `${alice.id}/final.txt`, `${bob.id}/mine.txt`))).code).toBe(
      "NoSuchKey",
    )
    const copy = (to: string, destination: string, upsert = false) =>
      send(Storage.CopyObject, {
        caller: service,
        bucket: "avatars",
        from: `${alice.id}/final.txt`,
        to,
        destination_bucket: destination,
        upsert,
      })
    const copied = await copy("copies/final.txt", "avatars")
    expect(copied.blob_key).not.toBe(original.blob_key)
    expect(copied.metadata).toMatchObject({ size: 9, eTag: original.metadata.eTag })
    expect(await stored(copied.blob_key)).toBe(true)
    expect((await failure(copy("copies/final.txt", "avatars"))).code).toBe("KeyAlreadyExists")
    await send(Storage.CreateBucket, { caller: service, id: "archive", name: "", settings: settings() })
    const across = await copy("kept/final.txt", "archive")
    expect(across).toMatchObject({ bucket_id: "archive", name: "kept/final.txt" })
    await send(Storage.MoveObject, {
      caller: service,
      bucket: "archive",
      from: "kept/final.txt",
      to: "back.txt",
      destination_bucket: "avatars",
    })
    expect(
      (await ask(Storage.GetObject, { caller: service, bucket: "avatars", name: "back.txt", public: false }))
        .id,
    ).toBe(across.id)
  })

  it("keep a bucket from being deleted until it is emptied", async () => {
    await send(Storage.CreateBucket, { caller: service, id: "temp", name: "", settings: settings() })
    const object = await upload(service, "temp", "a/b.txt")
    expect((await failure(send(Storage.DeleteBucket, { caller: service, id: "temp" }))).code).toBe(
      "BucketNotEmpty",
    )
    await send(Storage.EmptyBucket, { caller: service, id: "temp" })
    expect(await stored(object.blob_key)).toBe(false)
    await send(Storage.DeleteBucket, { caller: service, id: "temp" })
    expect((await failure(ask(Storage.GetBucket, { caller: service, id: "temp" }))).code).toBe("NoSuchBucket")
  })
})

describe("the projections", () => {
  it("are rebuilt from the log into the same rows", async () => {
    const snapshot = () =>
      run(
        postgres.query(`select (select coalesce(jsonb_agg(b order by id), '[]') from storage.buckets b) as buckets,
                               (select coalesce(jsonb_agg(o order by id), '[]') from storage.objects o) as objects`),
      ).then((r) => r.rows[0])
    const before = await snapshot()
    await run(rebuild(postgres, Projections.projector))
    expect(await snapshot()).toEqual(before)
  })
})
