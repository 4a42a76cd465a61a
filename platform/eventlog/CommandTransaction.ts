// One command, one transaction: look up the idempotency key, decide, append events, update
// projections, keep the reply under the key, commit. A command redelivered after its worker died
// finds the reply and returns it, so it takes effect once.
import { Data, Effect, Schema } from "effect"
import type { HandlerContext, Meta } from "../../bus/Bus.ts"
import { tagOf } from "../../contracts/avro/Codec.ts"
import type { Command, ErrorOf, SuccessOf } from "../../contracts/Contract.ts"
import { PgError, type PostgresShape, type Tx } from "../postgres/Postgres.ts"
import * as EventStore from "./EventStore.ts"
import * as Wakeup from "./Wakeup.ts"

/** A decision to commit the events appended so far and still reply with an error. */
export class CommitThenFail<E> extends Data.Class<{ readonly error: E }> {}

export interface CommandTx extends Tx {
  /** Appends to a stream read at `expectedVersion`; see EventStore.append. */
  readonly append: (
    streamId: string,
    expectedVersion: number,
    events: ReadonlyArray<EventStore.NewEvent>,
  ) => Effect.Effect<void, EventStore.ConcurrencyConflict | PgError>
  readonly readStream: (streamId: string) => ReturnType<typeof EventStore.readStream>
  readonly streamVersion: (streamId: string) => Effect.Effect<number, PgError>
}

/** Seals replies at rest in the command log, for commands whose replies hold secrets. */
export interface Sealer {
  readonly seal: (reply: unknown) => unknown
  readonly open: (stored: unknown) => unknown
}

export interface CommandOptions<C extends Command> {
  readonly contract: C
  readonly context: HandlerContext
  /** How long the reply is kept for a redelivery or a client retry with the same key (default 24 h). */
  readonly keepReplyMs?: number
  /** Attempts when another transaction appended to the same stream first (default 8). */
  readonly attempts?: number
  readonly sealer?: Sealer
  /**
   * Turns a reply its handler kept in a form of its own (an `outcome` it wrote to the command log
   * itself) into the reply; undefined for the outcomes `transact` keeps.
   */
  readonly revive?: (stored: StoredReply) => Effect.Effect<SuccessOf<C>, ErrorOf<C>> | undefined
}

/** A second transaction with the same key committed first; the retry will find its reply. */
class DuplicateKey extends Data.TaggedError("DuplicateKey")<{}> {}

type Runnable = Schema.Codec<unknown, unknown, never, never>

export interface StoredReply {
  readonly outcome: string
  readonly reply: unknown
}

const lookup = (tx: Tx, subject: string, key: string) =>
  tx
    .query<StoredReply>({
      name: "reactor.command-lookup",
      text: "select outcome, reply from reactor.command_log where subject = $1 and idempotency_key = $2",
      values: [subject, key],
    })
    .pipe(Effect.map(({ rows }) => rows[0]))

const replay = <C extends Command>(
  contract: C,
  sealed: StoredReply,
  sealer: Sealer | undefined,
  revive: CommandOptions<C>["revive"],
): Effect.Effect<SuccessOf<C>, ErrorOf<C>> => {
  const revived = revive?.(sealed)
  if (revived !== undefined) return revived
  const stored = sealer === undefined ? sealed : { outcome: sealed.outcome, reply: sealer.open(sealed.reply) }
  if (stored.outcome === "ok") {
    return Effect.succeed(
      Schema.decodeUnknownSync(contract.success as unknown as Runnable)(stored.reply) as SuccessOf<C>,
    )
  }
  const schema = contract.errors.find((e) => tagOf(e) === stored.outcome)
  if (schema === undefined) return Effect.die(new Error(`stored reply has unknown outcome ${stored.outcome}`))
  return Effect.fail(Schema.decodeUnknownSync(schema as unknown as Runnable)(stored.reply) as ErrorOf<C>)
}

type CommandMeta = Meta & { readonly idempotencyKey: string; readonly causation: string }

