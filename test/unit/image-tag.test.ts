import {existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {beforeEach, describe, expect, it} from 'vitest'
import {computeImageTag} from '../../src/lib/image-tag.js'

describe('image tags from content', () => {
  let dir: string
  const tag = (buildArgs: Record<string, string> = {}, cacheFile?: string) =>
    computeImageTag('hello', {context: dir, dockerfile: path.join(dir, 'Dockerfile'), buildArgs, cacheFile})

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-tag-'))
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /app\n')
    writeFileSync(path.join(dir, 'app.py'), 'print("hi")\n')
    writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\n.env\n*.log\n')
  })

  it('is devkube.local/<name>:<12 hex>, never latest, and stable for the same inputs', async () => {
    const first = await tag()
    expect(first).toMatch(/^devkube\.local\/hello:[0-9a-f]{12}$/)
    expect(await tag()).toBe(first)
  })

  it('changes when a source file, the Dockerfile or a build arg changes', async () => {
    const original = await tag()
    writeFileSync(path.join(dir, 'app.py'), 'print("changed")\n')
    const afterSource = await tag()
    expect(afterSource).not.toBe(original)
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /srv\n')
    const afterDockerfile = await tag()
    expect(afterDockerfile).not.toBe(afterSource)
    expect(await tag({NODE_IMAGE: 'mirror/node:22'})).not.toBe(afterDockerfile)
  })

  it('ignores what .dockerignore excludes, as docker build would', async () => {
    const original = await tag()
    mkdirSync(path.join(dir, 'node_modules'))
    writeFileSync(path.join(dir, 'node_modules', 'big.js'), 'x')
    writeFileSync(path.join(dir, '.env'), 'SECRET=1')
    writeFileSync(path.join(dir, 'debug.log'), 'noise')
    expect(await tag()).toBe(original)
  })

  it('gives the same tag from the per-file cache as without it, and sees edits despite it', async () => {
    mkdirSync(path.join(dir, '.devkube'))
    const cacheFile = path.join(dir, '.devkube', 'hashes.json')
    const uncached = await tag()
    expect(await tag({}, cacheFile)).toBe(uncached)
    expect(existsSync(cacheFile)).toBe(true)
    expect(await tag({}, cacheFile)).toBe(uncached)
    writeFileSync(path.join(dir, 'app.py'), 'print("edited")\n')
    expect(await tag({}, cacheFile)).not.toBe(uncached)
  })

  it('reads a file again only when its size or mtime changed: the cache is what a re-run uses', async () => {
    mkdirSync(path.join(dir, '.devkube'))
    const cacheFile = path.join(dir, '.devkube', 'hashes.json')
    const source = path.join(dir, 'app.py')
    const mtime = new Date('2026-01-02T03:04:05Z')
    utimesSync(source, mtime, mtime)
    const before = await tag({}, cacheFile)
    // Same size, same mtime, other bytes: only a cache hit can still give the old tag.
    writeFileSync(source, 'print("HI")\n')
    utimesSync(source, mtime, mtime)
    expect(await tag({}, cacheFile)).toBe(before)
    expect(await tag()).not.toBe(before)
  })

  it('leaves the cache file as it is when told not to write it (status only looks)', async () => {
    mkdirSync(path.join(dir, '.devkube'))
    const cacheFile = path.join(dir, '.devkube', 'hashes.json')
    await computeImageTag('hello', {context: dir, dockerfile: path.join(dir, 'Dockerfile'), buildArgs: {}, cacheFile, writeCache: false})
    expect(existsSync(cacheFile)).toBe(false)
  })

  it('says so when the Dockerfile is missing', async () => {
    await expect(computeImageTag('hello', {context: dir, dockerfile: path.join(dir, 'Nope'), buildArgs: {}})).rejects.toThrow(/Dockerfile .*Nope does not exist/)
  })
})
