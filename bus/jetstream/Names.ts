// Where messages travel on NATS: every subject and stream name of one bus, under its prefix, so
// several Reactors (or tests) share a server without seeing each other.
import { createHash } from "node:crypto"

export interface Names {
  /** A contract's subject as it travels on this bus. */
  readonly subject: (subject: string) => string
  /** The contract subject a message arrived on, without the prefix. */
  readonly unprefix: (subject: string) => string
  readonly commandStream: (capability: string) => string
  readonly commandSubjects: (capability: string) => string
  /** Where a command is handed straight to a worker, over core NATS, before it goes to the stream. */
  readonly directSubject: (subject: string) => string
  readonly directSubjects: (capability: string) => string
  /** The contract subject a command handed straight to a worker arrived on. */
  readonly undirect: (subject: string) => string
  readonly replySubject: (capability: string, token: string) => string
  /** Where a sender's replies that are not kept arrive, one subject per command: core NATS. */
  readonly inboxSubject: (owner: string, token: string) => string
  readonly inboxSubjects: (owner: string) => string
  readonly repliesStream: string
  readonly repliesSubjects: string
  /** Core NATS, not JetStream: signals are not stored. */
  readonly signalSubject: (topic: string) => string
  readonly eventsStream: string
  readonly eventsSubjects: string
}

/** Stream, consumer and queue names may not hold `.`, `*`, `>` or whitespace. */
export const safeName = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, "_")

/**
 * One token per command subject and idempotency key: the JetStream message id (dedupe) and the
 * last part of the reply subject, safe in both whatever the client's key holds.
 */
export const commandToken = (subject: string, key: string): string =>
  createHash("sha256").update(subject).update("\u0000").update(key).digest("hex")

export const make = (prefix: string): Names => {
  const subject = (s: string) => (prefix === "" ? s : `${prefix}.${s}`)
  const stream = (name: string) => (prefix === "" ? name : `${safeName(prefix)}_${name}`)
  const head = prefix === "" ? "" : `${prefix}.`
  const direct = `${head}direct.`
  return {
    subject,
    unprefix: (s) => (s.startsWith(head) ? s.slice(head.length) : s),
    commandStream: (capability) => stream(`CMD_${safeName(capability)}`),
    commandSubjects: (capability) => subject(`cmd.${capability}.>`),
    directSubject: (s) => `${direct}${s}`,
    directSubjects: (capability) => `${direct}cmd.${capability}.>`,
    undirect: (s) => (s.startsWith(direct) ? s.slice(direct.length) : s),
    replySubject: (capability, token) => subject(`reply.${capability}.${token}`),
    inboxSubject: (owner, token) => subject(`inbox.${owner}.${token}`),
    inboxSubjects: (owner) => subject(`inbox.${owner}.*`),
    signalSubject: (topic) => subject(`sig.${safeName(topic)}`),
    repliesStream: stream("REPLIES"),
    repliesSubjects: subject("reply.>"),
    eventsStream: stream("EVENTS"),
    eventsSubjects: subject("evt.>"),
  }
}
