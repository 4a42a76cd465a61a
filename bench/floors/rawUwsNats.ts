// Floor for the decomposed path: uWS answering each request with a plain NATS request to a plain
// responder in another process — the same hops as gateway → bus → worker, none of Reactor's work.
import { connect } from "@nats-io/transport-node"
import { loadUws } from "../../gateway/uws.ts"

const uws = loadUws(false)
const [port, servers] = [Number(process.argv[2]), process.argv[3]!]
const nc = await connect({ servers })
const body = new TextEncoder().encode('{"message":"hi"}')
uws
  .App()
  .get("/*", (res) => {
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    nc.request("bench.echo", body, { timeout: 5_000 }).then(
      (reply) =>
        !aborted && res.cork(() => res.writeHeader("content-type", "application/json").end(reply.data)),
      () => !aborted && res.cork(() => res.writeStatus("504 Gateway Timeout").end()),
    )
  })
  .listen("127.0.0.1", port, (socket) => {
    if (!socket) process.exit(1)
    process.stdout.write("listening\n")
  })
