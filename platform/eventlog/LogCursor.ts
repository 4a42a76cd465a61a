// A place in the event log as followers read it: (transaction id, position), ordered as a pair.
export interface LogCursor {
  readonly transactionId: bigint
  readonly position: bigint
}

export const start: LogCursor = { transactionId: 0n, position: 0n }

export const format = (cursor: LogCursor): string => `${cursor.transactionId}:${cursor.position}`

export const parse = (text: string): LogCursor | undefined => {
  const match = /^(\d+):(\d+)$/.exec(text)
  return match ? { transactionId: BigInt(match[1]!), position: BigInt(match[2]!) } : undefined
}

export const compare = (a: LogCursor, b: LogCursor): number =>
  a.transactionId !== b.transactionId
    ? a.transactionId < b.transactionId
      ? -1
      : 1
    : a.position === b.position
      ? 0
      : a.position < b.position
        ? -1
        : 1

export const max = (a: LogCursor, b: LogCursor): LogCursor => (compare(a, b) >= 0 ? a : b)
