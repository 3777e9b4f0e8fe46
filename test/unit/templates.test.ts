import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {parse, parseAllDocuments} from 'yaml'
import {parseConfig} from '../../src/lib/config.js'
import {CONFIG_FIELDS} from '../../src/lib/config-schema.js'
import {GENERATED_MARKER} from '../../src/lib/detect.js'
import {planScaffold, type ScaffoldAnswers} from '../../src/lib/scaffold.js'
import {assertYaml, loadTemplate, renderTemplate, renderText, templatesDir} from '../../src/lib/templates.js'

const folders: string[] = []
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'devkube-templates-'))
  folders.push(dir)
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content)
  return dir
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

const APPS: Record<'node' | 'python' | 'go' | 'static', Record<string, string>> = {
  node: {'package.json': '{"name": "x", "scripts": {"start": "node server.js"}}', 'server.js': ''},
  python: {'requirements.txt': 'flask\n', 'app.py': 'from flask import Flask\napp = Flask(__name__)\n'},
  go: {'go.mod': 'module x\n\ngo 1.19\n', 'main.go': 'package main\n'},
  static: {'index.html': '<h1>Hello World</h1>'},
}

/** The files init would write for an app of lang, by path. */
function rendered(lang: keyof typeof APPS, answers: Partial<ScaffoldAnswers> = {}): Record<string, string> {
  const dir = project(APPS[lang])
  const plan = planScaffold(dir, {name: 'hello', lang, port: 3000, ...answers})
  return Object.fromEntries(plan.map((file) => [file.path, file.content]))
}

describe('renderText', () => {
  it('fills every placeholder, with or without spaces inside the braces', () => {
    expect(renderText('a {{x}} b {{ y }} c {{x}}', {x: 1, y: 'two'})).toBe('a 1 b two c 1')
  })

  it('refuses to render a placeholder without a value instead of leaving a blank', () => {
    expect(() => renderText('name: {{name}}\nport: {{port}}\n', {name: 'x'}, 'deployment.yaml')).toThrow('Template deployment.yaml needs a value for {{port}}.')
  })

  it('leaves nginx variables and single braces alone', () => {
    expect(renderText('location / { try_files $uri $uri/ =404; }', {})).toBe('location / { try_files $uri $uri/ =404; }')
  })
})

describe('templates on disk', () => {
  it('are found relative to the package, not the working directory', () => {
    expect(templatesDir()).toBe(path.resolve(import.meta.dirname, '../../templates'))
    expect(loadTemplate('k8s/base/service.yaml')).toContain('kind: Service')
  })

  it('YAML that does not parse is an error, naming the template', () => {
    expect(() => assertYaml('a: [1\n', 'broken.yaml')).toThrow(/^Template broken\.yaml rendered to invalid YAML/)
    expect(() => renderTemplate('k8s/base/service.yaml', {name: 'a: b: c', port: 80})).toThrow('rendered to invalid YAML')
  })
})

