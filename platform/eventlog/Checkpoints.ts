// Where a named follower of the log stopped (reactor.checkpoints).
import { Effect } from "effect"
import type { PgError, Tx } from "../postgres/Postgres.ts"
import { type LogCursor, start } from "./LogCursor.ts"

export const load = (tx: Tx, name: string): Effect.Effect<LogCursor, PgError> =>
  tx
    .query<{ transaction_id: string; position: string }>(
      "select transaction_id::text, position from reactor.checkpoints where name = $1",
      [name],
    )
    .pipe(
      Effect.map(({ rows }) =>
        rows[0] === undefined
          ? start
          : { transactionId: BigInt(rows[0].transaction_id), position: BigInt(rows[0].position) },
      ),
    )

export const save = (tx: Tx, name: string, cursor: LogCursor): Effect.Effect<void, PgError> =>
  tx
    .query({
      name: "reactor.checkpoint-save",
      text: `insert into reactor.checkpoints (name, transaction_id, position) values ($1, $2::text::xid8, $3)
             on conflict (name) do update set transaction_id = excluded.transaction_id, position = excluded.position, updated_at = now()`,
      values: [name, cursor.transactionId.toString(), cursor.position.toString()],
    })
    .pipe(Effect.asVoid)
