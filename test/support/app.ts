// The app the Data and Realtime tests run against: its migrations, and users signed in to it.
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import type { SupabaseClient } from "@supabase/supabase-js"
import { packageRoot } from "../../platform/paths.ts"
import type { RunningReactor } from "./reactor.ts"
import { supabaseClient } from "./supabase.ts"

export const appMigrations = join(packageRoot, "test", "fixtures", "app", "migrations")

export interface SignedIn {
  readonly client: SupabaseClient
  readonly userId: string
  readonly token: string
}

/** A supabase-js client signed in as a new user (its realtime socket uses the user's token). */
export const signedIn = async (reactor: RunningReactor): Promise<SignedIn> => {
  const client = supabaseClient(reactor.url, reactor.anonKey)
  const { data, error } = await client.auth.signUp({
    email: `u-${randomUUID().slice(0, 8)}@example.com`,
    password: "correct horse battery staple",
  })
  if (error !== null) throw error
  await client.realtime.setAuth(data.session!.access_token)
  return { client, userId: data.user!.id, token: data.session!.access_token }
}

export { waitFor as eventually } from "./reactor.ts"
