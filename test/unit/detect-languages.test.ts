/**
 * Python, Go, Procfile and own-Dockerfile detection, and the Dockerfiles devkube writes from it (those
 * whose installers cannot run offline — Poetry, uv, Pipenv — are checked here as rendered text only).
 */
import {cpSync, mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {detectApp} from '../../src/lib/detect.js'
import {parseDockerfile} from '../../src/lib/detect-dockerfile.js'
import {pythonVersion, satisfies} from '../../src/lib/detect-python.js'
import {planScaffold} from '../../src/lib/scaffold.js'

const fixtures = path.join(import.meta.dirname, '..', 'fixtures')

function project(files: Record<string, string>, name = 'app'): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-detect-')), name)
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
  return dir
}

function fixture(name: string): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-detect-')), path.basename(name))
  cpSync(path.join(fixtures, name), dir, {recursive: true})
  return dir
}

function dockerfileOf(dir: string, port = 8080): string {
  const detection = detectApp(dir)
  const lang = detection.lang === 'dockerfile' ? 'dockerfile' : detection.lang
  return planScaffold(dir, {name: 'app', lang, port, detection}).find((file) => file.path === 'Dockerfile')!.content
}

describe('Python: frameworks', () => {
  it('Django: manage.py + settings → gunicorn on the project\'s wsgi module, collectstatic when STATIC_ROOT is set', () => {
    const dir = fixture('python/django')
    const detection = detectApp(dir)
    expect(detection).toMatchObject({lang: 'python', python: {framework: 'django', pythonApp: 'mysite.wsgi', collectStatic: true, missingServer: undefined, pythonVersion: '3.12'}})
    expect(detection.startCommand).toEqual(['gunicorn', '--bind', '0.0.0.0:8080', 'mysite.wsgi'])
    expect(detection.facts).toContainEqual({key: 'static files', value: 'collectstatic at build', source: 'mysite/settings.py: STATIC_ROOT'})
    const dockerfile = dockerfileOf(dir)
    expect(dockerfile).toContain('RUN python manage.py collectstatic --noinput')
    // collectstatic runs as the app's user, after it owns /app.
    expect(dockerfile.indexOf('USER 10001')).toBeLessThan(dockerfile.indexOf('collectstatic --noinput'))
    expect(dockerfile).toContain('COPY --chown=10001:10001 . .')
    expect(dockerfile).toContain('RUN chown 10001:10001 /app')
  })

  it('Django without STATIC_ROOT, and a settings package (config/settings/production.py)', () => {
    const dir = project({
      'manage.py': 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")\nfrom django.core.management import execute_from_command_line\n',
      'config/settings/production.py': 'from .base import *\nDEBUG = False\n',
      'config/settings/base.py': 'WSGI_APPLICATION = "config.wsgi.application"\n',
      'requirements.txt': 'django\n',
    })
    expect(detectApp(dir).python).toMatchObject({framework: 'django', pythonApp: 'config.wsgi', collectStatic: false, missingServer: 'gunicorn'})
    expect(dockerfileOf(dir)).not.toContain('collectstatic')
    expect(dockerfileOf(dir)).toContain('RUN pip install --no-cache-dir -r requirements.txt gunicorn')
  })

  it('FastAPI app factory: uvicorn --factory', () => {
    const dir = project({'requirements.txt': 'fastapi\nuvicorn\n', 'app/main.py': 'from fastapi import FastAPI\n\n\ndef create_app() -> FastAPI:\n    app = FastAPI()\n    return app\n'})
    expect(detectApp(dir).startCommand).toEqual(['python', '-m', 'uvicorn', '--factory', 'app.main:create_app', '--host', '0.0.0.0', '--port', '8080'])
  })

  it('Starlette: uvicorn, added when the requirements do not list it', () => {
    const dir = project({'requirements.txt': 'starlette\n', 'main.py': 'from starlette.applications import Starlette\napp = Starlette()\n'})
    expect(detectApp(dir)).toMatchObject({python: {framework: 'starlette', pythonApp: 'main:app', missingServer: 'uvicorn'}})
  })

  it('Flask factory in a package (the tutorial\'s flaskr): gunicorn \'flaskr:create_app()\'', () => {
    const detection = detectApp(fixture('python/flask-factory'))
    expect(detection.startCommand).toEqual(['gunicorn', '--bind', '0.0.0.0:8080', 'flaskr:create_app()'])
    expect(detection.facts).toContainEqual({key: 'app factory', value: 'flaskr:create_app()', source: 'flaskr/__init__.py'})
  })
})

