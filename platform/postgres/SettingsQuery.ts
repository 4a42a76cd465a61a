// One statement with transaction-local settings in front of it, written as one batch ending in one
// Sync. In the extended protocol everything before a Sync is one implicit transaction, so the
// settings hold for the statement and vanish at its end, a failure anywhere rolls back the lot, and
// there is no BEGIN or COMMIT to wait for: one round trip where BEGIN, statement, COMMIT take three.
//
// pg has no public way to write two statements before a Sync, so this extends its Query and
// reaches into the connection it is given (parse/bind/execute and the statement bookkeeping); pg
// still parses the rows and calls back as for any query.
import pg from "pg"

/** The part of pg's connection a query writes to; not in pg's types. */
interface Connection {
  readonly parsedStatements: Record<string, string | undefined>
  readonly submittedNamedStatements: Record<string, string | undefined>
  parse(message: { text: string; name: string }): void
  bind(message: { portal: string; statement: string; values: ReadonlyArray<unknown> }): void
  execute(message: { portal: string }): void
  close(message: { type: "S"; name: string }): void
}

interface QueryInternals {
  name: string
  text: string
  values: Array<unknown>
  requiresPreparation(): boolean
  prepare(connection: Connection): void
  handleDataRow(message: unknown): void
  handleCommandComplete(message: unknown, connection: Connection): void
  handleError(error: Error, connection: Connection): void
}

const Base = pg.Query as unknown as new (text: string) => QueryInternals & pg.Query

const isParsed = (connection: Connection, name: string) =>
  connection.parsedStatements[name] !== undefined || connection.submittedNamedStatements[name] !== undefined

/** `select set_config($1, $2, true), …` for `count` settings, prepared once per connection. */
const settingsStatement = (count: number) => {
  let statement = settingsStatements[count]
  if (statement === undefined) {
    statement = {
      name: `reactor.settings-${count}`,
      text: `select ${Array.from({ length: count }, (_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(", ")}`,
    }
    settingsStatements[count] = statement
  }
  return statement
}
const settingsStatements: Array<{ readonly name: string; readonly text: string }> = []

/**
 * The statement that sets `settings` for the rest of a transaction, with its values. Built by
 * hand: once per request, and `flat()` and a spread took ~2.7 µs of it against ~0.03.
 */
export const settingsQuery = (settings: Settings) => {
  const { name, text } = settingsStatement(settings.length)
  const values = new Array<string>(settings.length * 2)
  for (let i = 0; i < settings.length; i++) {
    const [setting, value] = settings[i]!
    values[2 * i] = setting
    values[2 * i + 1] = value
  }
  return { name, text, values }
}

export type Settings = ReadonlyArray<readonly [name: string, value: string]>

/**
 * A prepared statement written after the caller's, in its batch; its rows are not the caller's.
 * Its values are text, as Postgres takes them: they are bound as they are.
 */
export interface Trailing {
  readonly name: string
  readonly text: string
  readonly values: ReadonlyArray<string | null>
}

/**
 * The name a batch prepares a statement under. A failed batch forgets the statements it parsed
 * though some of them exist (see parseOnce), which only its own close-then-parse can tolerate; pg
 * parses a name it does not know without a close first, and Postgres refuses a name it has. So
 * what batches prepare lives apart from what pg prepares on the same connection (a transaction's
 * settings and statements, checked out from the pool a batch also uses).
 */
const batchName = (name: string) => `batch.${name}`

class SettingsQuery extends Base {
  /** Results of the settings statement still to come, which are not the caller's. */
  private pending = 1
  /** Set once the caller's statement completes: what follows is the trailing statements'. */
  private done = false
  private readonly settings: { readonly name: string; readonly text: string; readonly values: Array<string> }
  private parsedHere: Array<string> = []

