// Bad input gets a clear error, never a 500: seeded random requests to /storage/v1 — object names
// with traversal, unicode, encoded slashes and great length, malformed JSON for every operation,
// forms without boundaries, odd ranges and headers — must each be answered below 500, every error
// in the Storage API's shape, and no stored object half-written.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FuzzRequest, fuzz } from "../support/fuzz.ts"
import { type Random, random } from "../support/random.ts"
import { type RunningReactor, startReactor, topologies } from "../support/reactor.ts"

const buckets = ["pub", "priv", "nope", "", "%2e%2e", "a b"]
const names = [
  "a.txt",
  "dir/b.png",
  "../../etc/passwd",
  "..",
  ".",
  "%2e%2e/x",
  "a%2Fb",
  "été/ü.txt",
  "x".repeat(1100),
].concat(["dir/", "//double", "a\\b", "%00", "%E0%A4%A", "~/.ssh/id", "CON", "dir/sub/c.json", "%20"])
const jsonBodies = [undefined, "", "{}", "[]", "null", "{", '"s"', "[1,2]", '{"prefix":""}', '{"prefix":7}']
  .concat(['{"prefix":"dir","limit":-1,"offset":"x","sortBy":{"column":"nope","order":"up"}}'])
  .concat([
    '{"prefix":"","limit":1e9,"search":"%_\\\\"}',
    '{"prefixes":["a.txt","../x"]}',
    '{"prefixes":"a"}',
  ])
  .concat(['{"bucketId":"pub","sourceKey":"a.txt","destinationKey":"../b"}', '{"bucketId":"nope"}'])
  .concat(['{"bucketId":"pub","sourceKey":"a.txt","destinationKey":"c.txt","destinationBucket":"priv"}'])
  .concat(['{"expiresIn":60}', '{"expiresIn":-5}', '{"expiresIn":"soon"}', '{"expiresIn":1e30}'])
  .concat(['{"expiresIn":60,"paths":["a.txt","nope",null]}', '{"paths":"a"}'])
  .concat(['{"id":"b1","name":"b1","public":"yes"}', '{"name":"b2","file_size_limit":"10MB"}'])
  .concat(['{"name":"b3","file_size_limit":-1,"allowed_mime_types":"image/*"}', '{"public":true}'])
  .concat(['{"limit":5,"cursor":"garbage","with_delimiter":"x"}'])
const rawBodies = ["", "hello", "x".repeat(5000), "--b\r\ncontent-disposition: form-data\r\n\r\nx\r\n--b--"]
const contentTypes = ["text/plain", "image/png", "application/json", "multipart/form-data"].concat([
  "multipart/form-data; boundary=b",
  "multipart/form-data; boundary=",
  "",
  "a/b/c",
  "image/",
])

const request = ({ pick, chance }: Random, keys: { anon: string; service: string }): FuzzRequest => {
  const name = () => pick(names)
  const bucket = () => pick(buckets)
  const routes: ReadonlyArray<() => { method: string; path: string; json: boolean }> = [
    () => ({ method: pick(["POST", "PUT"]), path: `object/${bucket()}/${name()}`, json: false }),
    () => ({ method: pick(["GET", "HEAD"]), path: `object/${bucket()}/${name()}`, json: false }),
    () => ({ method: pick(["GET", "HEAD"]), path: `object/public/${bucket()}/${name()}`, json: false }),
    () => ({ method: "GET", path: `object/info/${bucket()}/${name()}`, json: false }),
    () => ({ method: "GET", path: `object/authenticated/${bucket()}/${name()}`, json: false }),
    () => ({ method: "POST", path: `object/list/${bucket()}`, json: true }),
    () => ({ method: "POST", path: `object/list-v2/${bucket()}`, json: true }),
    () => ({ method: "POST", path: pick(["object/move", "object/copy"]), json: true }),
    () => ({ method: "DELETE", path: `object/${bucket()}`, json: true }),
    () => ({ method: "POST", path: `object/sign/${bucket()}${chance(0.5) ? `/${name()}` : ""}`, json: true }),
    () => ({
      method: "GET",
      path: `object/sign/${bucket()}/${name()}?token=${pick(["", "x.y.z", "abc"])}`,
      json: false,
    }),
    () => ({ method: "POST", path: `object/upload/sign/${bucket()}/${name()}`, json: true }),
    () => ({
      method: "PUT",
      path: `object/upload/sign/${bucket()}/${name()}?token=${pick(["", "x.y.z"])}`,
      json: false,
    }),
    () => ({ method: pick(["GET", "POST"]), path: "bucket", json: true }),
    () => ({ method: pick(["GET", "PUT", "DELETE"]), path: `bucket/${bucket()}`, json: true }),
    () => ({ method: "POST", path: `bucket/${bucket()}/empty`, json: true }),
  ]
  // One in five is a well-formed upload, so there are objects for the rest to act on.
  const good = chance(0.2)
  const { method, path, json } = good
    ? {
        method: "POST",
        path: `object/${pick(["pub", "priv"])}/${pick(["a.txt", "dir/b.txt", "été/ü.txt", "dir/sub/c.txt"])}`,
        json: false,
      }
    : pick(routes)()
  const headers: Record<string, string> = {
    apikey: keys.anon,
    authorization: `Bearer ${chance(0.5) ? keys.service : keys.anon}`,
  }
  let body: string | undefined
  if (method !== "GET" && method !== "HEAD") {
    body = good ? "hello" : json ? pick(jsonBodies) : pick(rawBodies)
    headers["content-type"] = good
      ? "text/plain"
      : json && chance(0.9)
        ? "application/json"
        : pick(contentTypes)
  }
  if (chance(0.2)) headers["x-upsert"] = pick(["true", "false", "yes"])
  if (chance(0.2)) headers["cache-control"] = pick(["max-age=60", "no-cache", "", "max-age=x"])
  if (chance(0.2))
    headers["range"] = pick([
      "bytes=0-1",
      "bytes=5-",
      "bytes=-3",
      "bytes=9-2",
      "bytes=x",
      "lines=1-2",
      "bytes=0-1,4-5",
    ])
  if (chance(0.1)) headers["if-none-match"] = pick(['"abc"', "*", 'W/"x"'])
  if (chance(0.1)) headers["x-metadata"] = pick(["e30=", "not base64", "eyJ9"])
  const query = chance(0.1) ? `${path.includes("?") ? "&" : "?"}download=${pick(["", "x.txt", "%00"])}` : ""
  return { method, path: `/storage/v1/${path}${query}`, headers, body }
}

