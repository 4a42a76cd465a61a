// Floor (a): the fastest a uWS server answers on this machine — a constant "hello", nothing else.
import { loadUws } from "../../gateway/uws.ts"

const uws = loadUws(false)
const port = Number(process.argv[2])
uws
  .App()
  .get("/*", (res) => {
    res.cork(() => res.writeHeader("content-type", "application/json").end('{"message":"hi"}'))
  })
  .listen("127.0.0.1", port, (socket) => {
    if (!socket) process.exit(1)
    process.stdout.write("listening\n")
  })
