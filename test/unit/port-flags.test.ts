/** --port / --forward on the command line: PORT for a one-service app, SERVICE=PORT for an app with services:. */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {resolveConfig} from '../../src/lib/config.js'
import {UserError} from '../../src/lib/errors.js'
import {parseServicePorts, portOverrides} from '../../src/lib/flags.js'

const folders: string[] = []
function project(files: Record<string, string>): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-port-flags-')), 'shop')
  folders.push(path.dirname(dir))
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
  return dir
}
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

const SHOP = 'name: shop\nservices:\n  web:\n    build: {context: web}\n    port: 5000\n    forward: 9000\n  api:\n    build: {context: api}\n    port: 3000\n  db:\n    backing: postgres\n  worker:\n    image: busybox\n'
const WEB_AND_DB = 'name: blog\nservices:\n  web:\n    build: {context: web}\n    port: 5000\n  db:\n    backing: postgres\n'

function failure(run: () => unknown): UserError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(UserError)
    return error as UserError
  }
  throw new Error('expected a UserError')
}

describe('--forward / --port per service', () => {
  it('gives each named service its local port and container port; the others keep theirs', () => {
    const config = resolveConfig(project({'devkube.yaml': SHOP}), portOverrides({forward: ['api=8081', 'db=15432', 'web=8080'], port: ['api=3001']}))
    const byName = Object.fromEntries(config.services.map((service) => [service.name, service]))
    expect(byName.web).toMatchObject({port: 5000, forward: 8080})
    expect(byName.api).toMatchObject({port: 3001, forward: 8081})
    expect(byName.db).toMatchObject({port: 5432, forward: 15432})
  })

  it('keeps the plain form for a one-service app, and for the one built service of an app with services:', () => {
    const single = resolveConfig(project({'devkube.yaml': 'name: hello\nport: 3000\n'}), portOverrides({forward: ['9090']}))
    expect(single.services[0]).toMatchObject({name: 'hello', port: 3000, forward: 9090})
    // The one service of a single app may also be named.
    expect(resolveConfig(project({'devkube.yaml': 'name: hello\n'}), portOverrides({forward: ['hello=9091']})).services[0].forward).toBe(9091)
    const blog = resolveConfig(project({'devkube.yaml': WEB_AND_DB}), portOverrides({forward: ['8088'], port: ['5001']}))
    expect(blog.services.map((service) => [service.name, service.port, service.forward])).toEqual([
      ['web', 5001, 8088],
      ['db', 5432, undefined],
    ])
  })

  it('refuses an unknown service in one sentence listing the names', () => {
    const error = failure(() => resolveConfig(project({'devkube.yaml': SHOP}), portOverrides({forward: ['wbe=8080']})))
    expect(error.message).toBe('--forward wbe=8080 names no service of shop.')
    expect(error.hint).toBe('Its services: web, api, db, worker (did you mean --forward web=8080?).')
    const single = failure(() => resolveConfig(project({'devkube.yaml': 'name: hello\n'}), portOverrides({port: ['web=5000']})))
    expect(single.message).toBe('--port web=5000 names no service of hello.')
    expect(single.hint).toContain('Its services: hello')
  })

  it('refuses a plain port when several services are built, and a forward of a service without a port', () => {
    const plain = failure(() => resolveConfig(project({'devkube.yaml': SHOP}), portOverrides({forward: ['8080']})))
    expect(plain.message).toBe('--forward 8080 does not say which service it is for: shop builds web and api.')
    expect(plain.hint).toBe('Name the service, e.g. --forward web=8080 (repeatable); its services: web, api, db, worker.')
    const portless = failure(() => resolveConfig(project({'devkube.yaml': SHOP}), portOverrides({forward: ['worker=7000']})))
    expect(portless.message).toBe('--forward worker=7000: the service worker has no port to forward.')
  })

  it('reads PORT and SERVICE=PORT, and refuses anything else as not a port', () => {
    expect(parseServicePorts(['8080', 'web=9000'], '--forward')).toEqual({port: 8080, byService: {web: 9000}})
    expect(parseServicePorts(undefined, '--forward')).toEqual({port: undefined, byService: undefined})
    for (const bad of ['web', 'web=', '0', '70000', 'web=http']) {
      expect(failure(() => parseServicePorts([bad], '--forward')).message).toBe(`--forward ${bad} is not a port: it takes PORT or SERVICE=PORT, with PORT from 1 to 65535.`)
    }
  })
})
