#!/usr/bin/env bash
# Logging shim for the benchmark: bench/fakes/{docker,kind,kubectl} are symlinks to this file. It runs the
# real tool found later on PATH (for kind/kubectl: the fakes in test/fakes/bin) and, when DEVKUBE_BENCH_LOG
# names a file, appends one line per call:
#   <tool> TAB <start s> TAB <end s> TAB <exit code> TAB <nested> TAB <argv>
# (nested = 1 when another tool made the call, e.g. the fake kind running docker). A long-running call
# (`kubectl port-forward`, `logs -f`) is exec'd and logged with end and exit code "-".
# `docker build` first sleeps DEVKUBE_BENCH_BUILD_LATENCY seconds scaled by DEVKUBE_FAKE_SPEED: the fakes
# simulate kind's and kubectl's latencies, this adds the image build's (and `docker push` DEVKUBE_BENCH_PUSH_LATENCY's).
tool="${0##*/}"
self_dir="$(cd "${0%/*}" && pwd -P)"

# The real tool is the first one on PATH after this shim. When that tool calls itself (the fake kubectl
# runs the real one for `kubectl kustomize`), it must get the one after it, or the two would loop.
nested=0
[[ -n "${DEVKUBE_BENCH_SHIM:-}" ]] && nested=1
skip=0
[[ "${DEVKUBE_BENCH_SHIM:-}" == "$tool" ]] && skip=1
real=""
IFS=: read -r -a path_dirs <<<"${PATH}"
for dir in "${path_dirs[@]}"; do
  [[ -n "$dir" && -x "$dir/$tool" && ! -d "$dir/$tool" ]] || continue
  [[ "$(cd "$dir" 2>/dev/null && pwd -P)" == "$self_dir" ]] && continue
  if ((skip)); then
    skip=0
    continue
  fi
  real="$dir/$tool"
  break
done
export DEVKUBE_BENCH_SHIM="$tool"
if [[ -z "$real" ]]; then
  echo "bench shim: no $tool on PATH after $self_dir" >&2
  exit 127
fi

log="${DEVKUBE_BENCH_LOG:-}"
start="$EPOCHREALTIME"

long_running=0
if [[ "$tool" == kubectl ]]; then
  for arg in "$@"; do
    case "$arg" in
      port-forward) long_running=1 ;;
      -f | --follow | --follow=true) [[ " $* " == *" logs "* ]] && long_running=1 ;;
    esac
  done
fi
case "$tool ${1:-} ${2:-}" in
  "docker build "* | "docker image build" | "docker buildx build")
    delay="$(awk -v s="${DEVKUBE_BENCH_BUILD_LATENCY:-0}" -v f="${DEVKUBE_FAKE_SPEED:-1}" 'BEGIN { d = s * f; if (d > 0) printf "%.3f", d }')"
    [[ -n "$delay" ]] && sleep "$delay"
    ;;
  "docker push "*)
    # The registry benchmark: a push's transfer time (DEVKUBE_BENCH_PUSH_LATENCY × speed) on top of the real push.
    delay="$(awk -v s="${DEVKUBE_BENCH_PUSH_LATENCY:-0}" -v f="${DEVKUBE_FAKE_SPEED:-1}" 'BEGIN { d = s * f; if (d > 0) printf "%.3f", d }')"
    [[ -n "$delay" ]] && sleep "$delay"
    ;;
esac

if [[ -z "$log" ]] || ((long_running)); then
  [[ -n "$log" ]] && printf '%s\t%s\t-\t-\t%s\t%s\n' "$tool" "$start" "$nested" "$*" >>"$log"
  exec "$real" "$@"
fi

# The tool runs as a child (so its end can be logged); signals reach it through the trap. An explicit
# stdin redirect keeps stdin (`kubectl apply -f -`), which bash would otherwise point at /dev/null.
"$real" "$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
trap 'kill -HUP "$child" 2>/dev/null' HUP
code=0
wait "$child" || code=$?
# A trapped signal interrupts `wait` (status > 128) while the child is still running: wait for its real end.
while kill -0 "$child" 2>/dev/null; do
  code=0
  wait "$child" || code=$?
done
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$start" "$EPOCHREALTIME" "$code" "$nested" "$*" >>"$log"
exit "$code"
