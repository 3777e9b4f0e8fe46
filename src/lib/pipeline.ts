/**
 * Runs a plan of steps (data: title + run) and shows it: listr2's live view on a TTY, one plain line
 * per step without one (CI, scripts), nothing with --json. Every step's outcome and duration is
 * recorded for the JSON result and the benchmarks.
 */
import {Listr, PRESET_TIMER, type ListrTask} from 'listr2'
import {InterruptedError} from './errors.js'

export interface StepHandle {
  readonly signal: AbortSignal
  /** Marks the step as skipped, with why (shown in place of the title). */
  skip(reason: string): void
  /** A short outcome shown after the title, e.g. the image tag. */
  detail(text: string): void
  /** A line of progress shown under the step in the live view. */
  progress(line: string): void
}

/**
 * A step takes the plan's input (`context`, never written to) and the outputs of the steps before
 * it, and returns its own output for the steps after it, as Skaffold's Build → Render → Deploy do.
 */
export interface Step<C, O = unknown> {
  id: string
  title: string
  run(context: C, handle: StepHandle, outputs: StepOutputs): Promise<O>
}

export type AnyStep<C> = Step<C, unknown>

/** Steps that run one after the other beside the other lanes of a concurrent item (e.g. cluster → backing services). */
export interface Lane<C> {
  id: string
  title: string
  steps: AnyStep<C>[]
}

export type PlanItem<C> = AnyStep<C> | {id: string; title: string; concurrent: Array<AnyStep<C> | Lane<C>>}

/** What the steps that ran returned, read by the step object itself so the type comes with it. */
export class StepOutputs {
  private readonly values = new Map<string, unknown>()

  set(id: string, value: unknown): void {
    this.values.set(id, value)
  }

  /** The output of `step`; reading a step that has not run is a bug in the plan's order. */
  of<O>(step: Step<never, O>): O {
    if (!this.values.has(step.id)) throw new Error(`The step "${step.id}" was read before it ran: the plan's order is wrong.`)
    return this.values.get(step.id) as O
  }

  has(step: {id: string}): boolean {
    return this.values.has(step.id)
  }
}

export type StepStatus = 'pending' | 'done' | 'skipped' | 'failed' | 'interrupted'

export interface StepResult {
  id: string
  title: string
  status: StepStatus
  skipped: boolean
  ms: number
  detail?: string
}

export type ProgressMode = 'live' | 'plain' | 'silent'

export interface RunPlanOptions {
  mode: ProgressMode
  signal: AbortSignal
  /** Where plain mode writes its lines (default: stdout). */
  write?: (line: string) => void
  /** Collects what each step returned; the caller reads the plan's results from it. */
  outputs?: StepOutputs
}

// Taken before listr2 runs: while it renders it may swap process.stdout.write for a buffer (it does
// for nested concurrent lists), and plain lines written into that buffer were lost.
const writeStdout = process.stdout.write.bind(process.stdout)

const SYMBOLS: Record<StepStatus, string> = {pending: ' ', done: '✓', skipped: '-', failed: '✗', interrupted: '✗'}

export function plainLine(result: StepResult, skipReason?: string): string {
  const seconds = `${(result.ms / 1000).toFixed(1)}s`
  const outcome = skipReason === undefined ? (result.detail ? `: ${result.detail}` : '') : `: ${skipReason} (skipped)`
  const failed = result.status === 'failed' ? ' (failed)' : result.status === 'interrupted' ? ' (interrupted)' : ''
  return `${SYMBOLS[result.status]} ${result.title}${outcome}${failed} [${seconds}]`
}

export async function runPlan<C>(plan: PlanItem<C>[], context: C, runOptions: RunPlanOptions): Promise<StepResult[]> {
  const options = {write: (line: string) => writeStdout(`${line}\n`), ...runOptions}
  const outputs = options.outputs ?? new StepOutputs()
  const results = new Map<string, StepResult>()
  const steps = plan.flatMap((item) => ('concurrent' in item ? item.concurrent.flatMap((lane) => ('steps' in lane ? lane.steps : [lane])) : [item]))
  for (const step of steps) results.set(step.id, {id: step.id, title: step.title, status: 'pending', skipped: false, ms: 0})

  // When one concurrent step fails, listr2 stops waiting for its siblings, but they are still running
  // (a cluster create cleaning up after Ctrl-C) and must finish before devkube exits.
  const running = new Set<Promise<void>>()
  const toTask = (step: AnyStep<C>): ListrTask => ({
    title: step.title,
    task: (_, task) => {
      const execution = runStep(step, task)
      running.add(execution)
      execution.then(
        () => running.delete(execution),
        () => running.delete(execution),
      )
      return execution
    },
  })
  const runStep = async (step: AnyStep<C>, task: {output?: unknown; title?: unknown; skip(message?: string): void}): Promise<void> => {
    const result = results.get(step.id)!
    const started = performance.now()
    let skipReason: string | undefined
    const handle: StepHandle = {
      signal: options.signal,
      skip(reason) {
        skipReason = reason
      },
      detail(text) {
        result.detail = text
      },
      progress(line) {
        // Only the live view has room for progress; plain output is one line per step.
        if (options.mode === 'live') task.output = line
      },
    }
    try {
      if (options.signal.aborted) throw new InterruptedError()
      outputs.set(step.id, await step.run(context, handle, outputs))
      if (options.signal.aborted) throw new InterruptedError()
      result.status = skipReason === undefined ? 'done' : 'skipped'
      result.skipped = skipReason !== undefined
    } catch (error) {
      result.status = options.signal.aborted ? 'interrupted' : 'failed'
      result.ms = Math.round(performance.now() - started)
      if (options.mode === 'plain') options.write?.(plainLine(result))
      throw error
    } finally {
      result.ms = Math.round(performance.now() - started)
    }
    if (options.mode === 'plain') options.write?.(plainLine(result, skipReason))
    if (skipReason !== undefined) {
      task.skip(`${step.title}: ${skipReason}`)
    } else if (result.detail) {
      task.title = `${step.title}: ${result.detail}`
    }
  }

  const tasks: ListrTask[] = plan.map((item) =>
    'concurrent' in item
      ? {
          title: item.title,
          task: (_, task) =>
            task.newListr(
              item.concurrent.map((lane): ListrTask => ('steps' in lane ? {title: lane.title, task: (__, laneTask) => laneTask.newListr(lane.steps.map(toTask), {concurrent: false, exitOnError: true})} : toTask(lane))),
              {concurrent: true, exitOnError: true},
            ),
        }
      : toTask(item),
  )
  const list = new Listr(tasks, {
    concurrent: false,
    exitOnError: true,
    registerSignalListeners: false,
    // Plain mode prints its own single line per step (below): listr2's simple renderer adds a line
    // when a step starts and one per progress update.
    renderer: options.mode === 'live' ? 'default' : 'silent',
    rendererOptions: {collapseSubtasks: false, timer: PRESET_TIMER, showErrorMessage: false},
    fallbackRenderer: 'simple',
    fallbackRendererOptions: {timer: PRESET_TIMER},
  } as never)
  try {
    await list.run()
  } catch (error) {
    await Promise.allSettled(running)
    if (options.signal.aborted) throw new InterruptedError()
    throw error
  } finally {
    for (const result of results.values()) if (result.status === 'pending' && options.signal.aborted) result.status = 'interrupted'
  }
  return [...results.values()]
}
