#!/usr/bin/env bash
# Gets a machine ready to build and test devkube; safe to run again and again.
#
#   - Node 22 for the project: the `node` devDependency puts it in node_modules/.bin, so `npm ci` (run when
#     node_modules is missing or older than package-lock.json) brings it. When the system's Node is older, Node 22 is
#     first installed into .tools/ (git-ignored) so that npm ci itself runs on it.
#   - Docker, for the real-Docker tests: when the daemon does not answer and this is a root shell with apt-get (a fresh
#     CI machine), installs docker.io and starts dockerd. Otherwise it only says the real-Docker tests will be skipped.
#   - debootstrap, which the offline stand-in base images need (scripts/standin-images.sh), installed the same way.
#   - dist/ (npm run build).
#
# On a developer laptop it installs nothing system-wide: it runs npm ci if needed and builds.
# Env: DEVKUBE_SETUP_NO_DOCKER=1 skips everything about Docker; DOCKERD_LOG (default /var/log/devkube-dockerd.log).
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_dir"

say() { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: warning: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $EUID -eq 0 ]]; }
can_apt() { is_root && command -v apt-get >/dev/null; }

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=true
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Node and node_modules ------------------------------------------------------------------------------------------
project_node="$repo_dir/node_modules/.bin/node"
needs_install=false
if [[ ! -x "$project_node" || ! -f node_modules/.package-lock.json ]]; then
  needs_install=true
elif [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  needs_install=true
fi

node_major_of() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }

if $needs_install; then
  if ! command -v npm >/dev/null; then
    can_apt || die "npm is not installed: install Node.js 22 (https://nodejs.org) and run this again."
    apt_install nodejs npm
  fi
  # npm ci must run on Node 22: with an older Node, npm skips the optional native packages whose engines want a
  # newer one (rolldown's binding, which vitest needs) and the tests cannot start. So an older system Node first
  # installs the project's Node version into .tools/ and npm runs on that.
  system_major="$(node_major_of node)"
  if [[ -z "$system_major" ]] || (( system_major < 22 )); then
    node_spec="$(sed -n '/"node_modules\/node": {/,/}/s/^ *"version": *"\([^"]*\)".*/\1/p' package-lock.json | head -n1)"
    say "Node $(node --version 2>/dev/null || echo '(none)') is older than 22: installing node@${node_spec:-22} into .tools/ ..."
    npm install --prefix "$repo_dir/.tools" --no-save --no-package-lock --no-audit --no-fund "node@${node_spec:-22}" >/dev/null
    export PATH="$repo_dir/.tools/node_modules/.bin:$PATH"
  fi
  npm_cli="$(readlink -f "$(command -v npm)")"
  say "npm ci with Node $(node --version) (node_modules is missing or older than package-lock.json) ..."
  if [[ "$npm_cli" == *.js ]]; then
    # Run npm's CLI with the node now first on PATH, whatever interpreter its launcher names.
    node "$npm_cli" ci --no-audit --no-fund
  else
    npm ci --no-audit --no-fund
  fi
else
  say "node_modules is up to date"
fi

[[ -x "$project_node" ]] || die "npm ci did not install the project's Node (node_modules/.bin/node)."
node_version="$("$project_node" --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
(( node_major >= 22 )) || die "the project's Node is $node_version but devkube needs 22 or newer: run npm ci again."
export PATH="$repo_dir/node_modules/.bin:$PATH"
say "Node $node_version (node_modules/.bin/node)"

# --- Docker -----------------------------------------------------------------------------------------------------------
docker_answers() { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }

start_dockerd() {
  local log="${DOCKERD_LOG:-/var/log/devkube-dockerd.log}"
  say "starting dockerd (log: $log) ..."
  # setsid + nohup: the daemon must outlive this script and the shell that ran it.
  setsid nohup dockerd >>"$log" 2>&1 </dev/null &
  local waited=0
  until docker_answers; do
    if (( waited >= 60 )); then
      warn "dockerd did not answer within 60s; its log ends with:"
      tail -n 15 "$log" >&2 || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "dockerd is up after ${waited}s"
}

ensure_docker() {
  if docker_answers; then
    say "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?') is running"
    return 0
  fi
  # A docker CLI alone (this machine kind ships one in /usr/local/bin) is not a daemon.
  if ! command -v dockerd >/dev/null; then
    if ! can_apt; then
      warn "the Docker daemon is not running and this script can only install it as root with apt-get."
      return 1
    fi
    apt_install docker.io || { warn "installing docker.io failed."; return 1; }
  fi
  if pgrep -x dockerd >/dev/null 2>&1 || pidof dockerd >/dev/null 2>&1; then
    warn "dockerd is running but does not answer (is this user allowed to use /var/run/docker.sock?)."
    return 1
  fi
  if ! is_root; then
    warn "dockerd is installed but not running: start it (e.g. sudo systemctl start docker)."
    return 1
  fi
  start_dockerd
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  if can_apt; then
    apt_install debootstrap && return 0
  fi
  warn "debootstrap is not installed; scripts/standin-images.sh needs it (once, as root) to build the stand-in base images."
}

if [[ "${DEVKUBE_SETUP_NO_DOCKER:-}" == 1 ]]; then
  say "DEVKUBE_SETUP_NO_DOCKER=1: not checking Docker; real-Docker tests will be skipped if it is not running"
elif ensure_docker; then
  ensure_debootstrap || true
else
  warn "Docker is not available: the real-Docker tests will be skipped (start dockerd to run them)."
fi

# --- kubectl -----------------------------------------------------------------------------------------------------------
# Only `kubectl kustomize` runs in the tests (kind is faked). Debian's kubernetes-client (1.20) is no stand-in: its
# kustomize cannot take a folder under `resources:`, which every devkube overlay does.
if ! command -v kubectl >/dev/null; then
  warn "kubectl is not on PATH: the tests that run 'kubectl kustomize' will fail; install kubectl 1.21 or newer (https://kubernetes.io/docs/tasks/tools/)."
fi

# --- dist/ ------------------------------------------------------------------------------------------------------------
say "building dist/ ..."
npm run --silent build
say "ready"
