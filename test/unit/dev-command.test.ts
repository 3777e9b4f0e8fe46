import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {detectApp} from '../../src/lib/detect.js'
import {devCommand} from '../../src/lib/dev-command.js'

const example = (name: string) => path.resolve(import.meta.dirname, '../../examples', name)
const fixture = (name: string) => path.resolve(import.meta.dirname, '../fixtures/python', name)

describe('devCommand: what the pods run in watch mode', () => {
  it('runs the detected app with its reloader: node --watch, gunicorn reloaded by HUP, flask run --reload', () => {
    const node = example('hello-node')
    expect(devCommand({port: 8080, context: node}, detectApp(node))).toEqual({command: ['node', '--watch', 'server.js'], source: 'node --watch'})
    // The project lists gunicorn: the production server runs, and devkube sends HUP after each sync.
    const python = example('hello-python')
    expect(devCommand({port: 5000, context: python}, detectApp(python))).toEqual({
      command: ['gunicorn', '--bind', '0.0.0.0:5000', 'app:app'],
      source: 'gunicorn, reloaded by HUP after each sync',
      reloadSignal: 'HUP',
    })
    const django = fixture('django')
    expect(devCommand({port: 8000, context: django}, detectApp(django))).toMatchObject({command: ['gunicorn', '--bind', '0.0.0.0:8000', expect.stringMatching(/\.wsgi$/)], reloadSignal: 'HUP'})
    // Without gunicorn: Flask's own reloading dev server.
    const flask = fixture('flask-factory')
    const dev = devCommand({port: 5000, context: flask}, detectApp(flask))
    expect(dev).toMatchObject({command: expect.arrayContaining(['flask', 'run', '--reload']), source: 'flask run --reload'})
    expect(dev).not.toHaveProperty('reloadSignal')
  })

  it('takes dev.command from devkube.yaml first, and has none for a Go app', () => {
    const node = example('hello-node')
    expect(devCommand({devCommand: ['npm', 'run', 'dev'], context: node}, detectApp(node))).toEqual({command: ['npm', 'run', 'dev'], source: 'dev.command in devkube.yaml'})
    const go = example('hello-go')
    expect(devCommand({context: go}, detectApp(go))).toEqual({none: 'go apps are rebuilt on every change'})
  })
})
