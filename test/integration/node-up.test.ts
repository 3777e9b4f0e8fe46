/**
 * `devkube up` on real Node projects, as a user runs it: the built CLI against the fake kind/kubectl
 * (test/fakes), real Docker building the image devkube scaffolds and running the pods. A NestJS server with a
 * build step, a Vite single-page app and an app that writes files next to its code, each from nothing to a forwarded URL that serves the app's own content.
 */
import {randomUUID} from 'node:crypto'
import {appendFileSync, cpSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {devkube, httpBody, repo, type CliResult} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()
const builtImages = new Set<string>()
const folders: string[] = []

function track(result: CliResult): CliResult {
  for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) builtImages.add(match[0])
  return result
}

/** A copy of the fixture in a folder of the same name (the app's name), with a unique line so its image is really built. */
function copyFixture(fixture: string, uniqueIn: string): string {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'devkube-node-up-'))
  folders.push(parent)
  const dir = path.join(parent, fixture)
  cpSync(path.join(repo, 'test', 'fixtures', 'node', fixture), dir, {recursive: true})
  appendFileSync(path.join(dir, uniqueIn), `\n// test run ${randomUUID()}\n`)
  return dir
}

describe.skipIf(!dockerReady)('devkube up on Node projects, against the fake toolchain', () => {
  let tools: FakeToolchain
  let buildArgs: string[]

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const images = await ensureStandinImages()
    buildArgs = buildArgFlags({NODE_IMAGE: images.NODE_IMAGE, NGINX_IMAGE: images.NGINX_IMAGE})
  })

  afterAll(async () => {
    await tools?.cleanup()
    if (builtImages.size > 0) await execa('docker', ['rmi', '-f', ...builtImages], {reject: false})
    for (const folder of folders) rmSync(folder, {recursive: true, force: true})
  })

  it('a NestJS app: built in the image, started from dist/, answers through the forwarded URL', async () => {
    const dir = copyFixture('nest-app', 'src/app.service.ts')
    const port = await freeLoopbackPort()
    const up = track(await devkube(['up', ...buildArgs, '--detach', '--forward', String(port)], {cwd: dir, env: tools.env, timeoutMs: 600_000}))
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0)
    expect(up.stdout).toContain(`nest-app is running: http://localhost:${port}`)
    expect((await httpBody(`http://localhost:${port}/`)).trim()).toBe('Hello from NestJS')
    const down = await devkube(['down', '--yes'], {cwd: dir, env: tools.env})
    expect(down.code, down.stderr).toBe(0)
  }, 900_000)

  it('a Vite single-page app: nginx serves the built index.html, never package.json', async () => {
    const dir = copyFixture('vite-react', 'src/App.jsx')
    const port = await freeLoopbackPort()
    const up = track(await devkube(['up', ...buildArgs, '--detach', '--forward', String(port)], {cwd: dir, env: tools.env, timeoutMs: 600_000}))
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0)
    const body = await httpBody(`http://localhost:${port}/`)
    expect(body).toContain('<div id="root"></div>')
    expect(body).toMatch(/\/assets\/index-[\w-]+\.js/)
    expect((await fetch(`http://localhost:${port}/package.json`)).status).toBe(404)
    const down = await devkube(['down', '--yes'], {cwd: dir, env: tools.env})
    expect(down.code, down.stderr).toBe(0)
  }, 900_000)

  it('an app that writes data/ at start runs as uid 10001, and up says its versions are not pinned', async () => {
    const dir = copyFixture('writes-data', 'index.js')
    const port = await freeLoopbackPort()
    const up = track(await devkube(['up', ...buildArgs, '--detach', '--forward', String(port)], {cwd: dir, env: tools.env, timeoutMs: 600_000}))
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0)
    expect(up.stdout).toContain('No lockfile: the image installs with `npm install --no-audit --no-fund`, so dependency versions are not pinned')
    expect((await httpBody(`http://localhost:${port}/`)).trim()).toMatch(/^Hello from writes-data, started \d{4}-/)
    const down = await devkube(['down', '--yes'], {cwd: dir, env: tools.env})
    expect(down.code, down.stderr).toBe(0)
  }, 900_000)
})
