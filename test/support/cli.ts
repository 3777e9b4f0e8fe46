/**
 * Running the built devkube CLI as a user would: a subprocess with no TTY, in a project folder, with
 * the fake toolchain's environment.
 */
import {execa, type ResultPromise} from 'execa'
import {cpSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const repo = path.resolve(import.meta.dirname, '../..')
export const cliPath = path.join(repo, 'bin', 'run.js')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stderr with oclif's line wrapping (" ›" continuation lines) joined back into sentences. */
  error: string
}

export function cliEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return {...process.env, NO_COLOR: '1', CI: 'true', DEBUG: undefined, FORCE_COLOR: undefined, ...env}
}

export async function devkube(args: string[], options: {cwd: string; env: Record<string, string | undefined>; timeoutMs?: number}): Promise<CliResult> {
  const result = await execa(process.execPath, [cliPath, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: options.timeoutMs ?? 240_000,
  })
  return toResult(result.exitCode ?? 1, String(result.stdout), String(result.stderr))
}

/** A devkube left running (foreground forwarding, or to be interrupted). */
export function startDevkube(args: string[], options: {cwd: string; env: Record<string, string | undefined>}): ResultPromise {
  return execa(process.execPath, [cliPath, ...args], {cwd: options.cwd, env: cliEnv(options.env), extendEnv: false, reject: false, stdin: 'ignore', buffer: true})
}

export function toResult(code: number, stdout: string, stderr: string): CliResult {
  return {code, stdout, stderr, error: stderr.replaceAll(/\s*\n ›\s+/g, ' ').replaceAll(/\s+/g, ' ')}
}

/** A fresh copy of an example in a temp folder (named like the example, so the app name is the same). */
export function copyExample(example: string, name = example): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-it-')), name)
  cpSync(path.join(repo, 'examples', example), dir, {recursive: true})
  return dir
}

/** Waits until the URL answers 2xx and returns the body, or throws with the last failure. */
export async function httpBody(url: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(2000)})
      const body = await response.text()
      if (response.ok) return body
      last = `HTTP ${response.status}`
    } catch (error) {
      last = String((error as Error).cause ?? error)
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${last}`)
}

/** Resolves once the running devkube has printed a line matching the pattern (stdout or stderr). */
export function waitForOutput(subprocess: ResultPromise, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms; got:\n${seen}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      seen += chunk.toString()
      if (pattern.test(seen)) {
        clearTimeout(timer)
        resolve()
      }
    }
    subprocess.stdout?.on('data', onData)
    subprocess.stderr?.on('data', onData)
  })
}