  constructor(
    config: { readonly text: string; readonly name: string; readonly values: Array<unknown> },
    settings: Settings,
    private readonly trailing: ReadonlyArray<Trailing>,
  ) {
    // The text alone: pg copies a config object property by property (~2.5 µs, once per request).
    super(config.text)
    this.name = config.name === "" ? "" : batchName(config.name)
    this.values = config.values
    const { name, text, values } = settingsQuery(settings)
    this.settings = { name: batchName(name), text, values }
  }

  /** pg sends a statement without parameters as a simple query, which cannot share a Sync. */
  override requiresPreparation() {
    return true
  }

  /**
   * Parses a named statement unless the connection has it. pg marks a statement parsed when any
   * ParseComplete arrives while its query is active, so a batch that fails cannot tell which of its
   * statements exist: it forgets them all (handleError), and a later Parse first closes the name,
   * which is no error when nothing has it.
   */
  private parseOnce(connection: Connection, name: string, text: string) {
    if (isParsed(connection, name)) return
    connection.close({ type: "S", name })
    connection.parse({ text, name })
    connection.submittedNamedStatements[name] = text
    this.parsedHere.push(name)
  }

  override prepare(connection: Connection) {
    this.parseOnce(connection, this.settings.name, this.settings.text)
    connection.bind({ portal: "", statement: this.settings.name, values: this.settings.values })
    connection.execute({ portal: "" })
    // An unnamed statement is parsed by pg's prepare, as every time.
    if (this.name !== "") this.parseOnce(connection, this.name, this.text)
    // pg's own prepare: Bind, Describe, then Execute and the Sync (_getRows), skipping a Parse just sent.
    super.prepare(connection)
  }

  /** pg's Execute and Sync for the caller's statement, with the trailing statements between. */
  _getRows(connection: Connection & { sync(): void }, rows: number | undefined) {
    connection.execute({ portal: "", ...(rows === undefined ? {} : { rows }) } as { portal: string })
    for (const statement of this.trailing) {
      const name = batchName(statement.name)
      this.parseOnce(connection, name, statement.text)
      connection.bind({ portal: "", statement: name, values: statement.values })
      connection.execute({ portal: "" })
    }
    connection.sync()
  }

  override handleDataRow(message: unknown) {
    if (this.pending === 0 && !this.done) super.handleDataRow(message)
  }

  override handleCommandComplete(message: unknown, connection: Connection) {
    if (this.pending === 0 && !this.done) {
      this.done = true
      return super.handleCommandComplete(message, connection)
    }
    if (this.pending > 0) this.pending--
    // The statements this batch parsed count as the connection's from now on; should a later one
    // fail, handleError forgets them all again.
    for (const name of this.parsedHere) {
      connection.parsedStatements[name] =
        connection.submittedNamedStatements[name] ?? connection.parsedStatements[name]
      delete connection.submittedNamedStatements[name]
    }
  }

  override handleError(error: Error, connection: Connection) {
    for (const name of this.parsedHere) {
      delete connection.parsedStatements[name]
      delete connection.submittedNamedStatements[name]
    }
    super.handleError(error, connection)
  }
}

/**
 * Runs `statement` after `settings` on `client`, and `trailing` after it, in one implicit
 * transaction: all of them take effect or none. The result is `statement`'s.
 */
export const querySettled = <R extends pg.QueryResultRow>(
  client: pg.ClientBase,
  statement: { readonly text: string; readonly name: string; readonly values?: ReadonlyArray<unknown> },
  settings: Settings,
  trailing: ReadonlyArray<Trailing> = [],
): Promise<pg.QueryResult<R>> =>
  new Promise((resolve, reject) => {
    const query = new SettingsQuery(
      { text: statement.text, name: statement.name, values: (statement.values ?? []) as Array<unknown> },
      settings,
      trailing,
    )
    ;(query as unknown as { callback: (error: Error | null, result: pg.QueryResult<R>) => void }).callback = (
      error,
      result,
    ) => (error === null || error === undefined ? resolve(result) : reject(error))
    client.query(query as never)
  })
