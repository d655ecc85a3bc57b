# Sourced by the benchmark scripts (ab.sh, loadtest.sh): a scratch folder
# in $tmp, and the processes they start, listed by PID in $pids, stopped
# on exit (TERM, then KILL after 5 s) before the folder goes.
# Usage, from the repository root: source scripts/lib/procs.sh PREFIX
tmp=$(mktemp -d -t "$1.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
