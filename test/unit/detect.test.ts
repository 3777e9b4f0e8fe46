import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import {detectApp, GENERATED_MARKER, hasOwnDockerfile} from '../../src/lib/detect.js'
import {UserError} from '../../src/lib/errors.js'

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples')
const folders: string[] = []

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'devkube-detect-'))
  folders.push(dir)
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
  return dir
}

const packageJson = (fields: object) => JSON.stringify({name: 'app', version: '1.0.0', ...fields})

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

describe('detectApp: Node', () => {
  it('detects a start script and runs `node <file>` without npm', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'node server.js'}}), 'server.js': 'require("http").createServer().listen(3000)\n'})
    expect(detectApp(dir)).toMatchObject({
      lang: 'node',
      reason: 'package.json: Node.js server',
      port: 3000,
      portSource: 'server.js: .listen(3000',
      startCommand: ['node', 'server.js'],
      entryFile: 'server.js',
    })
  })

  it('lists what it found as facts, each with where it came from', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'node server.js'}}), 'server.js': 'require("http").createServer().listen(3000)\n'})
    expect(detectApp(dir).facts).toEqual(expect.arrayContaining([
      {key: 'port', value: '3000', source: 'server.js: .listen(3000'},
      {key: 'start command', value: 'node server.js', source: 'package.json scripts.start'},
      {key: 'package manager', value: 'npm', source: 'default'},
    ]))
  })

  it('detects "main" when there is no start script', () => {
    const dir = project({'package.json': packageJson({main: 'src/index.js'}), 'src/index.js': 'const port = process.env.PORT || 4000\n'})
    expect(detectApp(dir)).toMatchObject({lang: 'node', reason: 'package.json: Node.js server', port: 4000, startCommand: ['node', 'src/index.js']})
  })

  it('falls back to `npm start` for a start script that needs a shell', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'npm run build && node dist/main.js'}})})
    expect(detectApp(dir).startCommand).toEqual(['npm', 'start'])
  })

  it('reads the port from PORT=… in the scripts', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'PORT=5050 node app.js'}}), 'app.js': ''})
    expect(detectApp(dir)).toMatchObject({port: 5050, portSource: 'package.json scripts: PORT=5050'})
  })

  it('reads the port from `PORT ?? 3001` before a later listen call', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'node index.mjs'}}), 'index.mjs': 'const port = Number(process.env.PORT ?? 3001)\nserver.listen(port)\n'})
    expect(detectApp(dir).port).toBe(3001)
  })

  it('defaults to 8080 when the code does not say', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'node index.js'}}), 'index.js': 'server.listen(process.env.PORT)\n'})
    const detection = detectApp(dir)
    expect(detection.port).toBe(8080)
    expect(detection.portSource).toBeUndefined()
  })

  it('does not take package.json without start, main or server.js for a Node app', () => {
    const dir = project({'package.json': packageJson({scripts: {test: 'vitest'}}), 'index.html': '<h1>hi</h1>'})
    expect(detectApp(dir).lang).toBe('static')
  })

  it('says what is wrong with an unreadable package.json', () => {
    const dir = project({'package.json': '{"name": '})
    expect(() => detectApp(dir)).toThrow(/package\.json in .* is not valid JSON/)
  })
})

describe('detectApp: Python', () => {
  it('detects Flask from requirements.txt and the import, with the app object gunicorn loads', () => {
    const dir = project({
      'requirements.txt': 'Flask==3.0.0\n',
      'app.py': 'from flask import Flask\napplication = Flask(__name__)\n\nif __name__ == "__main__":\n    application.run(host="0.0.0.0", port=5000)\n',
    })
    expect(detectApp(dir)).toMatchObject({
      lang: 'python',
      reason: 'requirements.txt is there and the app uses Flask',
      entryModule: 'app',
      entryFile: 'app.py',
      python: {framework: 'flask', pythonApp: 'app:application', missingServer: 'gunicorn'},
      port: 5000,
      startCommand: ['gunicorn', '--bind', '0.0.0.0:5000', 'app:application'],
    })
  })

  it('does not add gunicorn when the requirements list it', () => {
    const dir = project({'requirements.txt': 'flask>=2\ngunicorn==21.2\n', 'wsgi.py': 'import flask\napp = flask.Flask(__name__)\n'})
    const detection = detectApp(dir)
    expect(detection).toMatchObject({entryModule: 'wsgi', python: {framework: 'flask', missingServer: undefined}})
  })

  it('loads a Flask app factory', () => {
    const dir = project({'requirements.txt': 'flask\n', 'app.py': 'from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n'})
    expect(detectApp(dir).python?.pythonApp).toBe('app:create_app()')
  })

  it('detects FastAPI from pyproject.toml, its dependency list, and the uvicorn port', () => {
    const dir = project({
      'pyproject.toml': '[project]\nname = "api"\ndependencies = [\n  "fastapi>=0.110",\n  "uvicorn[standard]",\n]\n',
      'main.py': 'from fastapi import FastAPI\napi = FastAPI()\n\nif __name__ == "__main__":\n    import uvicorn\n    uvicorn.run(api, host="0.0.0.0", port=8000)\n',
    })
    expect(detectApp(dir)).toMatchObject({
      lang: 'python',
      reason: 'pyproject.toml is there and the app uses FastAPI',
      python: {framework: 'fastapi', pythonApp: 'main:api', installer: 'pyproject', dependencyFiles: ['pyproject.toml'], pyprojectDependencies: ['fastapi>=0.110', 'uvicorn[standard]'], missingServer: undefined},
      port: 8000,
      startCommand: ['python', '-m', 'uvicorn', 'main:api', '--host', '0.0.0.0', '--port', '8000'],
    })
  })

  it('detects a plain Python app and the file that runs it', () => {
    const dir = project({
      'requirements.txt': 'requests\n',
      'helpers.py': 'def x():\n    pass\n',
      'serve.py': 'import os\nPORT = int(os.getenv("PORT", "9000"))\nif __name__ == "__main__":\n    pass\n',
    })
    expect(detectApp(dir)).toMatchObject({python: {framework: 'plain'}, entryFile: 'serve.py', port: 9000, startCommand: ['python', 'serve.py']})
  })

  it('reads the port from a --port in a Procfile-like command line in the code', () => {
    const dir = project({'requirements.txt': 'flask\n', 'app.py': 'from flask import Flask\napp = Flask(__name__)\n# gunicorn --bind 0.0.0.0:7000 app:app\n'})
    expect(detectApp(dir).port).toBe(7000)
  })

  it('fails clearly when there is no Python file to start', () => {
    const dir = project({'requirements.txt': 'flask\n'})
    expect(() => detectApp(dir)).toThrow('no Python file to start (looked for manage.py, app.py, main.py')
  })
})

