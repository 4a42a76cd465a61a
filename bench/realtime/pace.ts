// A steady rate from a coarse timer. setInterval slips a little on every tick under load, so a
// writer that sends a fixed batch per tick offers less than it claims (5% less was seen here);
// each tick instead sends what the clock says is due since the rate was set.

/** Calls `send(n)` every `tickMs` with the number of items due; returns the function that stops it. */
export const pace = (rate: number, send: (due: number) => void, tickMs = 10): (() => void) => {
  if (rate <= 0) return () => {}
  const start = performance.now()
  let sent = 0
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * rate) / 1000) - sent
    if (due <= 0) return
    sent += due
    send(due)
  }, tickMs)
  return () => clearInterval(timer)
}
