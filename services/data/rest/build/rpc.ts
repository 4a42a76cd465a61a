// /rpc/fn: choosing the overload the arguments name, and the SQL that calls it.
import type { FunctionArg, Routine } from "../../schema/SchemaCache.ts"
import { isJsonType } from "../../schema/SchemaCache.ts"
import { ident, type Params, qualified, typeSql } from "../identifiers.ts"
import { ambiguousFunction, noFunction } from "../PostgrestError.ts"

export interface Call {
  readonly routine: Routine
  /** The arguments passed, in the function's order. */
  readonly args: ReadonlyArray<FunctionArg>
  /** The whole body goes to the single unnamed json/jsonb parameter. */
  readonly whole: boolean
}

const matches = (routine: Routine, keys: ReadonlySet<string>): boolean => {
  if (routine.args.length === 0) return keys.size === 0
  const required = routine.args.filter((a) => !a.hasDefault).map((a) => a.name)
  const optional = routine.args.filter((a) => a.hasDefault).map((a) => a.name)
  return (
    [...keys].every((k) => required.includes(k) || optional.includes(k)) && required.every((r) => keys.has(r))
  )
}

const singleUnnamedJson = (routine: Routine) =>
  routine.args.length === 1 && routine.args[0]!.name === "" && isJsonType(routine.args[0]!)

const signature = (r: Routine) =>
  `${r.schema}.${r.name}(${r.args.map((a) => `${a.name} => ${a.type}`).join(", ")})`

/** The overload that takes exactly these argument names, as PostgREST's findProc chooses it. */
export const chooseRoutine = (
  routines: ReadonlyArray<Routine>,
  schema: string,
  name: string,
  keys: ReadonlyArray<string>,
  isPost: boolean,
): Call => {
  const keySet = new Set(keys)
  const named = routines.filter((r) => matches(r, keySet))
  const fallback = isPost ? routines.filter((r) => !matches(r, keySet) && singleUnnamedJson(r)) : []
  if (named.length > 1) throw ambiguousFunction(named.map(signature))
  if (named.length === 1) {
    const routine = named[0]!
    return { routine, args: routine.args.filter((a) => keySet.has(a.name)), whole: false }
  }
  if (fallback.length > 1) throw ambiguousFunction(fallback.map(signature))
  if (fallback.length === 1) return { routine: fallback[0]!, args: [], whole: true }
  throw noFunction(schema, name, keys, isPost)
}

/**
 * The FROM items that call the function: the arguments typed by json_to_record, then the call.
 * `bodyText` is the JSON object of arguments (or the whole body for a single json parameter).
 */
export const callSql = (call: Call, bodyText: string, params: Params) => {
  const fn = qualified(call.routine.schema, call.routine.name)
  if (call.whole) {
    return { args: "", call: `${fn}(${params.add(bodyText)}::${typeSql(call.routine.args[0]!)})` }
  }
  if (call.args.length === 0) return { args: "", call: `${fn}()` }
  const definitions = call.args.map((a) => `${ident(a.name)} ${typeSql(a)}`).join(", ")
  const passed = call.args
    .map((a) => `${a.variadic ? "VARIADIC " : ""}${ident(a.name)} := pgrst_args.${ident(a.name)}`)
    .join(", ")
  return {
    args: `json_to_record(${params.add(bodyText)}::json) AS pgrst_args(${definitions})`,
    call: `${fn}(${passed})`,
  }
}