describe('detectApp: Go', () => {
  it('detects go.mod, builds the root package, and reads the port from ListenAndServe', () => {
    const dir = project({'go.mod': 'module x\n\ngo 1.22\n', 'main.go': 'package main\n\nfunc main() { http.ListenAndServe(":9090", nil) }\n'})
    expect(detectApp(dir)).toMatchObject({lang: 'go', reason: 'go.mod is there', goPackage: '.', port: 9090})
  })

  it('builds ./cmd/<name> when the main package lives there', () => {
    const dir = project({
      'go.mod': 'module x\n',
      'lib.go': 'package x\n',
      'cmd/server/main.go': 'package main\n\nfunc main() {\n\tport := os.Getenv("PORT")\n\tif port == "" {\n\t\tport = "7070"\n\t}\n}\n',
    })
    expect(detectApp(dir)).toMatchObject({goPackage: './cmd/server', port: 7070})
  })
})

describe('detectApp: static site and own Dockerfile', () => {
  it('detects a static site from index.html', () => {
    expect(detectApp(project({'index.html': '<h1>Hello World</h1>'}))).toMatchObject({lang: 'static', reason: 'index.html is there', port: 8080})
  })

  it('prefers the project\'s own Dockerfile over everything else and reads its EXPOSE', () => {
    const dir = project({
      Dockerfile: 'FROM node:22\nEXPOSE 5000\nCMD ["node", "x.js"]\n',
      'package.json': packageJson({scripts: {start: 'node x.js'}}),
      'x.js': '',
    })
    expect(hasOwnDockerfile(dir)).toBe(true)
    expect(detectApp(dir)).toMatchObject({lang: 'dockerfile', reason: 'the project has its own Dockerfile', port: 5000})
  })

  it('does not count a Dockerfile devkube wrote as the project\'s own', () => {
    const dir = project({
      Dockerfile: `${GENERATED_MARKER} (Node.js).\nFROM node\n`,
      'package.json': packageJson({scripts: {start: 'node x.js'}}),
      'x.js': '',
    })
    expect(hasOwnDockerfile(dir)).toBe(false)
    expect(detectApp(dir).lang).toBe('node')
  })
})

describe('detectApp: unrecognised folder and --lang', () => {
  it('lists what it looked for and how to pass --lang', () => {
    const dir = project({'README.md': '# nothing here\n'})
    let error: unknown
    try {
      detectApp(dir)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(UserError)
    const {message, hint} = error as UserError
    expect(message).toContain(`Cannot tell what kind of app is in ${dir}`)
    for (const lookedFor of ['Dockerfile', 'package.json', 'requirements.txt', 'pyproject.toml', 'go.mod', 'index.html']) expect(message).toContain(lookedFor)
    expect(hint).toContain('--lang node|python|go|static')
  })

  it('trusts --lang over what the folder looks like, and still detects the port', () => {
    const dir = project({'package.json': packageJson({scripts: {start: 'node a.js'}}), 'index.html': '', 'app.py': 'import os\nport = os.environ.get("PORT", 6000)\n'})
    expect(detectApp(dir, {lang: 'static'})).toMatchObject({lang: 'static', reason: '--lang says lang static'})
    expect(detectApp(dir, {lang: 'python'})).toMatchObject({lang: 'python', python: {framework: 'plain', dependencyFiles: []}, port: 6000})
  })

  it('says what a forced language needs when the folder lacks it', () => {
    const dir = project({'index.html': ''})
    expect(() => detectApp(dir, {lang: 'go'})).toThrow('--lang go needs a go.mod')
    expect(() => detectApp(dir, {lang: 'node'})).toThrow('--lang node needs a package.json')
    expect(() => detectApp(dir, {lang: 'dockerfile'})).toThrow('--lang dockerfile needs a Dockerfile')
  })

  it('fails clearly for a folder that does not exist', () => {
    expect(() => detectApp(path.join(tmpdir(), 'devkube-no-such-folder'))).toThrow('does not exist')
  })
})

describe('detectApp: the examples', () => {
  it.each([
    ['hello-node', {lang: 'node', port: 8080, startCommand: ['node', 'server.js']}],
    ['hello-python', {lang: 'python', port: 8080, python: {framework: 'flask', pythonApp: 'app:app', missingServer: undefined}}],
    ['hello-go', {lang: 'go', port: 8080, goPackage: '.'}],
  ])('%s', (example, expected) => {
    const detection = detectApp(path.join(examples, example))
    expect(detection).toMatchObject(expected)
    expect(detection.portSource, 'the port comes from the code, not the default').toBeDefined()
  })
})