describe('k8s templates', () => {
  const files = rendered('node', {
    replicas: 2,
    healthPath: '/healthz',
    resources: {requests: {cpu: '100m', memory: '64Mi'}, limits: {cpu: '1', memory: '512Mi'}},
    strategy: {maxSurge: '25%', maxUnavailable: 0},
  })
  const labels = {'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/instance': 'hello', 'app.kubernetes.io/managed-by': 'devkube'}

  it('Deployment: labels, replicas, strategy, image, probes, resources, securityContext', () => {
    const deployment = parse(files['k8s/base/deployment.yaml'])
    expect(deployment).toMatchObject({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'hello', labels}})
    expect(deployment.spec.replicas).toBe(2)
    expect(deployment.spec.selector).toEqual({matchLabels: {'app.kubernetes.io/name': 'hello'}})
    expect(deployment.spec.strategy).toEqual({type: 'RollingUpdate', rollingUpdate: {maxSurge: '25%', maxUnavailable: 0}})
    const pod = deployment.spec.template
    expect(pod.metadata.labels).toEqual(labels)
    // The image's own USER decides: `up` adds runAsNonRoot for a non-root image, nothing forces a uid.
    expect(pod.spec.securityContext).toEqual({seccompProfile: {type: 'RuntimeDefault'}})
    expect(pod.spec.containers).toHaveLength(1)
    const [container] = pod.spec.containers
    expect(container).toMatchObject({
      name: 'hello',
      image: 'hello',
      imagePullPolicy: 'IfNotPresent',
      ports: [{name: 'http', containerPort: 3000}],
      env: [{name: 'PORT', value: '3000'}],
      resources: {requests: {cpu: '100m', memory: '64Mi'}, limits: {cpu: '1', memory: '512Mi'}},
      securityContext: {allowPrivilegeEscalation: false},
    })
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe.httpGet).toEqual({path: '/healthz', port: 'http'})
  })

  it('Deployment: the defaults when the answers leave them out', () => {
    const deployment = parse(rendered('go')['k8s/base/deployment.yaml'])
    expect(deployment.spec.replicas).toBe(1)
    expect(deployment.spec.strategy.rollingUpdate).toEqual({maxSurge: 1, maxUnavailable: 0})
    const [container] = deployment.spec.template.spec.containers
    expect(container.resources).toEqual({requests: {cpu: '50m', memory: '64Mi'}, limits: {cpu: '500m', memory: '256Mi'}})
    expect(container.readinessProbe.httpGet.path).toBe('/')
  })

  it('Service: ClusterIP, port to the named target port, selecting the pods', () => {
    const service = parse(files['k8s/base/service.yaml'])
    expect(service).toMatchObject({apiVersion: 'v1', kind: 'Service', metadata: {name: 'hello', labels}})
    expect(service.spec).toEqual({
      type: 'ClusterIP',
      selector: {'app.kubernetes.io/name': 'hello'},
      ports: [{name: 'http', port: 3000, targetPort: 'http', protocol: 'TCP'}],
    })
  })

  it('kustomizations: base lists the resources, the dev overlay points at the base', () => {
    expect(parse(files['k8s/base/kustomization.yaml'])).toEqual({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['deployment.yaml', 'service.yaml'],
    })
    expect(parse(files['k8s/overlays/dev/kustomization.yaml'])).toMatchObject({kind: 'Kustomization', resources: ['../../base']})
  })
})

describe('kind cluster template', () => {
  it('is a v1alpha4 Cluster with one control-plane node labelled as made by devkube', () => {
    const documents = parseAllDocuments(renderTemplate('kind/cluster.yaml', {clusterName: 'devkube'}))
    expect(documents).toHaveLength(1)
    expect(documents[0].toJS()).toEqual({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      name: 'devkube',
      nodes: [{role: 'control-plane', labels: {'devkube.dev/managed-by': 'devkube'}}],
    })
  })
})

