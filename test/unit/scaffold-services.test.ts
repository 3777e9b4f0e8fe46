/** Each built service of an app with services: gets the Dockerfile its context lacks, as a single app does. */
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {resolveConfig} from '../../src/lib/config.js'
import {UserError} from '../../src/lib/errors.js'
import {planServiceImages, scaffoldServiceImages} from '../../src/lib/scaffold.js'

function project(files: Record<string, string>): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-service-images-')), 'shop')
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
  return dir
}

const FLASK = {'requirements.txt': 'flask==3.0.0\n', 'app.py': 'from flask import Flask\napp = Flask(__name__)\n\n@app.route("/")\ndef index():\n    return "hi"\n'}
const files = (prefix: string, entries: Record<string, string>) => Object.fromEntries(Object.entries(entries).map(([file, content]) => [`${prefix}/${file}`, content]))

describe('Dockerfiles of built services', () => {
  it("writes the detected Dockerfile into each context that lacks one, keeps a service's own, and never overwrites", () => {
    const dir = project({
      'devkube.yaml': 'name: shop\nservices:\n  web:\n    build: {context: web}\n  api:\n    build: {context: api}\n  db:\n    backing: postgres\n',
      ...files('web', FLASK),
      ...files('api', {'Dockerfile': 'FROM scratch\n# my own\n', 'server.js': ''}),
    })
    const config = resolveConfig(dir)
    const planned = planServiceImages(dir, config.services)
    expect(planned.map((entry) => [entry.service, entry.answers.lang])).toEqual([['web', 'python']])
    const written = scaffoldServiceImages(dir, planned)
    expect(written).toEqual([
      {path: 'web/Dockerfile', action: 'created'},
      {path: 'web/.dockerignore', action: 'created'},
    ])
    const dockerfile = readFileSync(path.join(dir, 'web', 'Dockerfile'), 'utf8')
    expect(dockerfile).toContain('requirements.txt')
    expect(readFileSync(path.join(dir, 'api', 'Dockerfile'), 'utf8')).toBe('FROM scratch\n# my own\n')
    // Nothing of a single app's scaffold lands in a service's folder or the project.
    expect(existsSync(path.join(dir, 'web', 'k8s'))).toBe(false)
    expect(existsSync(path.join(dir, 'web', 'devkube.yaml'))).toBe(false)

    // The user edits the written Dockerfile: a later plan has nothing to write, and a forced write keeps it.
    writeFileSync(path.join(dir, 'web', 'Dockerfile'), `${dockerfile}# edited\n`)
    expect(planServiceImages(dir, resolveConfig(dir).services)).toEqual([])
    expect(scaffoldServiceImages(dir, planned)).toEqual([
      {path: 'web/Dockerfile', action: 'kept'},
      {path: 'web/.dockerignore', action: 'kept'},
    ])
    expect(readFileSync(path.join(dir, 'web', 'Dockerfile'), 'utf8')).toContain('# edited')
  })

  it('says in one sentence which service it cannot write a Dockerfile for, and what to add', () => {
    const dir = project({
      'devkube.yaml': 'name: shop\nservices:\n  web:\n    build: {context: web}\n  docs:\n    build: {context: docs}\n',
      ...files('web', FLASK),
      'docs/notes.txt': 'nothing to run\n',
    })
    let error: unknown
    try {
      planServiceImages(dir, resolveConfig(dir).services)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).message).toMatch(/^The service docs has no Dockerfile in docs\/ and devkube cannot write one: cannot tell what kind of app is in .*docs: found none of /)
    expect((error as UserError).hint).toBe('Add docs/Dockerfile, or set `services.docs.lang` (node, python, go or static) in devkube.yaml.')
    // Planned before anything is written: web's Dockerfile was not written either.
    expect(existsSync(path.join(dir, 'web', 'Dockerfile'))).toBe(false)
  })
})