describe.each(topologies)("/storage/v1 under random bad input (%s)", (topology) => {
  let reactor: RunningReactor
  const service = () => ({ apikey: reactor.anonKey, authorization: `Bearer ${reactor.serviceKey}` })

  beforeAll(async () => {
    reactor = await startReactor(topology)
    for (const bucket of [
      { name: "pub", public: true, allowed_mime_types: ["text/*", "image/png"] },
      { name: "priv", public: false, file_size_limit: 1000 },
    ]) {
      const response = await fetch(`${reactor.url}/storage/v1/bucket`, {
        method: "POST",
        headers: { ...service(), "content-type": "application/json" },
        body: JSON.stringify(bucket),
      })
      expect(response.status).toBe(200)
    }
  }, 90_000)
  afterAll(() => reactor?.stop())

  it("answers every request below 500, with errors in the Storage API's shape", async () => {
    const r = random(topology === "single" ? 21 : 22)
    const keys = { anon: reactor.anonKey, service: reactor.serviceKey }
    const uploaded = new Set<string>()
    const { wrong, statuses } = await fuzz(reactor.url, {
      requests: 800,
      make: () => request(r, keys),
      // A path whose dot segments (`..`, `%2e%2e`) the client resolved out of /storage/v1 reaches
      // no Storage route: that answer is the gateway's own, `{message}`. A 416 (a Range it cannot
      // serve) is left unchecked.
      errorKeys: ({ request, status }) =>
        status === 416
          ? undefined
          : new URL(`${reactor.url}${request.path}`).pathname.startsWith("/storage/v1/")
            ? ["statusCode", "error", "message"]
            : ["message"],
      onAnswer: ({ request, status }) => {
        const upload = /^\/storage\/v1\/object\/((?:pub|priv)\/[^?]+)/.exec(request.path)
        if (status === 200 && (request.method === "POST" || request.method === "PUT") && upload !== null)
          uploaded.add(upload[1]!)
      },
    })
    expect(wrong).toEqual([])
    for (const status of [200, 400]) expect(statuses.get(status) ?? 0).toBeGreaterThan(0)
    // What was stored is whole: every upload answered 200 that still exists downloads with the
    // size its info says (the requests may have moved, removed or emptied it since).
    expect(uploaded.size).toBeGreaterThan(0)
    let checked = 0
    for (const path of uploaded) {
      const info = await fetch(`${reactor.url}/storage/v1/object/info/${path}`, { headers: service() })
      if (info.status !== 200) continue
      const { size } = (await info.json()) as { size: number }
      const object = await fetch(`${reactor.url}/storage/v1/object/${path}`, { headers: service() })
      expect(object.status, path).toBe(200)
      expect((await object.arrayBuffer()).byteLength, path).toBe(size)
      checked++
    }
    expect(checked).toBeGreaterThan(0)
  }, 120_000)
})