describe('devkube.yaml template', () => {
  const text = rendered('python', {name: 'hello', port: 5000, forward: 9000, cluster: 'dev'})[`devkube.yaml`]

  it('passes devkube\'s own validation and holds the answers', () => {
    expect(parseConfig(text, 'devkube.yaml')).toMatchObject({name: 'hello', lang: 'python', cluster: 'dev', port: 5000, forward: 9000, replicas: 1, manifests: 'k8s'})
  })

  it('documents every key of the schema, set or commented out, including environments', () => {
    for (const key of Object.keys(CONFIG_FIELDS)) expect(text, key).toMatch(new RegExp(`^(# )?${key}:`, 'm'))
    expect(text).toMatch(/^# environments:\n# {3}staging:\n/m)
    // Uncommenting the example must give a valid file too.
    const uncommented = text.replaceAll(/^# (environments:|  .*)$/gm, '$1').replaceAll(/^# (namespace|envFile):.*$/gm, '')
    expect(parseConfig(uncommented, 'devkube.yaml').environments?.staging).toMatchObject({replicas: 2})
  })
})

describe('Dockerfile templates', () => {
  const dockerfiles = {
    node: rendered('node').Dockerfile,
    python: rendered('python').Dockerfile,
    go: rendered('go').Dockerfile,
    static: rendered('static').Dockerfile,
  }
  const baseImageArgs = {node: ['NODE_IMAGE'], python: ['PYTHON_IMAGE'], go: ['GO_IMAGE', 'RUNTIME_IMAGE'], static: ['NGINX_IMAGE']}

  it.each(Object.entries(dockerfiles))('%s: works with the classic builder (no BuildKit-only syntax)', (_, dockerfile) => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im)
    expect(dockerfile).not.toMatch(/--mount/)
    expect(dockerfile).not.toMatch(/<</)
    expect(dockerfile).not.toMatch(/^\s*(COPY|ADD)\s+--(link|parents|exclude)/im)
    expect(dockerfile).not.toMatch(/\{\{|\}\}/)
  })

  it.each(Object.entries(dockerfiles))('%s: base images come from ARGs declared before the first FROM', (lang, dockerfile) => {
    const firstFrom = dockerfile.search(/^FROM /m)
    for (const arg of baseImageArgs[lang as keyof typeof baseImageArgs]) {
      const argAt = dockerfile.search(new RegExp(`^ARG ${arg}=\\S+`, 'm'))
      expect(argAt, arg).toBeGreaterThanOrEqual(0)
      expect(argAt, arg).toBeLessThan(firstFrom)
      expect(dockerfile).toMatch(new RegExp(`^FROM \\$\\{${arg}\\}`, 'm'))
    }
  })

  it.each(Object.entries(dockerfiles))('%s: runs as a numeric non-root user and EXPOSEs the port', (_, dockerfile) => {
    const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((match) => match[1])
    expect(users.at(-1)).toBe('10001')
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m)
    expect(dockerfile).toMatch(/^ENV[\s\S]*PORT=3000/m)
    expect(dockerfile.startsWith(GENERATED_MARKER)).toBe(true)
  })

  it('node: installs dependencies before copying the source (npm install without a lock file)', () => {
    const {node} = dockerfiles
    expect(node.indexOf('COPY package.json ./')).toBeLessThan(node.indexOf('COPY --chown=10001:10001 . .'))
    expect(node).toContain('RUN npm install --omit=dev')
    expect(node).toContain('ARG NODE_IMAGE=node:22-slim')
    expect(node).toMatch(/^CMD \["node", "server\.js"\]$/m)
  })

  it('python: pip installs the requirements (plus gunicorn for Flask) before the source, and starts gunicorn', () => {
    const {python} = dockerfiles
    expect(python.indexOf('COPY requirements.txt ./')).toBeLessThan(python.indexOf('COPY --chown=10001:10001 . .'))
    expect(python).toContain('RUN pip install --no-cache-dir -r requirements.txt gunicorn')
    expect(python).toContain('ARG PYTHON_IMAGE=python:3.12-slim')
    expect(python).toMatch(/^CMD \["gunicorn", "--bind", "0\.0\.0\.0:3000", "app:app"\]$/m)
  })

  it('python: FastAPI from pyproject.toml gets its dependencies (shell-quoted) and uvicorn', () => {
    const dir = project({'pyproject.toml': '[project]\ndependencies = ["fastapi>=0.110"]\n', 'main.py': 'from fastapi import FastAPI\napp = FastAPI()\n'})
    const dockerfile = planScaffold(dir, {name: 'api', lang: 'python', port: 8000}).find((file) => file.path === 'Dockerfile')?.content
    expect(dockerfile).toContain("RUN pip install --no-cache-dir 'fastapi>=0.110' uvicorn")
    expect(dockerfile).toMatch(/^CMD \["python", "-m", "uvicorn", "main:app", "--host", "0\.0\.0\.0", "--port", "8000"\]$/m)
  })

  it('go: multi-stage, modules before the source, static binary on the runtime image', () => {
    const {go} = dockerfiles
    expect(go.match(/^FROM /gm)).toHaveLength(2)
    expect(go).toMatch(/^FROM \$\{GO_IMAGE\} AS build$/m)
    expect(go).toMatch(/^FROM \$\{RUNTIME_IMAGE\}$/m)
    expect(go.indexOf('COPY go.mod go.sum* ./')).toBeLessThan(go.indexOf('COPY . .'))
    expect(go).toContain('CGO_ENABLED=0')
    expect(go).toContain('go build')
    expect(go).toContain('COPY --from=build')
    expect(go).toContain('ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot')
  })

  it('static: nginx with devkube\'s config, listening on the port, pid and temp files under /tmp', () => {
    const files = rendered('static')
    expect(files.Dockerfile).toContain('ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine')
    expect(files.Dockerfile).toContain('COPY nginx.conf /etc/nginx/devkube.conf')
    expect(files.Dockerfile).toContain('"nginx", "-c", "/etc/nginx/devkube.conf"')
    const conf = files['nginx.conf']
    expect(conf).toMatch(/^\s*listen 3000;$/m)
    expect(conf).toMatch(/^pid \/tmp\//m)
    expect(conf).toContain('include /etc/nginx/mime.types;')
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) expect(conf).toMatch(new RegExp(`^\\s*${temp}_temp_path /tmp/`, 'm'))
  })

  it('the .dockerignore keeps secrets, git and local state out of the image', () => {
    const lines = rendered('node')['.dockerignore'].split('\n')
    for (const entry of ['.env', '.git', '.devkube', 'node_modules']) expect(lines).toContain(entry)
  })
})
