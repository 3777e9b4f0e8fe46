#!/usr/bin/env bash
# The README's quickstart: set up this checkout, then run `devkube up` on a copy of
# examples/hello-python (in ~/.cache/devkube-quickstart, so the checkout stays as it is: up scaffolds
# files into the project) and show the forwarded URL answering. `npm run quickstart -- down` (or any other devkube command)
# runs that command in the same example and environment instead.
#
# Where kind is not installed (or DEVKUBE_FAKE=1), devkube runs against the bundled fake kind/kubectl
# (test/fakes: real Docker containers play the pods), with its own kubeconfig, so the flow can be
# seen anywhere Docker runs. Where Docker Hub cannot be reached, the example's base image is replaced
# by the offline stand-in that the tests use.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$repo/examples/hello-python"
work_root="${XDG_CACHE_HOME:-$HOME/.cache}/devkube-quickstart"
work="$work_root/hello-python"

bash "$repo/scripts/setup.sh" >&2
export PATH="$repo/node_modules/.bin:$PATH"

if ! docker info >/dev/null 2>&1; then
  echo "quickstart: Docker is not running; start it (or run as root on a machine with apt) and try again." >&2
  exit 1
fi

if [[ "${DEVKUBE_FAKE:-}" == "1" ]] || ! command -v kind >/dev/null 2>&1; then
  mkdir -p "$work_root"
  export PATH="$repo/test/fakes/bin:$PATH" DEVKUBE_FAKE_STATE="$work_root/cluster" KUBECONFIG="$work_root/kubeconfig"
  echo "quickstart: kind is not installed here, so devkube runs against its fake kind/kubectl (test/fakes; pods are real Docker containers). Install kind to use a real cluster." >&2
fi

build_args=()
if ! docker image inspect python:3.12-slim >/dev/null 2>&1 && ! timeout 30 docker pull -q python:3.12-slim >/dev/null 2>&1; then
  echo "quickstart: python:3.12-slim cannot be pulled (no Docker Hub); using the offline stand-in image." >&2
  bash "$repo/scripts/standin-images.sh" >&2
  build_args=(--build-arg PYTHON_IMAGE=devkube-standin/python:3.12)
fi

if [[ ! -d "$work" ]]; then
  mkdir -p "$work_root"
  cp -r "$example" "$work"
fi
cd "$work"
if [[ $# -gt 0 ]]; then
  exec node "$repo/bin/run.js" "$@"
fi
node "$repo/bin/run.js" up --detach "${build_args[@]}"
url="http://localhost:$(node -e 'const y=require("yaml");const fs=require("fs");const f=fs.existsSync("devkube.yaml")?y.parse(fs.readFileSync("devkube.yaml","utf8"))||{}:{};process.stdout.write(String(f.forward??f.port??8080))' 2>/dev/null || echo 8080)"
echo "\$ curl $url"
curl -fsS "$url"
echo
echo "quickstart: done. \`npm run quickstart -- status\` shows it, \`npm run quickstart -- logs -f\` follows its logs, \`npm run quickstart -- down\` removes it." >&2
