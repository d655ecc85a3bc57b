#!/usr/bin/env bash
# A/B benchmark of the hot path: the exporter's CPU time per probe, this
# tree (B) against a baseline commit (A, default 800ce9f: the build before
# the load limits, issue 14), both built and run side by side in one run:
#
#   1. builds A from `git archive $BASE` and B from the working tree (with
#      its uncommitted changes), and the loopback target (bench/target);
#   2. starts the target (-mode hold: it waits for the dialler's FIN, then
#      answers with an RST, so no TIME_WAIT piles up) and both exporters on
#      127.0.0.1 free ports, with one module file: `hold: 0s`, no trace;
#   3. in ROUNDS rounds, alternately (A B, then B A, ...: a noisy machine's
#      drift hits both), wrk -c CONCURRENCY scrapes /probe of one exporter
#      for ROUND_SECONDS s while the other idles; the exporter's CPU time (utime +
#      stime of /proc/PID/stat) and its probe counter are read before and
#      after;
#   4. prints each round's µs of CPU per probe and probes/s for A and B,
#      B/A per pair of rounds (median, min, max: the spread) and over all
#      rounds, and PASS/FAIL against MAX_RATIO (1.05: within 5%).
#
# CPU time per probe, not wall time: the machine may be shared, and another
# process's load slows both builds' clocks but not their CPU accounting
# (much). Throughput is reported too, but it is the noisier figure.
#
# Everything listens on and dials 127.0.0.1 only; every process started
# here is stopped, by PID, on exit. Other labs must not run beside it:
# `flock /tmp/tve-lab.lock scripts/ab.sh`.
#
#   scripts/ab.sh                     # 8 rounds of 3 s per build, ~1.5 min
#   ROUNDS=12 ROUND_SECONDS=5 scripts/ab.sh   # steadier
#   BASE=<commit> scripts/ab.sh       # another baseline
#   SMOKE=1 scripts/ab.sh             # builds both, 1 round of 1 s, checks
#                                     # both answer; no verdict (CI)
#   STRICT=1 scripts/ab.sh            # exit 1 when B/A > MAX_RATIO
#   PROFILE=dir scripts/ab.sh         # CPU profiles of both in the last
#                                     # round (A's only if it has pprof)
#   SYSCALLS=1 scripts/ab.sh          # system calls per probe too, counted
#                                     # by perf stat (raw_syscalls:sys_enter)
#
# Needs: go, git, wrk (Debian package wrk), curl for PROFILE, perf (Debian
# package linux-perf) for SYSCALLS.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BASE:-800ce9f}
rounds=${ROUNDS:-8}
secs=${ROUND_SECONDS:-3}
conc=${CONCURRENCY:-8}
threads=${THREADS:-2}
max_ratio=${MAX_RATIO:-1.05}
profile=${PROFILE:-}
if [ "${SMOKE:-0}" = 1 ]; then rounds=1 secs=1; fi
case "$secs" in '' | *[!0-9]*) echo "ROUND_SECONDS must be whole seconds" >&2; exit 2 ;; esac
case "$rounds" in '' | *[!0-9]*) echo "ROUNDS must be a number" >&2; exit 2 ;; esac
case "$conc" in '' | *[!0-9]*) echo "CONCURRENCY must be a number" >&2; exit 2 ;; esac
if ((secs < 1 || secs > 60 || rounds < 1 || rounds > 100 || conc < 1 || conc > 256)); then
  echo "ROUND_SECONDS must be 1..60, ROUNDS 1..100, CONCURRENCY 1..256" >&2
  exit 2
fi
((threads > conc)) && threads=$conc
command -v wrk >/dev/null || { echo "wrk is missing (Debian: apt-get install wrk)" >&2; exit 2; }
command -v git >/dev/null || { echo "git is missing" >&2; exit 2; }
git rev-parse --verify -q "$base^{commit}" >/dev/null || { echo "no commit $base in this repository" >&2; exit 2; }
syscalls=${SYSCALLS:-0}
if [ "$syscalls" = 1 ]; then
  command -v perf >/dev/null || { echo "SYSCALLS=1 needs perf (Debian: apt-get install linux-perf)" >&2; exit 2; }
fi
if [ -n "$profile" ]; then
  command -v curl >/dev/null || { echo "PROFILE needs curl" >&2; exit 2; }
  mkdir -p "$profile"
  profile=$(realpath "$profile")
fi

# shellcheck source=scripts/lib/procs.sh
source scripts/lib/procs.sh tve-ab # $tmp, $pids, cleanup on exit

base_rev=$(git rev-parse --short "$base^{commit}")
head_rev="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo "+changes")"
echo "building A ($base_rev) and B ($head_rev, the working tree)..."
mkdir "$tmp/a"
git archive "$base_rev" | tar -x -C "$tmp/a"
(cd "$tmp/a" && go build -o "$tmp/exporter-a" .)
go build -o "$tmp/exporter-b" .
go build -o "$tmp/target" ./bench/target

# One module for both: what the issue measured (open loopback port,
# `hold: 0s`); written out so that neither build's embedded config decides.
cat >"$tmp/config.yml" <<'EOF'
modules:
  ab:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      hold: 0s
