/** Compares dotted versions ("0.27.0" >= "0.20.0"); a missing part counts as 0. */
export function versionAtLeast(actual: string, minimum: string): boolean {
  const parse = (version: string) => version.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map((part) => Number.parseInt(part, 10) || 0)
  const [a, b] = [parse(actual), parse(minimum)]
  for (let index = 0; index < 3; index++) {
    if ((a[index] ?? 0) !== (b[index] ?? 0)) return (a[index] ?? 0) > (b[index] ?? 0)
  }
  return true
}
