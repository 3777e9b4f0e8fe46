#!/usr/bin/env bash
# `npm test`: gets the machine ready (scripts/setup.sh), then runs the whole vitest suite with the project's Node 22.
# Extra arguments go to vitest, e.g. `npm test -- test/unit` or `npm test -- -t detect`.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_dir"

# .ci/run has just run it; everyone else gets it here.
[[ "${DEVKUBE_SETUP_DONE:-}" == 1 ]] || bash scripts/setup.sh
export PATH="$repo_dir/node_modules/.bin:$PATH"
exec "$repo_dir/node_modules/.bin/vitest" run "$@"
