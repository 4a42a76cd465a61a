// The raw responder of the NATS floor: answers bench.echo with what it was sent.
import { connect } from "@nats-io/transport-node"

const nc = await connect({ servers: process.argv[2]! })
nc.subscribe("bench.echo", { queue: "echo", callback: (_, msg) => void msg.respond(msg.data) })
await nc.flush()
process.stdout.write("listening\n")
