/**
 * A pause between polls that Ctrl-C cuts short: it resolves (never rejects) when the signal aborts, so a
 * polling loop ends through its own `signal.aborted` check instead of an AbortError at every caller.
 */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, {once: true})
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}
