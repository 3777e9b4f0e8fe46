import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import {ChangeBatcher, classifyChanges, ContextFilters, isDependencyFile, watchServices, type FileEvent, type WatchedService} from '../../src/lib/watch.js'

let dir: string
let service: WatchedService

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-watch-'))
  writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\n.env\n*.log\nsecrets/\nDockerfile\n')
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM node:22\nWORKDIR /app\nCOPY . .\n')
  service = {name: 'web', context: dir, dockerfile: path.join(dir, 'Dockerfile')}
})

afterEach(() => {
  rmSync(dir, {recursive: true, force: true})
})

const change = (file: string): FileEvent => ({path: path.join(dir, file), kind: 'change'})
const remove = (file: string): FileEvent => ({path: path.join(dir, file), kind: 'delete'})

describe('classifyChanges', () => {
  it('syncs source files and leaves out what .dockerignore excludes', () => {
    const [web] = classifyChanges([change('src/app.js'), change('.env'), change('debug.log'), change('node_modules/x/index.js'), change('secrets/key.pem')], [service], new ContextFilters())
    expect(web).toEqual({service: 'web', changed: ['src/app.js'], deleted: [], rebuildReason: undefined})
  })

  it('reports nothing for a batch of excluded files only', () => {
    expect(classifyChanges([change('.env'), change('app.log')], [service], new ContextFilters())).toEqual([])
  })

  it('needs a rebuild for dependency files, the Dockerfile and .dockerignore even when the context ignores them', () => {
    for (const file of ['package.json', 'requirements-dev.txt', 'poetry.lock', 'go.sum', 'Dockerfile', '.dockerignore']) {
      const [web] = classifyChanges([change('app.py'), change(file)], [service], new ContextFilters())
      expect(web.rebuildReason, file).toBe(file)
    }
  })

  it('keeps the latest event of a path: saved then deleted is a deletion', () => {
    const [web] = classifyChanges([change('a.js'), remove('a.js'), remove('b.js'), change('b.js')], [service], new ContextFilters())
    expect(web.changed).toEqual(['b.js'])
    expect(web.deleted).toEqual(['a.js'])
  })

  it('touches only the services whose context holds the file', () => {
    const api: WatchedService = {name: 'api', context: path.join(dir, 'api'), dockerfile: path.join(dir, 'api', 'Dockerfile')}
    mkdirSync(api.context)
    const changes = classifyChanges([change('api/main.py')], [api], new ContextFilters())
    expect(changes).toEqual([{service: 'api', changed: ['main.py'], deleted: [], rebuildReason: undefined}])
    expect(classifyChanges([change('web.js')], [api], new ContextFilters())).toEqual([])
  })

  it('reads .dockerignore again when it changed', () => {
    const filters = new ContextFilters()
    expect(classifyChanges([change('notes.md')], [service], filters)[0].changed).toEqual(['notes.md'])
    writeFileSync(path.join(dir, '.dockerignore'), '*.md\n')
    const [web] = classifyChanges([change('.dockerignore'), change('notes.md')], [service], filters)
    expect(web.changed).toEqual([])
    expect(web.rebuildReason).toBe('.dockerignore')
  })

  it('knows the dependency files by name', () => {
    expect(isDependencyFile('sub/package-lock.json')).toBe(true)
    expect(isDependencyFile('requirements.txt')).toBe(true)
    expect(isDependencyFile('Pipfile.lock')).toBe(true)
    expect(isDependencyFile('src/package.js')).toBe(false)
    expect(isDependencyFile('app.py')).toBe(false)
  })
})

describe('ChangeBatcher', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** A deploy that takes `deployMs` of fake time and records which version of the file it shipped. */
  function recordingDeploys(deployMs: number, currentVersion: () => number) {
    const deployed: number[] = []
    let concurrent = 0
    let maxConcurrent = 0
    const handle = async () => {
      concurrent += 1
      maxConcurrent = Math.max(maxConcurrent, concurrent)
      // A deploy builds what is on disk when it starts.
      const version = currentVersion()
      await new Promise((resolve) => setTimeout(resolve, deployMs))
      deployed.push(version)
      concurrent -= 1
    }
    return {deployed, handle, maxConcurrent: () => maxConcurrent}
  }

  it('turns 50 saves within 10 s into at most 2 deploys, the last one of the last version', async () => {
    vi.useFakeTimers()
    let version = 0
    const deploys = recordingDeploys(3000, () => version)
    const batcher = new ChangeBatcher(300, deploys.handle)
    // Saves every 150–250 ms, with one pause of 1 s in the middle (a deploy starts during it).
    for (let save = 1; save <= 50; save++) {
      version = save
      batcher.add(change('app.js'))
      await vi.advanceTimersByTimeAsync(save === 25 ? 1000 : 150 + (save % 3) * 50)
    }
    await vi.runAllTimersAsync()
    await batcher.idle()
    expect(deploys.deployed.length).toBeGreaterThanOrEqual(1)
    expect(deploys.deployed.length).toBeLessThanOrEqual(2)
    expect(deploys.deployed.at(-1)).toBe(50)
    expect(deploys.maxConcurrent()).toBe(1)
  })

  it('hands on every path of a batch once, and saves made during a deploy in exactly one more batch', async () => {
    vi.useFakeTimers()
    const batches: string[][] = []
    const batcher = new ChangeBatcher(100, async (events) => {
      batches.push(events.map((event) => path.basename(event.path)).sort())
      await new Promise((resolve) => setTimeout(resolve, 1000))
    })
    batcher.add(change('a.js'))
    batcher.add(change('b.js'))
    batcher.add(change('a.js'))
    await vi.advanceTimersByTimeAsync(200)
    expect(batches).toEqual([['a.js', 'b.js']])
    batcher.add(change('c.js'))
    await vi.advanceTimersByTimeAsync(300)
    batcher.add(change('d.js'))
    await vi.runAllTimersAsync()
    await batcher.idle()
    expect(batches).toEqual([['a.js', 'b.js'], ['c.js', 'd.js']])
  })

  it('keeps batching after a failed deploy', async () => {
    vi.useFakeTimers()
    const handled: number[] = []
    let calls = 0
    const batcher = new ChangeBatcher(50, async () => {
      calls += 1
      handled.push(calls)
      if (calls === 1) throw new Error('build failed')
    })
    batcher.add(change('a.js'))
    await vi.runAllTimersAsync()
    batcher.add(change('a.js'))
    await vi.runAllTimersAsync()
    await batcher.idle()
    expect(handled).toEqual([1, 2])
  })
})

describe('watchServices', () => {
  it('reports saves in the context and never reports a file .dockerignore excludes', async () => {
    mkdirSync(path.join(dir, 'node_modules', 'dep'), {recursive: true})
    const events: FileEvent[] = []
    const watcher = watchServices([service], new ContextFilters(), (event) => events.push(event))
    try {
      await watcher.ready
      writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'x')
      writeFileSync(path.join(dir, '.env'), 'TOKEN=1')
      writeFileSync(path.join(dir, 'app.js'), 'console.log(1)')
      await vi.waitFor(() => expect(events.map((event) => path.relative(dir, event.path))).toContain('app.js'), {timeout: 10_000, interval: 50})
      const classified = classifyChanges(events, [service], new ContextFilters())
      expect(classified[0].changed).toEqual(['app.js'])
      expect(events.some((event) => event.path.includes('node_modules'))).toBe(false)
    } finally {
      await watcher.close()
    }
  })
})
