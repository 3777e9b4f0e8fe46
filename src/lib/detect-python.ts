/**
 * Python detection: the framework (Django, FastAPI/Starlette, Flask, or a plain script), what the
 * production server loads (a module, an app variable or an app factory), how dependencies are
 * installed (requirements.txt, Poetry, uv, Pipenv or a PEP 621 pyproject) and which Python the
 * project asks for. Only reads files.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {codeFiles, findPort, isFile, portOrDefault, type SourceFile} from './detect-files.js'
import type {Detection, DetectionFact} from './detect.js'
import {UserError} from './errors.js'

export type PythonFramework = 'django' | 'fastapi' | 'starlette' | 'flask' | 'plain'

/** How the image installs the dependencies; each has a fragment under templates/docker/python/. */
export type PythonInstaller = 'requirements' | 'poetry' | 'uv' | 'pipenv' | 'pyproject' | 'none'

/** The Python devkube's Dockerfile uses when the project does not say (python:<version>-slim). */
export const DEFAULT_PYTHON_VERSION = '3.12'
/** Versions with a python:<version>-slim image, newest first: a requires-python range picks among them. */
const PYTHON_VERSIONS = ['3.13', '3.12', '3.11', '3.10', '3.9', '3.8']

const ENTRY_CANDIDATES = ['app.py', 'main.py', 'wsgi.py', 'asgi.py', 'server.py', 'application.py', '__main__.py']

export interface PythonDetails {
  framework: PythonFramework
  /** What gunicorn or uvicorn loads, e.g. "app:app", "app:create_app()" (gunicorn) or "main:create_app" with factory. */
  pythonApp?: string
  /** uvicorn --factory: pythonApp names a function that returns the app. */
  factory?: boolean
  installer: PythonInstaller
  /** Files the install step copies in first (the lock and the manifest), so code edits keep the layer cached. */
  dependencyFiles: string[]
  /** PEP 621 `dependencies` when pyproject.toml is the only list. */
  pyprojectDependencies?: string[]
  /** The production server the dependencies do not list, so the Dockerfile adds it. */
  missingServer?: 'gunicorn' | 'uvicorn'
  pythonVersion: string
  /** Django: run `manage.py collectstatic` at build (STATIC_ROOT is set). */
  collectStatic?: boolean
}