describe('Python: dependencies and version', () => {
  const app = {'main.py': 'from flask import Flask\napp = Flask(__name__)\n'}

  it('Poetry (poetry.lock): poetry installs the main group into the image\'s Python, gunicorn added', () => {
    const dir = project({...app, 'pyproject.toml': '[tool.poetry]\nname = "x"\n\n[tool.poetry.dependencies]\npython = "^3.11"\nflask = "^3"\n', 'poetry.lock': '# lock\n'})
    const dockerfile = dockerfileOf(dir)
    expect(dockerfile).toContain('COPY pyproject.toml poetry.lock ./')
    expect(dockerfile).toContain('poetry config virtualenvs.create false')
    expect(dockerfile).toContain('poetry install --no-interaction --no-ansi --no-root --only main \\\n && pip install --no-cache-dir gunicorn')
  })

  it('uv (uv.lock): exported to pinned requirements that pip installs', () => {
    const dir = project({...app, 'pyproject.toml': '[project]\nname = "x"\nrequires-python = ">=3.10,<3.12"\ndependencies = ["flask", "gunicorn"]\n', 'uv.lock': 'version = 1\n'})
    const dockerfile = dockerfileOf(dir)
    expect(dockerfile).toContain('COPY pyproject.toml uv.lock ./')
    expect(dockerfile).toContain('uv export --frozen --no-dev --no-hashes --no-emit-project -o /tmp/requirements.txt')
    expect(dockerfile).toContain('pip install --no-cache-dir -r /tmp/requirements.txt\n')
    // requires-python excludes 3.12: the newest version it allows.
    expect(dockerfile).toContain('ARG PYTHON_IMAGE=python:3.11-slim')
  })

  it('Pipenv (Pipfile.lock): pipenv install --system --deploy', () => {
    const dir = project({...app, Pipfile: '[packages]\nflask = "*"\ngunicorn = "*"\n', 'Pipfile.lock': '{}\n'})
    const dockerfile = dockerfileOf(dir)
    expect(dockerfile).toContain('COPY Pipfile Pipfile.lock ./')
    expect(dockerfile).toContain('pipenv install --system --deploy\n')
  })

  it('.python-version wins over requires-python; ranges pick the default when it fits', () => {
    expect(pythonVersion(project({'.python-version': '3.10.4\n', 'pyproject.toml': 'requires-python = ">=3.12"\n'}))).toEqual({version: '3.10', source: '.python-version'})
    expect(pythonVersion(project({'pyproject.toml': 'requires-python = ">=3.9"\n'}))).toMatchObject({version: '3.12'})
    expect(pythonVersion(project({}))).toEqual({version: '3.12', source: 'default'})
    expect(satisfies('3.11', '~=3.11.0')).toBe(true)
    expect(satisfies('3.12', '~=3.11.0')).toBe(false)
    expect(satisfies('3.12', '==3.12.*')).toBe(true)
    expect(satisfies('3.12', '>=3.8,!=3.12.*')).toBe(false)
  })
})

describe('Procfile', () => {
  it('its web: line starts the app in a shell ($PORT works), exec\'d so the app gets SIGTERM', () => {
    const dir = fixture('python/procfile')
    const detection = detectApp(dir)
    expect(detection.startCommand).toEqual(['sh', '-c', 'exec gunicorn wsgi:application --bind 0.0.0.0:$PORT --workers 2'])
    expect(detection.facts).toContainEqual({key: 'start command', value: 'gunicorn wsgi:application --bind 0.0.0.0:$PORT --workers 2', source: 'Procfile: web'})
    expect(dockerfileOf(dir)).toContain('CMD ["sh", "-c", "exec gunicorn wsgi:application --bind 0.0.0.0:$PORT --workers 2"]')
  })

  it('Go: the binary gets the line\'s arguments with $PORT filled in (the runtime image has no shell)', () => {
    const dir = project({'go.mod': 'module x\n\ngo 1.21\n', 'main.go': 'package main\nfunc main() {}\n', Procfile: 'web: bin/x -addr :$PORT\n'})
    expect(dockerfileOf(dir, 9000)).toContain('ENTRYPOINT ["/app", "-addr", ":9000"]')
  })
})

