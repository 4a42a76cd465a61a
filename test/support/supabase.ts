// supabase-js as the tests use it: no session storage, no background refresh, and `ws` as its
// WebSocket (Node 20 has none built in).
import { createClient, type SupabaseClient } from "@supabase/supabase-js"
import ws from "ws"

export const supabaseClient = (url: string, key: string): SupabaseClient =>
  createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws as never },
  })
