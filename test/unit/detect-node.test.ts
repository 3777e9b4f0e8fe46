import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {detectApp} from '../../src/lib/detect.js'
import {detectNodeProject, NodeChoiceNeeded, rangeAllowsMajor} from '../../src/lib/detect-node.js'
import {nodeImageFiles} from '../../src/lib/dockerfile-node.js'
import {UserError} from '../../src/lib/errors.js'

const fixtures = path.resolve(import.meta.dirname, '../fixtures/node')
const folders: string[] = []

function project(files: Record<string, string | object>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'devkube-detect-node-'))
  folders.push(dir)
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content))
  }
  return dir
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

const fact = (facts: {key: string; value: string; source: string}[], key: string) => facts.find((candidate) => candidate.key === key)

describe('detect-node: the fixtures (shaped like the official starters)', () => {
  it('create-vite react is a single-page app built to dist/, not a static site of its sources', () => {
    const detection = detectApp(path.join(fixtures, 'vite-react'))
    expect(detection.lang).toBe('node')
    expect(detection.node).toMatchObject({kind: 'spa', framework: 'Vite', outputDir: 'dist', buildScript: 'build'})
    expect(detection.port).toBe(8080)
    expect(fact(detection.facts, 'output folder')).toMatchObject({source: 'default for Vite'})
  })

  it('vite.config build.outDir decides what nginx serves', () => {
    const node = detectNodeProject(path.join(fixtures, 'vite-vue'))
    expect(node.outputDir).toBe('public-build')
    expect(fact(node.facts, 'output folder')?.source).toBe('vite.config.js build.outDir')
  })

  it('create-next-app with output: standalone runs server.js; without it, next start on 0.0.0.0', () => {
    const standalone = detectNodeProject(path.join(fixtures, 'next-app'))
    expect(standalone).toMatchObject({kind: 'next', nextStandalone: true, startCommand: ['node', 'server.js']})
    expect(fact(standalone.facts, 'start command')?.source).toBe("next.config.mjs output: 'standalone'")
    const dir = project({'package.json': {scripts: {build: 'next build', start: 'next start'}, dependencies: {next: '16', react: '19'}}, 'next.config.mjs': 'export default {}\n'})
    expect(detectNodeProject(dir)).toMatchObject({kind: 'next', nextStandalone: false, startCommand: ['node_modules/.bin/next', 'start', '-H', '0.0.0.0']})
  })

  it('nest new: built with the build script, started with start:prod from dist/ (which the build writes)', () => {
    const detection = detectApp(path.join(fixtures, 'nest-app'))
    expect(detection.node).toMatchObject({kind: 'build-server', framework: 'NestJS', outputDir: 'dist', startCommand: ['node', 'dist/main'], nodeMajor: 22})
    expect(detection.port).toBe(3000)
    expect(fact(detection.facts, 'node image')).toEqual({key: 'node image', value: 'node:22-slim (build arg NODE_IMAGE)', source: 'package.json engines.node ">=20"'})
  })

  it('reads the package manager from the lockfile', () => {
    expect(detectNodeProject(path.join(fixtures, 'express-ts')).packageManager).toMatchObject({name: 'yarn', berry: false, install: 'yarn install --frozen-lockfile', installProduction: 'yarn install --frozen-lockfile --production'})
    expect(detectNodeProject(path.join(fixtures, 'fastify-pnpm')).packageManager).toMatchObject({name: 'pnpm', install: 'pnpm install --frozen-lockfile', installProduction: 'pnpm install --frozen-lockfile --prod'})
    expect(detectNodeProject(path.join(fixtures, 'nest-app')).packageManager).toMatchObject({name: 'npm', install: 'npm ci --no-audit --no-fund'})
  })

  it('no lockfile: npm install, and the fact says versions are not pinned', () => {
    const node = detectNodeProject(path.join(fixtures, 'writes-data'))
    expect(node.packageManager).toMatchObject({name: 'npm', lockfile: undefined, install: 'npm install --no-audit --no-fund'})
    expect(fact(node.facts, 'install')?.source).toMatch(/versions are NOT pinned/)
  })

  it('a monorepo with two runnable packages is a question naming --package, never a guess', () => {
    const dir = path.join(fixtures, 'monorepo')
    const error = (() => {
      try {
        detectApp(dir)
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(NodeChoiceNeeded)
    expect(error).toMatchObject({flag: '--package', choices: [{value: 'packages/api'}, {value: 'packages/web'}]})
    expect((error as UserError).hint).toMatch(/--package packages\/api/)
    const chosen = detectApp(dir, {package: 'packages/api'})
    expect(chosen.node).toMatchObject({packageDir: 'packages/api', manifests: ['package.json', 'packages/api/package.json', 'packages/web/package.json'], choices: {package: 'packages/api'}})
    expect(chosen.port).toBe(3000)
  })
})

describe('detect-node: rules', () => {
  it('two app frameworks at once are a question naming --framework', () => {
    const dir = project({'package.json': {scripts: {build: 'x'}, dependencies: {next: '16', 'react-scripts': '5'}}})
    expect(() => detectNodeProject(dir)).toThrow(NodeChoiceNeeded)
    expect(() => detectNodeProject(dir)).toThrow(/lists Next\.js and Create React App/)
    expect(detectNodeProject(dir, {framework: 'cra'})).toMatchObject({kind: 'spa', outputDir: 'build'})
  })

  it('Vite under SvelteKit or Astro is not a second framework', () => {
    const dir = project({'package.json': {scripts: {build: 'vite build'}, devDependencies: {vite: '8', '@sveltejs/kit': '2', '@sveltejs/adapter-static': '3'}}})
    expect(detectNodeProject(dir)).toMatchObject({kind: 'spa', framework: 'SvelteKit (static)', outputDir: 'build'})
  })

  it('an Express server that also builds a Vite front end is the server', () => {
    const dir = project({'package.json': {scripts: {build: 'vite build', start: 'node server.js'}, dependencies: {express: '5'}, devDependencies: {vite: '8'}}, 'server.js': ''})
    expect(detectNodeProject(dir)).toMatchObject({kind: 'build-server', framework: 'Express', startCommand: ['node', 'server.js']})
  })

  it('a "main" or start file that does not exist is said at detection, before anything is built', () => {
    const missingMain = project({'package.json': {main: 'index.js'}})
    expect(() => detectApp(missingMain)).toThrow(/package\.json "main" runs index\.js, but index\.js does not exist/)
    const missingStart = project({'package.json': {scripts: {start: 'node dist/server.js'}}})
    expect(() => detectApp(missingStart)).toThrow(/scripts\.start runs dist\/server\.js, but dist\/server\.js does not exist and there is no build script/)
    // With a build script writing dist/, the file is the build's to make.
    const built = project({'package.json': {scripts: {build: 'tsc', start: 'node dist/server.js'}}})
    expect(detectApp(built).node).toMatchObject({kind: 'build-server', outputDir: 'dist'})
  })

  it('an SPA without a build script is said in one sentence', () => {
    const dir = project({'package.json': {scripts: {dev: 'vite'}, devDependencies: {vite: '8'}}, 'index.html': ''})
    expect(() => detectApp(dir)).toThrow(/uses Vite but has no "build" script/)
  })

  it('yarn berry: --immutable, and workspaces focus for production', () => {
    const dir = project({'package.json': {packageManager: 'yarn@4.10.3', scripts: {build: 'tsc', start: 'node dist/index.js'}}, 'yarn.lock': '__metadata:\n  version: 8\n', '.yarnrc.yml': 'nodeLinker: node-modules\n'})
    const node = detectNodeProject(dir)
    expect(node.packageManager).toMatchObject({name: 'yarn', berry: true, install: 'yarn install --immutable', installProduction: 'yarn workspaces focus --all --production'})
    const {dockerfile} = nodeImageFiles(dir, node, 8080, node.startCommand)
    expect(dockerfile).toContain('RUN corepack enable')
    expect(dockerfile).toContain('COPY package.json yarn.lock .yarnrc.yml ./')
    expect(dockerfile).toContain('RUN yarn install --immutable')
    expect(dockerfile).toContain('RUN yarn workspaces focus --all --production')
  })

  it('engines.node picks the base image major: the default when allowed, else the newest allowed', () => {
    expect(rangeAllowsMajor('>=20', 22)).toBe(true)
    expect(rangeAllowsMajor('^20.9.0', 22)).toBe(false)
    expect(rangeAllowsMajor('^20.9.0', 20)).toBe(true)
    expect(rangeAllowsMajor('18.x || 20.x', 20)).toBe(true)
    expect(rangeAllowsMajor('>=18 <21', 22)).toBe(false)
    expect(rangeAllowsMajor('~24.1', 24)).toBe(true)
    expect(rangeAllowsMajor('>= 24', 22)).toBe(false)
    const dir = project({'package.json': {engines: {node: '^20.9.0'}, scripts: {start: 'node a.js'}}, 'a.js': ''})
    expect(detectNodeProject(dir).nodeMajor).toBe(20)
    const {dockerfile} = nodeImageFiles(dir, detectNodeProject(dir), 8080, undefined)
    expect(dockerfile).toContain('ARG NODE_IMAGE=node:20-slim')
  })
})

describe('Node Dockerfiles', () => {
  it('every kind installs from the manifests before the sources, and never needs BuildKit', () => {
    for (const fixture of ['vite-react', 'next-app', 'nest-app', 'express-ts', 'fastify-pnpm', 'writes-data']) {
      const dir = path.join(fixtures, fixture)
      const node = detectNodeProject(dir)
      const {dockerfile} = nodeImageFiles(dir, node, 8080, node.startCommand)
      const install = dockerfile.indexOf(`RUN ${node.kind === 'server' ? node.packageManager.installProduction : node.packageManager.install}`)
      expect(install, fixture).toBeGreaterThan(0)
      expect(install, fixture).toBeLessThan(dockerfile.indexOf('COPY . .') === -1 ? dockerfile.indexOf('COPY --chown=10001:10001 . .') : dockerfile.indexOf('COPY . .'))
      expect(dockerfile, fixture).not.toMatch(/--mount|<<EOF/)
      expect(dockerfile, fixture).toMatch(/^USER 10001$/m)
    }
  })

  it('a server image lets the app write its own folder', () => {
    const dir = path.join(fixtures, 'writes-data')
    const node = detectNodeProject(dir)
    const {dockerfile} = nodeImageFiles(dir, node, 8080, node.startCommand)
    expect(dockerfile).toContain('RUN chown 10001:10001 /app')
    expect(dockerfile).toContain('COPY --chown=10001:10001 . .')
  })

  it('an SPA gets its nginx.conf, with the SPA fallback, gzip, and no dotfiles', () => {
    const dir = path.join(fixtures, 'vite-react')
    const files = nodeImageFiles(dir, detectNodeProject(dir), 8080, undefined)
    expect(files.dockerfile).toContain('COPY --from=build /app/dist/ /usr/share/nginx/html/')
    expect(files.extraFiles['nginx.conf']).toContain('try_files $uri $uri/ /index.html;')
    expect(files.extraFiles['nginx.conf']).toContain('gzip on;')
  })
})

describe('detect-node: Nuxt', () => {
  it('runs the server the build writes to .output/, from the build output only', () => {
    const dir = project({'package.json': {scripts: {build: 'nuxt build', dev: 'nuxt dev'}, dependencies: {nuxt: '4', vue: '3'}}})
    expect(detectNodeProject(dir)).toMatchObject({kind: 'build-server', framework: 'Nuxt', startCommand: ['node', '.output/server/index.mjs'], outputDir: '.output'})
  })
})