/** One attempt in `tx`: the reply a repeat finds, or the body's decision with its reply kept. */
const decide = Effect.fnUntraced(function* <C extends Command, E, R>(
  tx: Tx,
  n: number,
  options: CommandOptions<C>,
  meta: CommandMeta,
  body: (
    tx: CommandTx,
  ) => Effect.Effect<SuccessOf<C> | CommitThenFail<ErrorOf<C>>, E | EventStore.ConcurrencyConflict, R>,
) {
  const { contract, context } = options
  // Reads come before the first write (see docs/architecture.md, "Commands, exactly once").
  // The first attempt of a key the bus made cannot have run before (`mayHaveRun` is false);
  // anything else may have, so its stored reply is looked up. Either way the command_log row's
  // unique key is the backstop: a duplicate that slips through fails on insert and is retried
  // with the lookup.
  const mayRepeat = n > 0 || context.mayHaveRun
  const stored = mayRepeat ? yield* lookup(tx, contract.subject, context.idempotencyKey) : undefined
  if (stored !== undefined) return { stored, fresh: false, appended: false }
  let appended = false
  const commandTx: CommandTx = {
    query: tx.query,
    send: tx.send,
    append: (streamId, expectedVersion, events) => {
      appended ||= events.length > 0
      return EventStore.append(tx, streamId, expectedVersion, events, meta)
    },
    readStream: (streamId) => EventStore.readStream(tx, streamId),
    streamVersion: (streamId) => EventStore.streamVersion(tx, streamId),
  }
  const decision = yield* body(commandTx)
  const reply: StoredReply =
    decision instanceof CommitThenFail
      ? {
          outcome: decision.error._tag,
          reply: Schema.encodeSync(
            contract.errors.find((e) => tagOf(e) === decision.error._tag) as unknown as Runnable,
          )(decision.error),
        }
      : { outcome: "ok", reply: Schema.encodeSync(contract.success as unknown as Runnable)(decision) }
  // Sent, not waited for: it is answered with the commit, which reports a duplicate key.
  yield* tx.send({
    name: "reactor.command-store",
    text: `insert into reactor.command_log (subject, idempotency_key, outcome, reply, expires_at)
           values ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')`,
    values: [
      contract.subject,
      context.idempotencyKey,
      reply.outcome,
      JSON.stringify(options.sealer === undefined ? reply.reply : options.sealer.seal(reply.reply)),
      options.keepReplyMs ?? 86_400_000,
    ],
  })
  return { stored: reply, fresh: true, appended }
})

export const transact = <C extends Command, E, R>(
  postgres: PostgresShape,
  options: CommandOptions<C>,
  body: (
    tx: CommandTx,
  ) => Effect.Effect<SuccessOf<C> | CommitThenFail<ErrorOf<C>>, E | EventStore.ConcurrencyConflict, R>,
): Effect.Effect<SuccessOf<C>, ErrorOf<C> | E | PgError | EventStore.UnknownEvent, R> => {
  const { contract, context } = options
  // Named fields, not a spread: a caller's meta may compute its trace context in a getter.
  const meta = {
    requestId: context.meta.requestId,
    ...(context.meta.traceparent === undefined ? {} : { traceparent: context.meta.traceparent }),
    idempotencyKey: context.idempotencyKey,
    causation: contract.subject,
  }

  const attempt = (n: number) =>
    postgres
      .transaction((tx) => decide(tx, n, options, meta, body))
      .pipe(
        Effect.catchIf(
          (error) =>
            error instanceof PgError && error.code === "23505" && error.constraint === "command_log_pkey",
          () => Effect.fail(new DuplicateKey()),
        ),
      )

  const attempts = options.attempts ?? 8
  const retrying = (
    n: number,
  ): Effect.Effect<
    { stored: StoredReply; fresh: boolean; appended: boolean },
    E | PgError | EventStore.UnknownEvent,
    R
  > =>
    attempt(n).pipe(
      Effect.catchIf(
        (error): error is EventStore.ConcurrencyConflict | DuplicateKey =>
          (error as { _tag?: string })._tag === "ConcurrencyConflict" ||
          (error as { _tag?: string })._tag === "DuplicateKey",
        (error) =>
          n + 1 >= attempts && error._tag === "ConcurrencyConflict"
            ? Effect.die(new Error(`stream ${error.streamId} kept changing under ${contract.subject}`))
            : Effect.andThen(Effect.sleep(Math.floor(Math.random() * 5 * (n + 1))), retrying(n + 1)),
      ),
    ) as never

  // A reply made in this attempt is already open; one found in the log may be sealed.
  return retrying(0).pipe(
    Effect.tap(({ appended }) => (appended ? Effect.sync(Wakeup.signal) : Effect.void)),
    Effect.flatMap(({ stored, fresh }) =>
      replay(contract, stored, fresh ? undefined : options.sealer, options.revive),
    ),
  )
}