describe('Go', () => {
  it('the golang tag from go.mod\'s toolchain line, else its go line; the image\'s older Go still builds it', () => {
    const dockerfile = dockerfileOf(fixture('go/cmd-server'))
    expect(dockerfile).toContain('ARG GO_IMAGE=golang:1.23')
    expect(dockerfile).toContain('GOTOOLCHAIN=local')
    expect(dockerfile).toMatch(/sed -i -E "s\/\^go\[\[:space:\]\]\+\[0-9\]\[0-9\.\]\*\/go \$have\/; \/\^toolchain\[\[:space:\]\]\/d" go\.mod/)
    expect(dockerfile).toContain('go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/server')
    expect(dockerfileOf(project({'go.mod': 'module x\n\ngo 1.21.5\n', 'main.go': 'package main\nfunc main() {}\n'}))).toContain('ARG GO_IMAGE=golang:1.21')
  })

  it('several commands under cmd/: an error naming them and --cmd; --cmd picks one', () => {
    const files = {'go.mod': 'module x\n\ngo 1.22\n', 'cmd/api/main.go': 'package main\nfunc main() {}\n', 'cmd/worker/main.go': 'package main\nfunc main() {}\n'}
    const dir = project(files)
    expect(() => detectApp(dir)).toThrow('cmd/ holds several commands (api, worker), and devkube cannot tell which one is the server.')
    expect(detectApp(dir, {goCommand: 'worker'}).goPackage).toBe('./cmd/worker')
    expect(() => detectApp(dir, {goCommand: 'web'})).toThrow('--cmd web names no command: cmd/ holds api, worker.')
  })

  it('vendor/: builds with -mod=vendor and downloads nothing', () => {
    const dir = project({'go.mod': 'module x\n\ngo 1.22\n', 'main.go': 'package main\nfunc main() {}\n', 'vendor/modules.txt': '# example.com/y v1.0.0\n'})
    const dockerfile = dockerfileOf(dir)
    expect(dockerfile).toContain('go build -mod=vendor -trimpath')
    expect(dockerfile).not.toContain('RUN go mod download')
  })
})

describe('the project\'s own Dockerfile', () => {
  it('the port from the EXPOSE of the stage build.target names, and that stage\'s user', () => {
    const dir = fixture('dockerfile/multistage')
    expect(detectApp(dir, {target: 'prod'})).toMatchObject({lang: 'dockerfile', port: 9000, portSource: 'Dockerfile: EXPOSE 9000'})
    expect(detectApp(dir, {target: 'prod'}).facts).toContainEqual({key: 'runs as', value: 'app', source: 'Dockerfile: USER'})
    expect(detectApp(dir, {target: 'dev'}).port).toBe(5000)
    // Without a target the last stage is built: it exposes nothing.
    expect(detectApp(dir).portSource).toBeUndefined()
  })

  it('knows the syntax only BuildKit builds', () => {
    expect(parseDockerfile('FROM x\nRUN echo hi\n').buildKitFeatures).toEqual([])
    expect(parseDockerfile('# syntax=docker/dockerfile:1\nFROM x\n').buildKitFeatures).toEqual(['a `# syntax=` line'])
    expect(parseDockerfile('FROM x\nRUN --mount=type=cache,target=/root/.cache pip install -r r.txt\n').buildKitFeatures).toEqual(['RUN --mount'])
    expect(parseDockerfile('FROM x\nCOPY <<EOF /a\nhi\nEOF\n').buildKitFeatures).toEqual(['a heredoc (<<EOF)'])
  })
})
