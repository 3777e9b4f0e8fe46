/**
 * Real Node projects, checked with real Docker: for each fixture under test/fixtures/node/ (shaped like the
 * official starters), `devkube init --yes` says what it found, the Dockerfile it writes builds on the offline
 * stand-in base images, the container runs as a non-root user, and an HTTP GET returns the app's own content
 * (an SPA: its built index.html, and 404 for /package.json).
 *
 * Builds run at most two at a time (two cores; more only makes each slower), each fixture is built once, and
 * every image and container is removed afterwards.
 */
import {execa} from 'execa'
import {randomBytes} from 'node:crypto'
import {cp, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {
  buildArgFlags,
  containerLogs,
  DockerLeftovers,
  ensureStandinImages,
  publishedAddress,
  REPO_DIR,
  TEST_LABEL,
  useDocker,
  waitForHttp,
} from '../support/docker.js'

const CLI = join(REPO_DIR, 'bin', 'run.js')
const FIXTURES = join(REPO_DIR, 'test', 'fixtures', 'node')

interface NodeCase {
  fixture: string
  initArgs?: string[]
  /** Lines `init` must print (its facts). */
  says: RegExp[]
  /** What GET / must contain. */
  body: RegExp
  spa?: boolean
}

const cases: NodeCase[] = [
  {fixture: 'vite-react', says: [/framework\s+Vite \(package\.json devDependencies\.vite\)/, /output folder\s+dist\//], body: /^(?=[\s\S]*<div id="root"><\/div>)(?=[\s\S]*\/assets\/index-[\w-]+\.js)/, spa: true},
  {fixture: 'vite-vue', says: [/output folder\s+public-build\/ .*\(vite\.config\.js build\.outDir\)/], body: /^(?=[\s\S]*<div id="app"><\/div>)(?=[\s\S]*\/assets\/index-[\w-]+\.js)/, spa: true},
  {fixture: 'next-app', says: [/framework\s+Next\.js/, /start command\s+node server\.js \(standalone output\) \(next\.config\.mjs output: 'standalone'\)/], body: /Hello from Next\.js/},
  {fixture: 'nest-app', says: [/framework\s+NestJS/, /build script\s+build: tsc -p tsconfig\.build\.json/, /start command\s+node dist\/main \(package\.json scripts\.start:prod\)/], body: /^Hello from NestJS$/},
  {fixture: 'express-ts', says: [/package manager\s+yarn \(yarn\.lock\)/, /install\s+yarn install --frozen-lockfile/], body: /^Hello from Express \+ TypeScript$/},
  {fixture: 'fastify-pnpm', says: [/package manager\s+pnpm \(pnpm-lock\.yaml\)/, /install\s+pnpm install --frozen-lockfile/], body: /^Hello from Fastify$/},
  {fixture: 'writes-data', says: [/versions are NOT pinned/], body: /^Hello from writes-data, started \d{4}-/},
  {fixture: 'monorepo', initArgs: ['--package', 'packages/api'], says: [/package\s+packages\/api/], body: /^Hello from the api package: shared from @monorepo\/web$/},
]

const docker = await useDocker()
const tempDirs: string[] = []

/** At most `limit` of the jobs run at once. */
function limiter(limit: number) {
  let running = 0
  const waiting: (() => void)[] = []
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    running++
    try {
      return await job()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}

const twoAtATime = limiter(2)
const tail = (text: string | undefined, lines = 40) => (text ?? '').split('\n').slice(-lines).join('\n')

describe.skipIf(!docker).concurrent('Node projects: devkube init --yes, docker build, docker run, HTTP GET', () => {
  let baseImages: Record<string, string>

  beforeAll(async () => {
    baseImages = await ensureStandinImages()
  })

  afterAll(async () => {
    await Promise.all(tempDirs.map((dir) => rm(dir, {recursive: true, force: true})))
  })

  for (const testCase of cases) {
    it(`${testCase.fixture}: init says what it found, the image builds, and the app answers with its own content`, async ({onTestFinished}) => {
      const leftovers = new DockerLeftovers()
      onTestFinished(() => leftovers.remove())
      const dir = join(await mkdtemp(join(tmpdir(), 'devkube-node-')), testCase.fixture)
      tempDirs.push(dir)
      await cp(join(FIXTURES, testCase.fixture), dir, {recursive: true})

      const init = await execa(process.execPath, [CLI, 'init', '--yes', ...(testCase.initArgs ?? [])], {cwd: dir, all: true, reject: false, stdin: 'ignore', env: {NO_COLOR: '1'}})
      expect(init.exitCode, `devkube init --yes failed:\n${init.all}`).toBe(0)
      for (const line of testCase.says) expect(init.stdout).toMatch(line)
      const port = (parse(await readFile(join(dir, 'devkube.yaml'), 'utf8')) as {port: number}).port

      await twoAtATime(async () => {
        const image = leftovers.image(`devkube-test/node-${testCase.fixture}:${randomBytes(6).toString('hex')}`)
        const build = await execa('docker', ['build', '--label', TEST_LABEL, ...buildArgFlags(baseImages), '-t', image, '.'], {
          cwd: dir,
          all: true,
          reject: false,
          stdin: 'ignore',
          // The classic builder always sees local images such as the stand-ins; a BuildKit builder may not.
          env: {DOCKER_BUILDKIT: '0'},
        })
        expect(build.exitCode, `docker build failed:\n${tail(build.all)}`).toBe(0)

        const {stdout: user} = await execa('docker', ['image', 'inspect', '-f', '{{.Config.User}}', image])
        expect(['', 'root', '0', '0:0']).not.toContain(user.trim())

        // As the pod runs it: uid 10001 (the manifests' runAsUser), whatever the image's USER says.
        const run = await execa('docker', ['run', '-d', '--label', TEST_LABEL, '--user', '10001:10001', '-p', `127.0.0.1::${port}`, image], {reject: false, all: true})
        expect(run.exitCode, `docker run failed:\n${run.all}`).toBe(0)
        const container = leftovers.container(run.stdout.trim())
        const address = await publishedAddress(container, port)
        const body = await waitForHttp(`http://${address}/`, 60_000).catch(async (error: Error) => {
          throw new Error(`${error.message}\ncontainer log:\n${await containerLogs(container)}`)
        })
        expect(body.trim()).toMatch(testCase.body)

        if (testCase.spa) {
          // Only the build output is served: no package.json, no sources, no dotfiles; client routes get the app.
          expect((await fetch(`http://${address}/package.json`)).status).toBe(404)
          expect((await fetch(`http://${address}/src/main.js`)).status).toBe(404)
          expect((await fetch(`http://${address}/.gitignore`)).status).toBe(404)
          const route = await fetch(`http://${address}/some/client/route`)
          expect(route.status).toBe(200)
          expect(await route.text()).toBe(body)
          // The built bundle is served, compressed (index.html itself may be below gzip's minimum length).
          const bundle = /\/assets\/index-[\w-]+\.js/.exec(body)![0]
          const gzipped = await fetch(`http://${address}${bundle}`, {headers: {'accept-encoding': 'gzip'}})
          expect(gzipped.status).toBe(200)
          expect(gzipped.headers.get('content-encoding')).toBe('gzip')
        }
      })
    }, 900_000)
  }
})