export function detectPython(dir: string, given?: string): Detection & {python: PythonDetails} {
  const facts: DetectionFact[] = []
  const dependencies = detectDependencies(dir)
  // A name in a requirements line, a TOML list ("flask", "gunicorn") or table key (flask = "^3"); comments do not count.
  const listedText = dependencies.text.replaceAll(/#.*$/gm, '')
  const lists = (pkg: string) => new RegExp(`(?:^|[\\s\\[,"'])${pkg}(?=\\s*($|[<>=!~\\[;,"'\\s]))`, 'im').test(listedText)
  const sources = codeFiles(dir, ['.py'])
  const ordered = [
    ...ENTRY_CANDIDATES.flatMap((name) => sources.filter((source) => source.file === name)),
    ...sources.filter((source) => !ENTRY_CANDIDATES.includes(source.file)),
  ]
  const version = pythonVersion(dir)
  facts.push({key: 'python', value: version.version, source: version.source})
  if (dependencies.installer !== 'none') facts.push({key: 'dependencies', value: INSTALLER_NAMES[dependencies.installer], source: dependencies.files.at(-1) ?? 'pyproject.toml'})

  const django = detectDjango(dir)
  if (django) {
    facts.push({key: 'framework', value: 'Django', source: `manage.py (settings ${django.settingsModule})`})
    if (django.collectStatic) facts.push({key: 'static files', value: 'collectstatic at build', source: `${django.settingsFile}: STATIC_ROOT`})
    const pythonApp = django.wsgiModule
    const found = findPort(ordered, PORT_PATTERNS)
    const {port, portSource} = portOrDefault(found)
    const details: PythonDetails = {
      framework: 'django',
      pythonApp,
      installer: dependencies.installer,
      dependencyFiles: dependencies.files,
      pyprojectDependencies: dependencies.pyprojectDependencies,
      missingServer: lists('gunicorn') ? undefined : 'gunicorn',
      pythonVersion: version.version,
      collectStatic: django.collectStatic,
    }
    return {
      lang: 'python',
      facts,
      reason: given ?? `manage.py is there and ${django.settingsFile} holds Django's settings`,
      port,
      portSource,
      startCommand: pythonStartCommand(details, port),
      entryModule: django.wsgiModule,
      entryFile: 'manage.py',
      python: details,
    }
  }

  const imports = (pkg: string) => new RegExp(`^\\s*(from\\s+${pkg}(\\.\\w+)*\\s+import|import\\s+${pkg}\\b)`, 'm')
  const entryUsing = (pkg: string, constructor: string) => ordered.find((source) => imports(pkg).test(source.text) && source.text.includes(`${constructor}(`))
  let framework: PythonFramework = 'plain'
  let entry = entryUsing('fastapi', 'FastAPI')
  if (entry || (lists('fastapi') && !lists('flask'))) framework = 'fastapi'
  else if ((entry = entryUsing('starlette', 'Starlette'))) framework = 'starlette'
  else {
    entry = entryUsing('flask', 'Flask')
    if (entry || lists('flask')) framework = 'flask'
  }
  entry ??= framework === 'plain' ? (ordered.find((source) => /__name__\s*==\s*["']__main__["']/.test(source.text)) ?? ordered[0]) : ordered[0]
  if (!entry) {
    throw new UserError(`Found ${dependencies.files.join(' and ') || 'a Python project'} in ${dir} but no Python file to start (looked for manage.py, ${ENTRY_CANDIDATES.join(', ')}).`, {
      hint: 'Add app.py (or main.py) at the top of the project, a Procfile with a `web:` line, or a Dockerfile of your own.',
    })
  }

  const entryModule = moduleName(entry.file)
  const found = findPort([entry, ...ordered.filter((source) => source !== entry)], PORT_PATTERNS)
  const {port, portSource} = portOrDefault(found)
  let pythonApp: string | undefined
  let factory = false
  let missingServer: PythonDetails['missingServer']
  if (framework === 'flask') {
    const app = appObject(entry, 'Flask')
    factory = app.factory
    pythonApp = `${entryModule}:${app.factory ? `${app.name}()` : app.name}`
    if (!lists('gunicorn')) missingServer = 'gunicorn'
  } else if (framework === 'fastapi' || framework === 'starlette') {
    const app = appObject(entry, framework === 'fastapi' ? 'FastAPI' : 'Starlette')
    factory = app.factory
    pythonApp = `${entryModule}:${app.name}`
    if (!lists('uvicorn')) missingServer = 'uvicorn'
  }
  const frameworkName = FRAMEWORK_NAMES[framework]
  if (framework !== 'plain') facts.push({key: 'framework', value: frameworkName, source: entry.file})
  if (pythonApp) facts.push({key: factory ? 'app factory' : 'app', value: pythonApp, source: entry.file})
  const details: PythonDetails = {
    framework,
    pythonApp,
    factory,
    installer: dependencies.installer,
    dependencyFiles: dependencies.files,
    pyprojectDependencies: dependencies.pyprojectDependencies,
    missingServer,
    pythonVersion: version.version,
  }
  const listed = dependencies.files.length > 0 ? `${dependencies.files.join(' and ')} ${dependencies.files.length > 1 ? 'are' : 'is'} there` : 'Python files are there'
  return {
    lang: 'python',
    facts,
    reason: given ?? `${listed}${framework === 'plain' ? '' : ` and the app uses ${frameworkName}`}`,
    port,
    portSource,
    startCommand: pythonStartCommand(details, port, entry.file),
    entryModule,
    entryFile: entry.file,
    python: details,
  }
}

const FRAMEWORK_NAMES: Record<PythonFramework, string> = {django: 'Django', fastapi: 'FastAPI', starlette: 'Starlette', flask: 'Flask', plain: 'plain Python'}
const INSTALLER_NAMES: Record<PythonInstaller, string> = {requirements: 'pip', poetry: 'Poetry', uv: 'uv', pipenv: 'Pipenv', pyproject: 'pip', none: 'none'}

/** The production start command: gunicorn (WSGI), uvicorn (ASGI) or python for a plain script. */
export function pythonStartCommand(details: Pick<PythonDetails, 'framework' | 'pythonApp' | 'factory'>, port: number, entryFile = 'main.py'): string[] {
  const bind = `0.0.0.0:${port}`
  if ((details.framework === 'django' || details.framework === 'flask') && details.pythonApp) return ['gunicorn', '--bind', bind, details.pythonApp]
  if ((details.framework === 'fastapi' || details.framework === 'starlette') && details.pythonApp) {
    // `python -m uvicorn` works wherever the package is importable, also where no `uvicorn` script was installed.
    return ['python', '-m', 'uvicorn', ...(details.factory ? ['--factory'] : []), details.pythonApp, '--host', '0.0.0.0', '--port', String(port)]
  }
  return ['python', entryFile]
}

const PORT_PATTERNS = [
  /(?:environ\.get|getenv)\(\s*["']PORT["']\s*,\s*["']?(\d{2,5})\b/,
  /\.run\([^)]*\bport\s*=\s*(\d{2,5})\b/,
  /--port[= ](\d{2,5})\b/,
  /(?:-b|--bind)[= ]["']?[\w.]*:(\d{2,5})\b/,
]

/** "pkg/__init__.py" is imported as "pkg", "app/main.py" as "app.main". */
function moduleName(file: string): string {
  return file.replace(/\.py$/, '').replace(/\/__init__$/, '').replaceAll('/', '.')
}

/**
 * The app object of a framework in a module: a module-level variable (`app = Flask(__name__)`), else
 * a top-level function that builds it (`def create_app():` — an app factory).
 */
function appObject(entry: SourceFile, constructor: string): {name: string; factory: boolean} {
  const variable = new RegExp(`^(\\w+)\\s*(?::\\s*\\w+\\s*)?=\\s*${constructor}\\(`, 'm').exec(entry.text)?.[1]
  if (variable) return {name: variable, factory: false}
  for (const match of entry.text.matchAll(/^def\s+(\w+)\s*\(([^)]*)\)[^:]*:\n((?:[ \t]+.*\n|\s*\n)*)/gm)) {
    if (match[3].includes(`${constructor}(`)) return {name: match[1], factory: true}
  }
  if (/^def\s+create_app\s*\(/m.test(entry.text)) return {name: 'create_app', factory: true}
  return {name: 'app', factory: false}
}

// ---- Django ------------------------------------------------------------------------------------

interface DjangoProject {
  settingsModule: string
  settingsFile: string
  /** What gunicorn loads, e.g. "mysite.wsgi" (its `application`). */
  wsgiModule: string
  collectStatic: boolean
}

/** A Django project: manage.py naming a settings module that exists (startproject's layout and its variants). */
function detectDjango(dir: string): DjangoProject | undefined {
  const managePy = path.join(dir, 'manage.py')
  if (!isFile(managePy)) return undefined
  const manage = readFileSync(managePy, 'utf8')
  const settingsModule = /DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']/.exec(manage)?.[1]
  if (!settingsModule || !/\bdjango\b/.test(manage)) return undefined
  const base = settingsModule.replaceAll('.', '/')
  const settingsFile = [`${base}.py`, `${base}/__init__.py`].find((file) => isFile(path.join(dir, file)))
  if (!settingsFile) return undefined
  const settings = readSettings(dir, settingsFile)
  // WSGI_APPLICATION = 'mysite.wsgi.application' names the module; startproject puts wsgi.py beside settings.py.
  const wsgi = /^WSGI_APPLICATION\s*=\s*["']([\w.]+)\.(\w+)["']/m.exec(settings)
  const wsgiModule = wsgi ? (wsgi[2] === 'application' ? wsgi[1] : `${wsgi[1]}:${wsgi[2]}`) : `${settingsModule.split('.')[0]}.wsgi`
  return {settingsModule, settingsFile, wsgiModule, collectStatic: /^STATIC_ROOT\s*=/m.test(settings)}
}

/** The settings file, and for a settings package (settings/production.py importing base.py) its siblings too. */
function readSettings(dir: string, settingsFile: string): string {
  const text = readFileSync(path.join(dir, settingsFile), 'utf8')
  const siblings = [...text.matchAll(/^from\s+\.(\w+)\s+import/gm)].map((match) => path.join(dir, path.dirname(settingsFile), `${match[1]}.py`))
  return [text, ...siblings.filter((file) => isFile(file)).map((file) => readFileSync(file, 'utf8'))].join('\n')
}

// ---- dependencies ------------------------------------------------------------------------------

interface Dependencies {
  installer: PythonInstaller
  files: string[]
  /** Every dependency list's text, to see whether gunicorn/uvicorn/flask/fastapi are named. */
  text: string
  pyprojectDependencies?: string[]
}

/**
 * How the project pins its dependencies, most specific first: a lock file says which tool made it
 * (and installing from it reproduces what the developer tested), then requirements.txt, then the
 * PEP 621 list in pyproject.toml.
 */
function detectDependencies(dir: string): Dependencies {
  const has = (file: string) => isFile(path.join(dir, file))
  const read = (file: string) => (has(file) ? readFileSync(path.join(dir, file), 'utf8') : '')
  const pyproject = read('pyproject.toml')
  if (has('poetry.lock') && has('pyproject.toml')) return {installer: 'poetry', files: ['pyproject.toml', 'poetry.lock'], text: `${pyproject}\n${poetryDependencyNames(pyproject).join('\n')}`}
  if (has('uv.lock') && has('pyproject.toml')) return {installer: 'uv', files: ['pyproject.toml', 'uv.lock'], text: pyproject}
  if (has('Pipfile.lock')) return {installer: 'pipenv', files: ['Pipfile', 'Pipfile.lock'].filter(has), text: read('Pipfile')}
  if (has('requirements.txt')) return {installer: 'requirements', files: ['requirements.txt'], text: read('requirements.txt')}
  if (has('pyproject.toml')) {
    const listed = pyprojectDeps(pyproject)
    return {installer: listed.length > 0 ? 'pyproject' : 'none', files: ['pyproject.toml'], text: pyproject, pyprojectDependencies: listed}
  }
  return {installer: 'none', files: [], text: ''}
}

/** The `dependencies = [...]` list of pyproject.toml's [project] table, without a TOML parser. */
export function pyprojectDeps(text: string): string[] {
  // The list ends at the "]" that ends a line: extras such as "uvicorn[standard]" hold "]" too.
  const list = /^\s*dependencies\s*=\s*\[([\s\S]*?)\]\s*$/m.exec(text)
  if (!list) return []
  return [...list[1].matchAll(/["']([^"']+)["']/g)].map((match) => match[1].trim()).filter(Boolean)
}

/** Names under [tool.poetry.dependencies] (`gunicorn = "^21"`), one per line. */
function poetryDependencyNames(text: string): string[] {
  const table = /^\[tool\.poetry\.dependencies\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)?.[1] ?? ''
  return [...table.matchAll(/^\s*([\w.-]+)\s*=/gm)].map((match) => match[1])
}

// ---- Python version ----------------------------------------------------------------------------

/** The Python the project asks for: .python-version, else requires-python, else the default. */
export function pythonVersion(dir: string): {version: string; source: string} {
  const file = path.join(dir, '.python-version')
  if (isFile(file)) {
    const line = readFileSync(file, 'utf8').split('\n').map((entry) => entry.trim()).find((entry) => entry && !entry.startsWith('#'))
    const version = /^(?:python-?|cpython-)?(3\.\d+)/.exec(line ?? '')?.[1]
    if (version) return {version, source: '.python-version'}
  }
  const pyproject = path.join(dir, 'pyproject.toml')
  if (isFile(pyproject)) {
    const range = /^\s*requires-python\s*=\s*["']([^"']+)["']/m.exec(readFileSync(pyproject, 'utf8'))?.[1]
    if (range) {
      const fits = PYTHON_VERSIONS.filter((version) => satisfies(version, range))
      // The default when the range allows it (what devkube's images are tested on), else the newest allowed.
      const version = fits.includes(DEFAULT_PYTHON_VERSION) ? DEFAULT_PYTHON_VERSION : fits[0]
      if (version) return {version, source: `pyproject.toml: requires-python = "${range}"`}
    }
  }
  return {version: DEFAULT_PYTHON_VERSION, source: 'default'}
}

/** Whether a minor version (e.g. "3.11") meets a PEP 440 range such as ">=3.9,<3.12", "~=3.10", "==3.11.*". */
export function satisfies(version: string, range: string): boolean {
  const minor = (text: string) => {
    const [major = 0, minorPart = 0] = text.split('.').map((part) => Number.parseInt(part, 10) || 0)
    return major * 100 + minorPart
  }
  const have = minor(version)
  return range.split(',').every((clause) => {
    const match = /^\s*(~=|===|==|!=|<=|>=|<|>)\s*([\d.*]+)\s*$/.exec(clause)
    if (!match) return true
    const [, operator, wanted] = match
    const want = minor(wanted)
    const patchGiven = wanted.replace('.*', '').split('.').length > 2
    switch (operator) {
      case '>=': {
        return have >= want
      }
      case '>': {
        return patchGiven ? have >= want : have > want
      }
      case '<=': {
        return have <= want
      }
      case '<': {
        return patchGiven ? have <= want : have < want
      }
      case '==':
      case '===': {
        return have === want
      }
      case '!=': {
        return patchGiven || have !== want
      }
      case '~=': {
        // ~=3.10 means >=3.10,<4; ~=3.10.2 means >=3.10.2,<3.11.
        return patchGiven ? have === want : have >= want
      }
    }
    return true
  })
}
