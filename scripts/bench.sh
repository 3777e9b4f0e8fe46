#!/usr/bin/env bash
# `npm run bench [-- --runs N --speed F]`: builds devkube and runs bench/run.ts with the project's Node 22.
# Needs Docker and the stand-in base images (`bash scripts/standin-images.sh`); see bench/README.md.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_dir"
export PATH="$repo_dir/node_modules/.bin:$PATH"

[[ -f dist/commands/up.js && "${DEVKUBE_BENCH_SKIP_BUILD:-}" == 1 ]] || npm run build --silent
exec node --import tsx bench/run.ts "$@"
