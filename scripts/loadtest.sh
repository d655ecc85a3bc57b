#!/usr/bin/env bash
# Load test of /probe against its baseline, measured in the same run:
#
#   1. builds the exporter and two helpers (bench/target, bench/dialloop);
#   2. starts a loopback TCP target (accepts, waits for the dialler's FIN,
#      answers with an RST: no TIME_WAIT piles up) and the exporter, both on
#      127.0.0.1 free ports;
#   3. in ROUNDS rounds, alternately (so a noisy machine's drift hits both):
#      BASELINE: dialloop runs net.Dial + Close against the target with the
#      same concurrency and duration as the load;
#      LOAD: wrk scrapes /probe?target=<target>&module=tcp_connect (hold: 0s);
#      the exporter's CPU time (utime + stime from /proc/PID/stat) and its
#      probe counter are read before and after;
#   4. prints probes/s, bare dials/s, the ratio, the exporter's CPU µs per
#      probe, and PASS/FAIL against the issue's targets (>= 50%, <= 150 µs).
#
# Everything listens on and dials 127.0.0.1 only; every run is bounded and
# every process started here is stopped, by PID, on exit.
#
#   scripts/loadtest.sh                       # 10 s each (5 rounds of 2 s),
#                                             # 16 connections, about 35 s
#   DURATION=5 CONCURRENCY=32 scripts/loadtest.sh
#   HEADERS=prometheus scripts/loadtest.sh    # send Prometheus's Accept and
#                                             # Accept-Encoding: gzip headers
#   STRICT=1 scripts/loadtest.sh              # exit 1 when a target is missed
#   PROFILE=cpu.pprof scripts/loadtest.sh     # CPU profile of the exporter
#                                             # in the last round (needs curl);
#                                             # go tool pprof -top cpu.pprof
#
# Needs: go, wrk (Debian package wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10}
rounds=${ROUNDS:-5}
conc=${CONCURRENCY:-16}
threads=${THREADS:-2}
headers=${HEADERS:-plain}
profile=${PROFILE:-}
module=tcp_connect
min_ratio=0.50
max_cpu_us=150

case "$duration" in '' | *[!0-9]*) echo "DURATION must be whole seconds" >&2; exit 2 ;; esac
if ((duration < 1 || duration > 120)); then echo "DURATION must be 1..120 s" >&2; exit 2; fi
case "$conc" in '' | *[!0-9]*) echo "CONCURRENCY must be a number" >&2; exit 2 ;; esac
if ((conc < 1 || conc > 1024)); then echo "CONCURRENCY must be 1..1024" >&2; exit 2; fi
case "$rounds" in '' | *[!0-9]*) echo "ROUNDS must be a number" >&2; exit 2 ;; esac
if ((rounds < 1 || rounds > duration)); then echo "ROUNDS must be 1..DURATION" >&2; exit 2; fi
chunk=$((duration / rounds))
((threads > conc)) && threads=$conc
command -v wrk >/dev/null || { echo "wrk is missing (Debian: apt-get install wrk)" >&2; exit 2; }
exp_flags=()
if [ -n "$profile" ]; then
  command -v curl >/dev/null || { echo "PROFILE needs curl" >&2; exit 2; }
  profile=$(realpath -m "$profile")
  exp_flags+=(--web.enable-pprof)
fi

# shellcheck source=scripts/lib/procs.sh
source scripts/lib/procs.sh tve-load # $tmp, $pids, cleanup on exit

echo "building..."
go build -o "$tmp/exporter" .
go build -o "$tmp/target" ./bench/target
go build -o "$tmp/dialloop" ./bench/dialloop

# http_get PATH: the body of GET http://127.0.0.1:$port$PATH (bash only,
# so curl is not needed); at most 5 s.
http_get() {
  local line body=0
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  while IFS= read -r -t 5 line <&3; do
    line=${line%$'\r'}
    if ((body)); then printf '%s\n' "$line"; elif [ -z "$line" ]; then body=1; fi
  done
  exec 3<&-
}

