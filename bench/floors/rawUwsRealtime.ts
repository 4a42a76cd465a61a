// The realtime floor: uWS with its own pub/sub and nothing else. Sockets subscribe to their team's
// topic; on stdin `rate <changes per second> <teams>` it publishes that many small frames per
// second, spread over the teams, each stamped with `sent_at` as the Reactor workload's rows are.
import { createInterface } from "node:readline"
import { loadUws } from "../../gateway/uws.ts"
import { pace } from "../realtime/pace.ts"

const port = Number(process.argv[2])
const uws = loadUws(false)
const app = uws.App()
app.ws<{ team: string }>("/*", {
  upgrade: (res, req, context) =>
    res.upgrade(
      { team: new URLSearchParams(req.getQuery() ?? "").get("team") ?? "0" },
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context,
    ),
  open: (ws) => {
    ws.subscribe(`team-${ws.getUserData().team}`)
  },
})
let stop = () => {}
let n = 0
createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, rate, teams] = line.split(" ")
  if (command !== "rate") return
  stop()
  stop = pace(Number(rate), (due) => {
    for (let i = 0; i < due; i++, n++) {
      const team = n % Number(teams)
      app.publish(
        `team-${team}`,
        `{"event":"postgres_changes","topic":"realtime:team-${team}","payload":{"ids":[1],"data":{"schema":"public","table":"team_items","type":"INSERT","record":{"id":${n},"team_id":${team},"note":"x","sent_at":${Date.now()}}}},"ref":null}`,
      )
    }
  })
})
app.listen("127.0.0.1", port, (socket) => {
  if (socket) process.stdout.write("listening\n")
})
