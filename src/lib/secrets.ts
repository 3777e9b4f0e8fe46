/**
 * The one place that knows which strings are secret. Values from `.env` are registered here as soon
 * as they are read; every line devkube prints or writes passes through redact(), so a secret that
 * reaches a tool's output or an error message is masked before anyone sees it.
 */
const secretValues = new Set<string>()

/** Masks values of at least this length: shorter ones ("1", "on") would mask ordinary words. */
const MIN_SECRET_LENGTH = 3
export const MASK = '••••••'

export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) secretValues.add(value)
}

export function redact(text: string): string {
  if (secretValues.size === 0 || !text) return text
  let result = text
  // Longest first, so a secret containing another is masked whole.
  for (const value of [...secretValues].sort((a, b) => b.length - a.length)) {
    result = result.split(value).join(MASK)
  }
  return result
}
