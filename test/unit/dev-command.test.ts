import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {detectApp} from '../../src/lib/detect.js'
import {devCommand} from '../../src/lib/dev-command.js'

const example = (name: string) => path.resolve(import.meta.dirname, '../../examples', name)

describe('devCommand: what the pods run in watch mode', () => {
  it('runs the detected app with its reloader: node --watch, flask run --reload', () => {
    const node = example('hello-node')
    expect(devCommand({port: 8080, context: node}, detectApp(node))).toEqual({command: ['node', '--watch', 'server.js'], source: 'node --watch'})
    const python = example('hello-python')
    expect(devCommand({port: 5000, context: python}, detectApp(python))).toEqual({
      command: ['python', '-m', 'flask', '--app', 'app:app', 'run', '--reload', '--host', '0.0.0.0', '--port', '5000'],
      source: 'flask run --reload',
    })
  })

  it('takes dev.command from devkube.yaml first, and has none for a Go app', () => {
    const node = example('hello-node')
    expect(devCommand({devCommand: ['npm', 'run', 'dev'], context: node}, detectApp(node))).toEqual({command: ['npm', 'run', 'dev'], source: 'dev.command in devkube.yaml'})
    const go = example('hello-go')
    expect(devCommand({context: go}, detectApp(go))).toEqual({none: 'go apps are rebuilt on every change'})
  })
})
