/**
 * What a user sees of a plan: one plain line per step without a TTY (CI, scripts), nothing with --json,
 * listr2's live view on a terminal; and on failure the failed step is marked and the rest never runs.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {InterruptedError} from '../../src/lib/errors.js'
import {plainLine, runPlan, type PlanItem, type ProgressMode} from '../../src/lib/pipeline.js'
import {REPO_DIR} from '../support/docker.js'

interface Trace {
  ran: string[]
}

type Handle = {skip(reason: string): void; detail(text: string): void; progress(line: string): void}
const step = (id: string, behaviour: (handle: Handle) => void = () => {}) => ({
  id,
  title: `Step ${id}`,
  async run(trace: Trace, handle: Handle) {
    trace.ran.push(id)
    behaviour(handle)
  },
})

async function runWith(mode: ProgressMode, plan: PlanItem<Trace>[], signal = new AbortController().signal) {
  const lines: string[] = []
  const trace: Trace = {ran: []}
  let error: unknown
  const results = await runPlan(plan, trace, {mode, signal, write: (line) => lines.push(line)}).catch((caught) => {
    error = caught
    return undefined
  })
  return {lines, trace, results, error}
}

describe('runPlan output modes', () => {
  const plan: PlanItem<Trace>[] = [
    step('a', (handle) => handle.detail('built devkube.local/x:abc')),
    {id: 'pair', title: 'Both', concurrent: [step('b', (handle) => handle.skip('already there')), step('c')]},
    step('d', (handle) => handle.progress('a progress line only the live view shows')),
  ]

  it('plain: one line per step with its outcome and time, skips said as skips, no progress lines', async () => {
    const {lines, results} = await runWith('plain', plan)
    expect(lines).toHaveLength(4)
    expect(lines[0]).toMatch(/^✓ Step a: built devkube\.local\/x:abc \[\d+\.\ds\]$/)
    expect(lines).toContainEqual(expect.stringMatching(/^- Step b: already there \(skipped\) \[\d+\.\ds\]$/))
    expect(lines.join('\n')).not.toContain('progress line')
    expect(results?.map((result) => [result.id, result.status])).toEqual([
      ['a', 'done'],
      ['b', 'skipped'],
      ['c', 'done'],
      ['d', 'done'],
    ])
  })

  it('silent (--json): writes nothing, still records every step', async () => {
    const {lines, results} = await runWith('silent', plan)
    expect(lines).toEqual([])
    expect(results).toHaveLength(4)
    expect(results?.every((result) => result.ms >= 0)).toBe(true)
  })

  it('failure: the failed step is marked, later steps never run, the error reaches the caller', async () => {
    const failing: PlanItem<Trace>[] = [
      step('a'),
      step('b', () => {
        throw new Error('the build failed')
      }),
      step('c'),
    ]
    const {lines, trace, error} = await runWith('plain', failing)
    expect((error as Error).message).toBe('the build failed')
    expect(trace.ran).toEqual(['a', 'b'])
    expect(lines.at(-1)).toMatch(/^✗ Step b \(failed\) \[\d+\.\ds\]$/)
  })

  it('interrupted: an aborted plan runs no further step and says interrupted', async () => {
    const controller = new AbortController()
    const interrupted: PlanItem<Trace>[] = [step('a', () => controller.abort()), step('b')]
    const {trace, error, lines} = await runWith('plain', interrupted, controller.signal)
    expect(error).toBeInstanceOf(InterruptedError)
    expect(trace.ran).toEqual(['a'])
    expect(lines.at(-1)).toMatch(/^✗ Step a \(interrupted\)/)
  })

  it('a lane runs its steps one after the other while the other lane of its item runs; a failure in it stops the plan', async () => {
    const order: string[] = []
    let release = () => {}
    const blocked = new Promise<void>((resolve) => (release = resolve))
    const lanePlan: PlanItem<Trace>[] = [
      {
        id: 'prepare',
        title: 'Prepare',
        concurrent: [
          {id: 'lane', title: 'Lane', steps: [{...step('first'), async run(trace: Trace) {
            // A step that takes a moment: the next step of its lane still waits for it.
            await new Promise((resolve) => setTimeout(resolve, 30))
            trace.ran.push('first')
            order.push('first')
          }}, {...step('second'), async run(trace: Trace) {
            trace.ran.push('second')
            order.push('second')
            release()
          }}]},
          {...step('beside'), async run(trace: Trace) {
            // Runs alongside the lane: it finishes only after the lane's second step started.
            await blocked
            trace.ran.push('beside')
            order.push('beside')
          }},
        ],
      },
      step('after', () => order.push('after')),
    ]
    const {results, lines} = await runWith('plain', lanePlan)
    expect(order).toEqual(['first', 'second', 'beside', 'after'])
    expect(results?.map((result) => [result.id, result.status])).toEqual([['first', 'done'], ['second', 'done'], ['beside', 'done'], ['after', 'done']])
    expect(lines).toHaveLength(4)

    const failing: PlanItem<Trace>[] = [{id: 'prepare', title: 'Prepare', concurrent: [{id: 'lane', title: 'Lane', steps: [step('x', () => {
      throw new Error('no cluster')
    }), step('y')]}, step('z')]}, step('after')]
    const failed = await runWith('plain', failing)
    expect((failed.error as Error).message).toBe('no cluster')
    expect(failed.trace.ran).not.toContain('y')
    expect(failed.trace.ran).not.toContain('after')
  })

  it('plainLine formats a result as the plain renderer does', () => {
    expect(plainLine({id: 'x', title: 'Load image', status: 'done', skipped: false, ms: 1234, detail: 'loaded'})).toBe('✓ Load image: loaded [1.2s]')
    expect(plainLine({id: 'x', title: 'Load image', status: 'skipped', skipped: true, ms: 50}, 'every node has it')).toBe('- Load image: every node has it (skipped) [0.1s]')
  })

  it('live (a terminal): listr2 draws the steps with their outcomes, not the plain lines', () => {
    // A real pseudo-terminal (script(1)), as a user's shell gives, running the built pipeline.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-live-'))
    const script = path.join(dir, 'live.mjs')
    writeFileSync(
      script,
      `import {runPlan} from ${JSON.stringify(path.join(REPO_DIR, 'dist/lib/pipeline.js'))}
const step = (id, run) => ({id, title: 'Step ' + id, run})
await runPlan([step('a', async (_, h) => h.detail('done-a')), step('b', async (_, h) => h.skip('nothing to do'))], {}, {mode: 'live', signal: new AbortController().signal})
`,
    )
    // A terminal width, or listr2 wraps every character onto its own line.
    const command = `stty cols 120 rows 40; ${JSON.stringify(process.execPath)} ${JSON.stringify(script)}`
    const output = execFileSync('script', ['-qec', command, '/dev/null'], {encoding: 'utf8', env: {...process.env, TERM: 'xterm', NO_COLOR: '1', CI: ''}})
    // Redrawn in place (cursor movement), with listr2's marks, not the plain renderer's lines.
    expect(output).toContain('\u001b[1A')
    expect(output).toContain('✔ Step a: done-a')
    expect(output).toMatch(/Step b: nothing to do/)
    expect(output).not.toContain('✓ Step a')
  })
})