# probe_counts: "ALL CONNECTED", the exporter's probe counters for $module
# (every class, and class connected), from one scrape of /metrics.
probe_counts() {
  http_get /metrics | awk -v m="$module" '
    /^tcp_verdict_exporter_probes_total\{/ && index($0, "module=\"" m "\"") {
      all += $NF; if (index($0, "class=\"connected\"")) ok += $NF }
    END { printf "%d %d\n", all, ok }'
}

# cpu_ticks PID: utime + stime of the whole process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# host_cpu: "PROC IRQ TOTAL" clock ticks of the whole machine from /proc/stat:
# time in processes (user, nice, system), in irq and softirq, and in all.
host_cpu() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $2 + $3 + $4, $7 + $8, t }' /proc/stat; }

# our_ticks: sets $ours to the clock ticks used so far by the processes
# this script runs: the children it has waited for (dialloop, wrk, tools),
# the target and the exporter. Busy time beyond it is another process's:
# noise. (Not to be called in $(...): `times` must run in this shell.)
our_ticks() {
  times >"$tmp/times"
  local kids
  kids=$(awk -v hz="$hz" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } }
    END { printf "%d", t * hz }' "$tmp/times")
  ours=$((kids + $(cpu_ticks "$target_pid") + $(cpu_ticks "$exp_pid")))
}

# Busy-time counters, summed over a phase's rounds: baseline (b_) and load (l_).
b_proc=0 b_irq=0 b_total=0 b_ours=0 l_proc=0 l_irq=0 l_total=0 l_ours=0
# measure_start, measure_end PREFIX: add the host's counters over a phase.
measure_start() { read -r m_proc m_irq m_total < <(host_cpu); our_ticks; m_ours=$ours; }
measure_end() {
  local proc irq total
  read -r proc irq total < <(host_cpu)
  our_ticks
  eval "$1_proc=\$(($1_proc + proc - m_proc)) $1_irq=\$(($1_irq + irq - m_irq))"
  eval "$1_total=\$(($1_total + total - m_total)) $1_ours=\$(($1_ours + ours - m_ours))"
}

# --- the target -----------------------------------------------------------
"$tmp/target" -listen 127.0.0.1:0 -mode hold -max-run "$((4 * duration + 120))s" >"$tmp/target.out" 2>&1 &
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

# --- the exporter, on a free 127.0.0.1 port below the ephemeral range -----
port=
exp_pid=
for _ in $(seq 10); do
  p=$((20000 + RANDOM % 12000))
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi # in use
  "$tmp/exporter" --web.listen-address="127.0.0.1:$p" ${exp_flags[@]+"${exp_flags[@]}"} >"$tmp/exporter.log" 2>&1 &
  exp_pid=$!
  pids+=("$exp_pid")
  port=$p
  for _ in $(seq 50); do
    kill -0 "$exp_pid" 2>/dev/null || break
    [ "$(http_get /-/healthy 2>/dev/null | head -c 7)" = "Healthy" ] && break 2
    sleep 0.1
  done
  port= # it died (port taken meanwhile?) or never answered: try another
  kill -TERM "$exp_pid" 2>/dev/null || true
done
[ -n "$port" ] || { echo "exporter did not start:" >&2; cat "$tmp/exporter.log" >&2; exit 1; }
url="http://127.0.0.1:$port/probe?target=$target&module=$module"
one=$(http_get "/probe?target=$target&module=$module")
grep -q '^tcp_verdict{class="connected"} 1$' <<<"$one" || { echo "probe is not connected:" >&2; echo "$one" >&2; exit 1; }

wrk_args=(-t "$threads" -c "$conc")
if [ "$headers" = prometheus ]; then
  wrk_args+=(-H 'Accept: application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2'
    -H 'Accept-Encoding: gzip' -H 'X-Prometheus-Scrape-Timeout-Seconds: 10')
fi