EOF
module=ab

# http_get PORT PATH: the body of GET http://127.0.0.1:PORT/PATH (bash
# only); at most 5 s.
http_get() {
  local line body=0
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  while IFS= read -r -t 5 line <&3; do
    line=${line%$'\r'}
    if ((body)); then printf '%s\n' "$line"; elif [ -z "$line" ]; then body=1; fi
  done
  exec 3<&-
}

# probe_counts PORT: "ALL CONNECTED", the exporter's probe counters for
# $module, from one scrape of /metrics.
probe_counts() {
  http_get "$1" /metrics | awk -v m="$module" '
    /^tcp_verdict_exporter_probes_total\{/ && index($0, "module=\"" m "\"") {
      all += $NF; if (index($0, "class=\"connected\"")) ok += $NF }
    END { printf "%d %d\n", all, ok }'
}

# cpu_ticks PID: utime + stime of the whole process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# --- the target -------------------------------------------------------------
"$tmp/target" -listen 127.0.0.1:0 -mode hold -max-run "$((2 * rounds * (secs + 5) + 300))s" >"$tmp/target.out" 2>&1 &
target_pid=$!
pids+=("$target_pid")
target=
for _ in $(seq 50); do
  target=$(head -n1 "$tmp/target.out" 2>/dev/null || true)
  [[ "$target" == 127.0.0.1:* ]] && break
  target=
  sleep 0.1
done
[ -n "$target" ] || { echo "target did not start:" >&2; cat "$tmp/target.out" >&2; exit 1; }

# start_exporter NAME: starts exporter-NAME on a free 127.0.0.1 port below
# the ephemeral range; sets port_NAME and pid_NAME.
start_exporter() {
  local name=$1 p pid
  for _ in $(seq 10); do
    p=$((20000 + RANDOM % 12000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi # in use
    "$tmp/exporter-$name" --config.file="$tmp/config.yml" --web.listen-address="127.0.0.1:$p" --web.enable-pprof >"$tmp/exporter-$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      if [ "$(http_get "$p" /-/healthy 2>/dev/null | head -c 7)" = "Healthy" ]; then
        eval "port_$name=$p pid_$name=$pid"
        return 0
      fi
      sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true # died (port taken meanwhile?) or silent: another port
  done
  echo "exporter $name did not start:" >&2
  cat "$tmp/exporter-$name.log" >&2
  exit 1
}
start_exporter a
start_exporter b
for name in a b; do
  eval "p=\$port_$name"
  one=$(http_get "$p" "/probe?target=$target&module=$module")
  grep -q '^tcp_verdict{class="connected"} 1$' <<<"$one" || { echo "exporter $name: the probe is not connected:" >&2; echo "$one" >&2; exit 1; }
done

echo "target $target (hold), module hold: 0s; A 127.0.0.1:$port_a (pid $pid_a), B 127.0.0.1:$port_b (pid $pid_b)"
echo "$rounds rounds, each: wrk -t $threads -c $conc for $secs s against A and B in turn (order alternating)"
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- warm-up (not measured): heaps and threads grow ---------------------------
for name in a b; do
  eval "p=\$port_$name"
  timeout 30 wrk -t "$threads" -c "$conc" -d 1s "http://127.0.0.1:$p/probe?target=$target&module=$module" >/dev/null
done
sleep 0.5

# run NAME ROUND: one measured stretch of wrk against exporter NAME; appends
# "ROUND NAME PROBES TICKS MS FAILED ERRORS TARGET_TICKS" to $tmp/rounds.
run() {
  local name=$1 round=$2 p pid p0 ok0 p1 ok1 c0 c1 t0 t1 r ms errs prof_pid= perf_pid= calls=0
  eval "p=\$port_$name pid=\$pid_$name"
  if [ "$syscalls" = 1 ]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$tmp/perf.out" 2>/dev/null &
    perf_pid=$!
    sleep 0.2 # attached before the stretch begins
  fi
  read -r p0 ok0 < <(probe_counts "$p")
  c0=$(cpu_ticks "$pid") t0=$(cpu_ticks "$target_pid")
  if [ -n "$profile" ] && ((round == rounds)); then
    curl -sf -o "$profile/cpu-$name.pprof" --max-time $((secs + 10)) "http://127.0.0.1:$p/debug/pprof/profile?seconds=$secs" &
    prof_pid=$!
  fi
  timeout $((secs + 30)) wrk -t "$threads" -c "$conc" -d "${secs}s" "http://127.0.0.1:$p/probe?target=$target&module=$module" >"$tmp/wrk.out"
  [ -n "$prof_pid" ] && { wait "$prof_pid" || echo "  (CPU profile of $name failed)"; }
  sleep 0.3 # requests wrk left in flight: their probes count, and cost
  c1=$(cpu_ticks "$pid") t1=$(cpu_ticks "$target_pid")
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    calls=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 + 0 }' "$tmp/perf.out")
  fi
  read -r p1 ok1 < <(probe_counts "$p")
  read -r r ms < <(awk '/ requests in / { t = $4; sub(/,$/, "", t); f = t ~ /m$/ ? 60000 : t ~ /ms$/ ? 1 : 1000
    sub(/[a-z]+$/, "", t); printf "%d %.0f\n", $1, t * f }' "$tmp/wrk.out")
  errs=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$tmp/wrk.out")
  echo "$round $name $((p1 - p0)) $((c1 - c0)) $ms $(((p1 - p0) - (ok1 - ok0))) $errs $((t1 - t0)) ${calls:-0}" >>"$tmp/rounds"
  awk -v n="$name" -v p="$((p1 - p0))" -v t="$((c1 - c0))" -v ms="$ms" -v hz="$hz" -v rd="$round" 'BEGIN {
    printf "  round %2d %s: %6.1f µs CPU/probe  %6.0f probes/s\n", rd, toupper(n), p ? t / hz * 1e6 / p : 0, ms ? p / (ms / 1000) : 0 }'
}

: >"$tmp/rounds"
for round in $(seq "$rounds"); do
  if ((round % 2)); then run a "$round"; run b "$round"; else run b "$round"; run a "$round"; fi
done

# --- summary ------------------------------------------------------------------
awk -v hz="$hz" -v max_ratio="$max_ratio" -v strict="${STRICT:-0}" -v smoke="${SMOKE:-0}" -v conc="$conc" \
  -v base="$base_rev" -v head="$head_rev" '
function cpu(n, t) { return n ? t / hz * 1e6 / n : 0 }
function sort(a, k,    i, j, x) { for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
function median(a, k) { return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
{ n[$1, $2] = $3; t[$1, $2] = $4; ms[$1, $2] = $5; bad[$2] += $6; errs[$2] += $7
  N[$2] += $3; T[$2] += $4; MS[$2] += $5; TT[$2] += $8; SC[$2] += $9; rounds = $1 }
END {
  k = 0
  for (r = 1; r <= rounds; r++) {
    if (!n[r, "a"] || !n[r, "b"]) continue
    k++
    c[k] = cpu(n[r, "b"], t[r, "b"]) / cpu(n[r, "a"], t[r, "a"])
    q[k] = (n[r, "b"] / ms[r, "b"]) / (n[r, "a"] / ms[r, "a"])
  }
  if (k == 0 || !N["a"] || !N["b"]) { print "no probes were counted"; exit 1 }
  sort(c, k); sort(q, k)
  ratio = cpu(N["b"], T["b"]) / cpu(N["a"], T["a"])
  tput = (N["b"] / MS["b"]) / (N["a"] / MS["a"])
  print ""
  printf "RESULT (A = %s, B = %s; %d rounds, wrk -c %d, module hold: 0s)\n", base, head, k, conc
  printf "  A  CPU per probe %7.1f µs   %7.0f probes/s   (%.2f s CPU over %d probes)\n", cpu(N["a"], T["a"]), N["a"] / (MS["a"] / 1000), T["a"] / hz, N["a"]
  printf "  B  CPU per probe %7.1f µs   %7.0f probes/s   (%.2f s CPU over %d probes)\n", cpu(N["b"], T["b"]), N["b"] / (MS["b"] / 1000), T["b"] / hz, N["b"]
  printf "  B/A CPU per probe  %.3f over all rounds; per round median %.3f, min %.3f, max %.3f\n", ratio, median(c, k), c[1], c[k]
  printf "  B/A throughput     %.3f over all rounds; per round median %.3f, min %.3f, max %.3f\n", tput, median(q, k), q[1], q[k]
  # On loopback a packet is received in the time of the process that
  # sends it: a socket the exporter has closed is torn down when the RST of
  # the target arrives, in the time of the target; one it keeps open to
  # drain, in its own close(). So the CPU of the target is shown too.
  printf "  target CPU per probe: A %.1f µs, B %.1f µs; exporter + target B/A %.3f\n", cpu(N["a"], TT["a"]), cpu(N["b"], TT["b"]),
    cpu(N["b"], T["b"] + TT["b"]) / cpu(N["a"], T["a"] + TT["a"])
  if (SC["a"] && SC["b"]) printf "  system calls per probe: A %.2f, B %.2f (perf stat, raw_syscalls:sys_enter)\n", SC["a"] / N["a"], SC["b"] / N["b"]
  # wrk stops each stretch by closing its connections: the probes then in
  # flight are cut short and counted with another class; up to one per
  # connection per stretch is that, not a failure.
  failed = (bad["a"] > conc * k || bad["b"] > conc * k || errs["a"] || errs["b"])
  if (failed) printf "  FAILURES: probes not connected A %d, B %d (up to %d are cut short); non-2xx or socket errors A %d, B %d\n", bad["a"], bad["b"], conc * k, errs["a"], errs["b"]
  if (smoke == 1) { print "  (smoke run: one short round, no verdict on the ratio)"; exit failed }
  ok = ratio <= max_ratio
  printf "  target: B/A CPU per probe <= %.2f   %s\n", max_ratio, ok ? "PASS" : "FAIL"
  if (failed || (strict == 1 && !ok)) exit 1
}' "$tmp/rounds"
