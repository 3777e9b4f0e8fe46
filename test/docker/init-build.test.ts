/**
 * The promise of `devkube init`, checked with real Docker: for each language, what init writes builds, runs as a
 * non-root user, and serves Hello World. Base images are the offline stand-ins (scripts/standin-images.sh), passed
 * with the same build args users behind a mirror would use.
 */
import {execa} from 'execa'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
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

interface LanguageCase {
  lang: string
  /** Folder under examples/ to copy; when it does not exist, `makeProject` writes one. */
  example: string
  makeProject?: (dir: string) => Promise<void>
}

const cases: LanguageCase[] = [
  {lang: 'node', example: 'hello-node'},
  {lang: 'python', example: 'hello-python'},
  {lang: 'go', example: 'hello-go'},
  {
    lang: 'static',
    example: 'hello-static',
    makeProject: (dir) => writeFile(join(dir, 'index.html'), '<!doctype html>\n<title>hello</title>\n<h1>Hello World</h1>\n'),
  },
]

const docker = await useDocker()
const tempDirs: string[] = []

function tail(text: string | undefined, lines = 40): string {
  return (text ?? '').split('\n').slice(-lines).join('\n')
}

async function projectFor(testCase: LanguageCase): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `devkube-init-${testCase.lang}-`))
  tempDirs.push(dir)
  const example = join(REPO_DIR, 'examples', testCase.example)
  if (existsSync(example)) await cp(example, dir, {recursive: true})
  else if (testCase.makeProject) await testCase.makeProject(dir)
  else throw new Error(`examples/${testCase.example} is missing`)
  return dir
}

describe.skipIf(!docker).concurrent('devkube init --yes, then docker build and docker run', () => {
  let baseImages: Record<string, string>

  beforeAll(async () => {
    baseImages = await ensureStandinImages()
  })

  afterAll(async () => {
    await Promise.all(tempDirs.map((dir) => rm(dir, {recursive: true, force: true})))
  })

  for (const testCase of cases) {
    it(`${testCase.lang}: the generated Dockerfile builds and the container answers Hello World`, async ({onTestFinished}) => {
      const leftovers = new DockerLeftovers()
      onTestFinished(() => leftovers.remove())
      const dir = await projectFor(testCase)

      const init = await execa(process.execPath, [CLI, 'init', '--yes'], {cwd: dir, all: true, reject: false, stdin: 'ignore'})
      expect(init.exitCode, `devkube init --yes failed:\n${init.all}`).toBe(0)
      expect(existsSync(join(dir, 'Dockerfile')), `no Dockerfile written; init said:\n${init.all}`).toBe(true)
      const config = parse(await readFile(join(dir, 'devkube.yaml'), 'utf8')) as {port?: number}
      const port = config.port ?? 8080

      const image = leftovers.image(`devkube-test/${testCase.lang}:${randomBytes(6).toString('hex')}`)
      const build = await execa('docker', ['build', '--label', TEST_LABEL, ...buildArgFlags(baseImages), '-t', image, '.'], {
        cwd: dir,
        all: true,
        reject: false,
        stdin: 'ignore',
        // The classic builder always sees local images such as the stand-ins; a BuildKit builder may not.
        env: {DOCKER_BUILDKIT: '0'},
      })
      expect(build.exitCode, `docker build failed:\n${tail(build.all)}`).toBe(0)

      // Kubernetes' runAsNonRoot refuses an image that would run as root.
      const {stdout: user} = await execa('docker', ['image', 'inspect', '-f', '{{.Config.User}}', image])
      expect(['', 'root', '0', '0:0']).not.toContain(user.trim())

      const run = await execa('docker', ['run', '-d', '--label', TEST_LABEL, '-p', `127.0.0.1::${port}`, image], {reject: false, all: true})
      expect(run.exitCode, `docker run failed:\n${run.all}`).toBe(0)
      const container = leftovers.container(run.stdout.trim())

      const address = await publishedAddress(container, port)
      const body = await waitForHttp(`http://${address}/`, 60_000).catch(async (error: Error) => {
        throw new Error(`${error.message}\ncontainer log:\n${await containerLogs(container)}`)
      })
      if (testCase.lang === 'static') expect(body).toContain('Hello World')
      else expect(body.trim()).toBe('Hello World')
    }, 600_000)
  }
})