echo "target $target, exporter 127.0.0.1:$port (pid $exp_pid), $conc connections, headers: $headers"
echo "$rounds rounds of ${chunk} s bare dials (dialloop -c $conc) then ${chunk} s /probe (wrk ${wrk_args[*]:0:4})"
echo "$(nproc) CPUs; ephemeral ports $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range), tcp_tw_reuse=$(cat /proc/sys/net/ipv4/tcp_tw_reuse)"

# --- warm-up (not measured): the exporter's heap and threads grow ---------
timeout 30 wrk "${wrk_args[@]}" -d 1s "$url" >/dev/null
sleep 0.5 # let the requests wrk left in flight finish

# --- measure: baseline and load, interleaved in rounds ------------------
# Each round runs the bare-dial baseline, then wrk against /probe, for
# $chunk s each; alternating them keeps a noisy machine's drift out of the
# ratio. Totals are summed over the rounds.
bare_dials=0 bare_errs=0 bare_ms=0 reqs=0 load_ms=0 non2xx=0 sockerr=0
ticks=0 probes=0 failed=0
for round in $(seq "$rounds"); do
  measure_start
  base=$(timeout $((chunk + 30)) "$tmp/dialloop" -addr "$target" -c "$conc" -d "${chunk}s")
  measure_end b
  d=$(sed -n 's/^dials=\([0-9]*\) errors=\([0-9]*\) seconds=\([0-9.]*\) .*/\1 \2 \3/p' <<<"$base")
  read -r n e secs <<<"$d"
  bare_dials=$((bare_dials + n)) bare_errs=$((bare_errs + e))
  bare_ms=$((bare_ms + $(awk -v s="$secs" 'BEGIN { printf "%.0f", s * 1000 }')))

  read -r p0 ok0 < <(probe_counts)
  c0=$(cpu_ticks "$exp_pid")
  prof_pid=
  if [ -n "$profile" ] && ((round == rounds)); then
    curl -sf -o "$profile" --max-time $((chunk + 10)) "http://127.0.0.1:$port/debug/pprof/profile?seconds=$chunk" &
    prof_pid=$!
  fi
  measure_start
  timeout $((chunk + 30)) wrk "${wrk_args[@]}" -d "${chunk}s" --latency "$url" >"$tmp/wrk.out"
  measure_end l
  if [ -n "$prof_pid" ]; then
    wait "$prof_pid" && echo "  (CPU profile of this round: $profile)" || echo "  (CPU profile failed)"
  fi
  sleep 0.3 # requests wrk left in flight: their probes count, and cost
  c1=$(cpu_ticks "$exp_pid")
  read -r p1 ok1 < <(probe_counts)
  read -r r ms < <(awk '/ requests in / { t = $4; sub(/,$/, "", t); f = t ~ /m$/ ? 60000 : t ~ /ms$/ ? 1 : 1000
    sub(/[a-z]+$/, "", t); printf "%d %.0f\n", $1, t * f }' "$tmp/wrk.out")
  reqs=$((reqs + r)) load_ms=$((load_ms + ms))
  non2xx=$((non2xx + $(awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$tmp/wrk.out")))
  sockerr=$((sockerr + $(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$tmp/wrk.out")))
  ticks=$((ticks + c1 - c0)) probes=$((probes + p1 - p0)) failed=$((failed + (p1 - p0) - (ok1 - ok0)))
  awk -v rd="$round" -v n="$n" -v secs="$secs" -v r="$r" -v ms="$ms" -v t="$((c1 - c0))" -v hz="$hz" -v p="$((p1 - p0))" 'BEGIN {
    b = n / secs; l = r / (ms / 1000)
    printf "  round %d: bare %6.0f dials/s | /probe %6.0f probes/s | ratio %5.1f%% | exporter CPU %5.1f µs/probe\n",
      rd, b, l, 100 * l / b, p ? t / hz * 1e6 / p : 0 }'
done
echo
echo "last round, wrk:"
sed 's/^/  /' "$tmp/wrk.out"
pct() { awk -v b="$1" -v t="$2" 'BEGIN { if (b < 0) b = 0; printf "%.0f%%", t ? 100 * b / t : 0 }'; }
echo "host CPU, baseline: $(pct "$((b_proc + b_irq))" "$b_total") busy; dialloop and target $(pct "$b_ours" "$b_total"), other processes $(pct "$((b_proc - b_ours))" "$b_total")"
echo "host CPU, load:     $(pct "$((l_proc + l_irq))" "$l_total") busy; exporter $(pct "$ticks" "$l_total"), wrk and target $(pct "$((l_ours - ticks))" "$l_total"), other processes $(pct "$((l_proc - l_ours))" "$l_total")"
noise=$(awk -v o="$((b_proc - b_ours + l_proc - l_ours))" -v t="$((b_total + l_total))" 'BEGIN { print (t && o / t > 0.10) ? 1 : 0 }')
((noise)) && echo "WARNING: other processes used over 10% of the host's CPU during the measurement; the figures are disturbed"
[ "$bare_errs" = 0 ] || echo "baseline dial errors: $bare_errs"
# wrk stops each round by closing its connections; the probes then in
# flight see their request's context cancelled, and the exporter counts
# them with a verdict (firewall / no-response). At most one per connection
# per round is that, not a failure.
cut_max=$((conc * rounds))
if ((failed > 0)); then
  echo "probes not connected, by class (up to $cut_max may be probes cut short when wrk stops a round):"
  http_get /metrics | grep "^tcp_verdict_exporter_probes_total{.*module=\"$module\"" | grep -v ' 0$' | sed 's/^/  /'
  echo "exporter log (last lines):"
  tail -n 5 "$tmp/exporter.log" | sed 's/^/  /'
fi
bare_rate=$(awk -v n="$bare_dials" -v ms="$bare_ms" 'BEGIN { printf "%.1f", ms ? n / (ms / 1000) : 0 }')
probe_rate=$(awk -v n="$reqs" -v ms="$load_ms" 'BEGIN { printf "%.1f", ms ? n / (ms / 1000) : 0 }')

# --- summary ---------------------------------------------------------------
awk -v probe_rate="$probe_rate" -v bare_rate="$bare_rate" -v probes="$probes" -v failed="$failed" -v cut_max="$cut_max" \
  -v ticks="$ticks" -v hz="$hz" -v non2xx="$non2xx" -v sockerr="$sockerr" \
  -v min_ratio="$min_ratio" -v max_cpu="$max_cpu_us" -v strict="${STRICT:-0}" -v headers="$headers" '
BEGIN {
  ratio = bare_rate > 0 ? probe_rate / bare_rate : 0
  cpu_us = probes > 0 ? ticks / hz * 1e6 / probes : 0
  ok_ratio = ratio >= min_ratio; ok_cpu = probes > 0 && cpu_us <= max_cpu
  ok_clean = failed <= cut_max && non2xx == 0 && sockerr == 0
  print ""
  print "RESULT (headers: " headers ")"
  printf "  probe rate        %10.0f probes/s   (wrk, /probe module=tcp_connect)\n", probe_rate
  printf "  bare-dial rate    %10.0f dials/s    (dialloop, same concurrency)\n", bare_rate
  printf "  ratio             %10.1f %%          target >= %.0f%%   %s\n", 100 * ratio, 100 * min_ratio, ok_ratio ? "PASS" : "FAIL"
  printf "  exporter CPU      %10.1f µs/probe   target <= %d µs  %s   (%.2f s CPU over %d probes)\n", cpu_us, max_cpu, ok_cpu ? "PASS" : "FAIL", ticks / hz, probes
  printf "  failures          %10d             (non-2xx %d, wrk socket errors %d; probes not connected %d, of which up to %d cut short by wrk stopping)  %s\n", non2xx + sockerr + (failed > cut_max ? failed - cut_max : 0), non2xx, sockerr, failed, cut_max, ok_clean ? "PASS" : "FAIL"
  if (strict == 1 && !(ok_ratio && ok_cpu && ok_clean)) exit 1
}'
