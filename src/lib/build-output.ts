/**
 * Reads what `docker build` printed, in either builder's format, to say where a build failed.
 *
 * The classic builder prints "Step 3/8 : RUN …" followed by the step's output (its stderr wrapped in
 * ANSI colour codes even off a TTY). BuildKit's plain progress prints numbered records: "#8 [3/4] RUN …"
 * (or "#8 [builder 3/4] …" in multi-stage builds), then "#8 0.236 <output>" and "#8 ERROR: …"; a base
 * image that cannot be pulled fails at "#3 [internal] load metadata for IMAGE", before any FROM step.
 */

const ANSI = /\u001B\[[0-?]*[ -/]*[@-~]|\u001B[@-Z\\-_]/g

export function stripAnsi(text: string): string {
  return text.replaceAll(ANSI, '')
}

/** The docker CLI's banner about the legacy builder: noise, never the reason a build failed. */
const LEGACY_BANNER = /^(DEPRECATED: The legacy builder is deprecated|\s+Install the buildx component|\s+https:\/\/docs\.docker\.com\/go\/buildx\/?$|\s+BuildKit is currently disabled)/

const PULL_FAILED = /pull access denied|registry-1\.docker\.io|no such host|manifest unknown|manifest for .* not found|failed to resolve source metadata|failed to do request|TLS handshake timeout|i\/o timeout|not found: not found|unauthorized|denied: /i

/** Lines of a failing step's output kept for the message: the reason is at the end. */
export const STEP_OUTPUT_LINES = 15

export interface BuildFailure {
  /** The step that failed, as the builder names it ("Step 3/4 : RUN npm ci", "[3/4] RUN npm ci"). */
  step?: string
  /** Set when the build stopped because this base image could not be pulled (as the builder resolved it). */
  baseImage?: string
  /** For the classic builder, the FROM step's argument as written ("${PYTHON_IMAGE}"): the builder does not resolve it. */
  fromArgument?: string
  /** What the failing step printed, without colour codes, ending with the error. */
  output: string[]
}

export function readBuildFailure(rawLines: string[]): BuildFailure {
  const lines = rawLines.map(stripAnsi).filter((line) => !LEGACY_BANNER.test(line))
  return lines.some((line) => /^#\d+ /.test(line)) ? readBuildKit(lines) : readClassic(lines)
}

function readClassic(lines: string[]): BuildFailure {
  const stepIndex = lines.findLastIndex((line) => /^Step \d+\/\d+ : /.test(line))
  if (stepIndex === -1) return {output: lastLines(lines)}
  const step = lines[stepIndex]
  const output = lastLines(lines.slice(stepIndex + 1).filter((line) => !/^ ---> |^Removing intermediate container /.test(line)))
  const from = /^Step \d+\/\d+ : FROM\s+(\S+)/i.exec(step)
  if (from && PULL_FAILED.test(output.join('\n'))) return {step, fromArgument: from[1], baseImage: from[1].includes('$') ? undefined : from[1], output}
  return {step, output}
}

function readBuildKit(lines: string[]): BuildFailure {
  const headers = new Map<string, string>()
  const records = new Map<string, string[]>()
  let failed: string | undefined
  for (const line of lines) {
    const match = /^#(\d+) (.*)$/.exec(line)
    if (!match) continue
    const [, id, rest] = match
    if (!headers.has(id) && rest.startsWith('[')) {
      headers.set(id, rest)
      continue
    }
    if (/^sha256:[0-9a-f]+$|^DONE \d|^CACHED$|^transferring /.test(rest)) continue
    if (rest.startsWith('ERROR:') || rest.startsWith('ERROR ')) failed = id
    // "#8 0.236 bad thing": the step's own output, after BuildKit's elapsed seconds.
    records.set(id, [...(records.get(id) ?? []), rest.replace(/^\d+\.\d+ /, '')])
  }
  // BuildKit's summary after the records ("failed to solve …", "ERROR: failed to solve: …") is the last word.
  const summary = lines.filter((line) => /failed to solve|^ERROR: /.test(line)).at(-1)
  if (!failed) return {output: lastLines(summary ? [summary] : lines.filter((line) => line.trim() && !/^#\d+ /.test(line)))}
  const step = headers.get(failed)
  const output = lastLines(records.get(failed) ?? [])
  const pulled = step && (/^\[internal\] load metadata for (\S+)$/.exec(step)?.[1] ?? /^\[[^\]]*\] FROM (\S+)/.exec(step)?.[1])
  if (pulled && PULL_FAILED.test(output.join('\n'))) return {step, baseImage: shortImageName(pulled.replace(/@sha256:.*$/, '')), output}
  return {step, output}
}

/** "docker.io/library/python:3.12-slim" is what a user wrote as "python:3.12-slim". */
function shortImageName(image: string): string {
  return image.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '')
}

function lastLines(lines: string[]): string[] {
  const kept = lines.map((line) => line.trimEnd())
  while (kept.length > 0 && !kept.at(-1)) kept.pop()
  while (kept.length > 0 && !kept[0]) kept.shift()
  return kept.slice(-STEP_OUTPUT_LINES)
}
