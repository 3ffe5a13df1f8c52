#!/usr/bin/env bash
# ACME order throughput: complete orders (newOrder -> http-01 -> finalize -> certificate download)
# at concurrency 1, 4 and 16 against `sigil serve` and against Debian's pebble (validation sleeps
# off, no nonce rejection, no authorization reuse) with the same client in one run:
# ops/bench/acme_orders.py, on tests/integration/acme/acme_client.py (one account per worker,
# keep-alive, one shared http-01 responder, the same polling schedule for both servers).
# Orders per second and p50/p99 latency, medians of 3 runs per level, the peers interleaved in
# each round. Prints a markdown table; --append also appends it to ops/bench/results.md.
#
# Pebble 2.4.0 (Debian 12) deadlocks under concurrent load: every request goroutine ends up
# waiting on its MemoryStore lock (seen with a SIGQUIT goroutine dump, at concurrency 16 within
# seconds). So every pebble run gets a fresh process; a run with errors is retried on a fresh
# one (up to 3 tries), then once with GOMAXPROCS=1, where it has not deadlocked; the table says
# how many tries each figure took. Sigil serves every run from one process and one database.
#
# The client is threads in one process: on these 2 cores, 2 or 4 processes were slower at
# concurrency 16 (they take CPU from the servers; one process used 0.4-0.8 of a core), so the GIL
# is not what limits it here. --processes N is there for bigger machines.
#
# Everything runs inside a private network namespace (unshare -n; needs root): BIND on a
# loopback port serves the zone both servers resolve the order names in.
#
# Server CPU per order: utime+stime of the server process (/proc/PID/stat) over the run, divided
# by the orders completed (less sensitive to the shared machine's noise than the wall rates).
# ACME_PROFILE=DIR (not in results.md): afterwards, one C=1 run of each server with the driver's
# per-step trace, one C=16 run of sigil under `perf record -g` and one under `strace -c -f` (fsyncs
# per order); their reports go to DIR (trace-*.txt, perf-report.txt, perf-children.txt, strace.txt).
#
# Usage: ops/bench/acme.sh [--seconds N (10)] [--orders N (5000)] [--runs N (3)]
#          [--levels "1 4 16"] [--processes N (1)] [--sigil PATH | --no-sigil] [--append]
# Without --sigil, Sigil is built in build-acmepy (cmake + ninja, target sigil); if that fails,
# or its acme listener has no ACME directory yet, the table has pebble's rows only.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../.."
root=$PWD

seconds=10 orders=5000 runs=3 levels="1 4 16" processes=1 sigil="" no_sigil=0 append=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --orders) orders=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --levels) levels=$2; shift 2 ;;
    --processes) processes=$2; shift 2 ;;
    --sigil) sigil=$(realpath "$2"); shift 2 ;;
    --no-sigil) no_sigil=1; shift ;;
    --append) append=1; shift ;;
    -h | --help) sed -n '2,30p' "$self"; exit 0 ;;
    *) echo "acme.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3

if [ "${ACME_BENCH_INNER:-}" != 1 ]; then
  # Outside the namespace: tools and the build.
  for t in pebble named dig openssl curl; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "acme.sh: $t is missing (ops/install-deps.sh)" >&2; exit 1; }
  done
  "$PY" -c 'import cryptography' 2>/dev/null || { echo "acme.sh: python3-cryptography is missing" >&2; exit 1; }
  if [ "$no_sigil" = 0 ] && [ -z "$sigil" ]; then
    if cmake -S . -B build-acmepy -G Ninja -DSIGIL_BENCH=OFF >/dev/null && ninja -C build-acmepy -j "${JOBS:-2}" sigil >/dev/null; then
      sigil=$root/build-acmepy/cli/sigil
    else
      echo "acme.sh: sigil did not build; pebble only" >&2
      no_sigil=1
    fi
  fi
  [ "$no_sigil" = 1 ] && sigil=""
  inner=(--seconds "$seconds" --orders "$orders" --runs "$runs" --levels "$levels" --processes "$processes")
  if [ -n "$sigil" ]; then inner+=(--sigil "$sigil"); else inner+=(--no-sigil); fi
  if [ "$append" = 1 ]; then inner+=(--append); fi
  if [ -n "${ACME_PROFILE:-}" ]; then mkdir -p "$ACME_PROFILE" && export ACME_PROFILE=$(realpath "$ACME_PROFILE"); fi
  exec unshare -n env ACME_BENCH_INNER=1 bash "$self" "${inner[@]}"
fi

# ---------------------------------------------------------------- inside the namespace
ip link set lo up
export PATH=$PATH:/usr/sbin
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "acme.sh: $*" >&2; exit 1; }
zone=example.internal
driver=$root/ops/bench/acme_orders.py
read -r http01 dns pport pmgmt < <("$PY" - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
out, held = [], []
while len(out) < 4:
    p = random.randint(20000, lo - 1)
    try:
        t = socket.socket(); t.bind(("127.0.0.1", p))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p))
    except OSError:
        continue
    if p not in out:
        held += [t, u]; out.append(p)
print(*out)
PY
)

# BIND: the zone, wildcard A 127.0.0.1 (every order name resolves to the responder).
mkdir -p "$work/named"
cat >"$work/named/zone" <<EOF
\$TTL 60
@ IN SOA ns.$zone. hostmaster.$zone. 1 60 60 600 60
@ IN NS ns.$zone.
ns IN A 127.0.0.1
* IN A 127.0.0.1
EOF
cat >"$work/named/named.conf" <<EOF
options { directory "$work/named"; listen-on port $dns { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; pid-file "$work/named/pid"; session-keyfile "$work/named/session.key"; };
controls { };
zone "$zone" { type primary; file "$work/named/zone"; };
EOF
named -g -c "$work/named/named.conf" >"$work/named/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p "$dns" "$zone" SOA 2>/dev/null | grep -q hostmaster && break; sleep 0.1; done
dig +short @127.0.0.1 -p "$dns" "x.$zone" A | grep -q 127.0.0.1 || die "BIND did not come up: $(tail -5 "$work/named/log")"

# Pebble: a throwaway CA for its HTTPS listener, 127.0.0.1 addresses, validation on $http01.
p=$work/pebble
mkdir -p "$p"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" \
  -subj /CN=pebble-bench-https-ca -days 2 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/srv.key" -out "$p/srv.csr" \
  -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$p/ext"
openssl x509 -req -in "$p/srv.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -out "$p/srv.crt" -days 2 \
  -extfile "$p/ext" 2>/dev/null
cat >"$p/config.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$pport", "managementListenAddress": "127.0.0.1:$pmgmt",
  "certificate": "$p/srv.crt", "privateKey": "$p/srv.key", "httpPort": $http01, "tlsPort": 5001,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
pebble_dir="https://localhost:$pport/dir"
pebble_pid=""
pebble_start() {  # [GOMAXPROCS]
  (
    export PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
    if [ -n "${1:-}" ]; then export GOMAXPROCS=$1; fi
    exec pebble -config "$p/config.json" -dnsserver "127.0.0.1:$dns" -strict
  ) >>"$p/log" 2>&1 &
  pebble_pid=$!
  for _ in $(seq 100); do
    curl -sf --max-time 2 --cacert "$p/ca.crt" --resolve "localhost:$pport:127.0.0.1" "$pebble_dir" >/dev/null && return 0
    sleep 0.1
  done
  die "pebble did not start: $(tail -5 "$p/log")"
}
pebble_stop() {
  kill "$pebble_pid" 2>/dev/null || true
  wait "$pebble_pid" 2>/dev/null || true
  pebble_pid=""
}
trap 'pebble_stop; cleanup' EXIT

# Sigil: a fresh CA, rate limits out of the way, validation through BIND on $http01.
sigil_dir=""
if [ -n "${sigil:-}" ]; then
  h=$work/sigil
  export SIGIL_ROOT_PASSPHRASE=bench-passphrase
  "$sigil" --home "$h" init --root-dir "$work/sigil.root" --allow-domain "$zone" >"$work/sigil-init.out" 2>&1 ||
    die "sigil init failed: $(tail -5 "$work/sigil-init.out")"
  "$PY" - "$h/sigil.json" <<'PY' || die "could not edit sigil.json"
import json, sys
j = json.load(open(sys.argv[1]))
a = j.setdefault("acme", {})
a["rate_limits"] = {"new_orders_per_account_per_hour": 100000000, "new_accounts_per_address_per_hour": 1000000}
# The responder is on loopback, which acme.validation.forbidden_ranges refuses by default (SSRF).
v = a.setdefault("validation", {})
v["forbidden_ranges"] = [r for r in v.get("forbidden_ranges", []) if r not in ("127.0.0.0/8", "::1/128")]
json.dump(j, open(sys.argv[1], "w"), indent=2)
PY
  "$sigil" --home "$h" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
    --dns-resolver "127.0.0.1:$dns" --http01-port "$http01" >"$work/sigil.out" 2>"$work/sigil.err" &
  sigil_pid=$!
  pids+=($!)
  for _ in $(seq 150); do grep -q '^public' "$work/sigil.out" 2>/dev/null && break; sleep 0.1; done
  aport=$(awk '/^acme/ { sub(/.*:/, "", $2); print $2 }' "$work/sigil.out")
  if [ -n "$aport" ] && curl -sf --max-time 5 --cacert "$h/ca/root.crt" --resolve "localhost:$aport:127.0.0.1" \
    "https://localhost:$aport/acme/directory" | grep -q newOrder; then
    sigil_dir="https://localhost:$aport/acme/directory"
  else
    echo "acme.sh: sigil serve has no ACME directory (yet?); pebble only. Its log:" >&2
    tail -n 5 "$work/sigil.err" >&2
  fi
fi

drive() {  # DIRECTORY CA CONCURRENCY [driver args] -> its key=value line (errors to $work/driver.err)
  local d=$1 ca=$2 c=$3
  shift 3
  "$PY" "$driver" "$d" "$ca" "$http01" --concurrency "$c" --seconds "$seconds" --orders "$orders" \
    --processes "$processes" --zone "$zone" --timeout 5 "$@" 2>>"$work/driver.err" || true
}
# utime+stime of a process, in seconds.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The driver's line with server_cpu_ms_per_order= appended (server PID, CPU seconds before).
with_cpu() {
  local n
  n=$(field orders "$1")
  awk -v a="$2" -v b="$(cpu_s "$3")" -v n="${n:-0}" -v l="$1" \
    'BEGIN { printf "%s server_cpu_ms_per_order=%s\n", l, (n > 0 ? sprintf("%.2f", (b - a) * 1000 / n) : "-") }'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A R   # R[server,c] = newline-separated driver lines
for c in $levels; do
  for r in $(seq "$runs"); do
    # pebble: a fresh process per run; retried when a run has errors (deadlock), see above.
    line="" tries=0
    for gmp in "" "" "" 1; do
      tries=$((tries + 1))
      pebble_start "$gmp"
      cpu0=$(cpu_s "$pebble_pid")
      line=$(drive "$pebble_dir" "$p/ca.crt" "$c" --stop-on-error)
      [ -n "$line" ] && line=$(with_cpu "$line" "$cpu0" "$pebble_pid")
      pebble_stop
      errs=$(field errors "$line")
      if [ -n "$line" ] && [ "${errs:-1}" = 0 ]; then break; fi
      echo "acme.sh: pebble c=$c run $r try $tries${gmp:+ (GOMAXPROCS=$gmp)}: ${line:-no result} -- retrying on a fresh pebble" >&2
    done
    R[pebble,$c]+="$line tries=$tries gomaxprocs=${gmp:-default}"$'\n'
    echo "pebble c=$c run $r: $line (tries=$tries${gmp:+, GOMAXPROCS=$gmp})" >&2
    if [ -n "$sigil_dir" ]; then
      cpu0=$(cpu_s "$sigil_pid")
      line=$(drive "$sigil_dir" "$h/ca/root.crt" "$c")
      [ -n "$line" ] && line=$(with_cpu "$line" "$cpu0" "$sigil_pid")
      R[sigil,$c]+="$line"$'\n'
      echo "sigil  c=$c run $r: $line" >&2
    fi
  done
done

servers="pebble"
[ -n "$sigil_dir" ] && servers="sigil pebble"
pv=$(dpkg-query -W -f='${Version}' pebble 2>/dev/null || echo '?')
table=$(
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) acme.sh on $(nproc) cores; servers, BIND and the load generator share the machine (load average at start $load_start)"
  echo
  echo "Complete ACME orders (newOrder -> http-01 -> finalize -> download, one dns name each), ${seconds}s (at most $orders orders) per run, medians of $runs runs, peers interleaved; one account per worker, keep-alive; polls at 5/10/20/50 ms, Retry-After ignored (same for both); client: ops/bench/acme_orders.py, threads in $processes process(es). pebble runs end at the first failed order and are retried on a fresh pebble (a deadlock); errors counts the failed orders of the runs kept. pebble $pv: fresh process per run, PEBBLE_VA_NOSLEEP=1, no nonce rejection, no authz reuse. Sigil: $([ -n "$sigil_dir" ] && echo "one process and database for all runs" || echo "not available in this run")."
  echo
  echo "| server | concurrency | orders/s | p50 ms | p99 ms | runs (orders/s) | requests/order | server CPU ms/order | client CPU s/run | errors | notes |"
  echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"
  for s in $servers; do
    for c in $levels; do
      lines=${R[$s,$c]:-}
      [ -n "$lines" ] || continue
      ops=$(while read -r l; do [ -n "$l" ] && field orders_per_s "$l"; done <<<"$lines" | median)
      p50=$(while read -r l; do [ -n "$l" ] && field p50_ms "$l"; done <<<"$lines" | median)
      p99=$(while read -r l; do [ -n "$l" ] && field p99_ms "$l"; done <<<"$lines" | median)
      rpo=$(while read -r l; do [ -n "$l" ] && field requests_per_order "$l"; done <<<"$lines" | median)
      cpu=$(while read -r l; do [ -n "$l" ] && field client_cpu_s "$l"; done <<<"$lines" | median)
      scpu=$(while read -r l; do [ -n "$l" ] && field server_cpu_ms_per_order "$l"; done <<<"$lines" | median)
      each=$(while read -r l; do [ -n "$l" ] && field orders_per_s "$l"; done <<<"$lines" | paste -sd/)
      errs=$(while read -r l; do [ -n "$l" ] && field errors "$l"; done <<<"$lines" | awk '{s+=$1} END {print s+0}')
      note=""
      if [ "$s" = pebble ]; then
        tries=$(while read -r l; do [ -n "$l" ] && field tries "$l"; done <<<"$lines" | paste -sd/)
        g1=$(grep -c 'gomaxprocs=1' <<<"$lines" || true)
        note="tries per run $tries"
        [ "$g1" -gt 0 ] && note="$note; $g1 run(s) with GOMAXPROCS=1"
      fi
      echo "| $s | $c | $ops | $p50 | $p99 | $each | $rpo | $scpu | $cpu | $errs | $note |"
    done
  done
)
echo "$table"
if [ -s "$work/driver.err" ]; then
  echo >&2
  echo "first driver errors:" >&2
  head -n 5 "$work/driver.err" >&2
fi
if [ "$append" = 1 ]; then echo "$table" >>"$root/ops/bench/results.md"; fi

if [ -n "${ACME_PROFILE:-}" ]; then
  out=$ACME_PROFILE
  pebble_start
  # The driver itself (drive() sends stderr, where the trace goes, to driver.err).
  trace() { "$PY" "$driver" "$1" "$2" "$http01" --concurrency 1 --seconds "$seconds" --orders "$orders" --zone "$zone" \
    --timeout 5 --trace >"$3" 2>&1 || true; }
  trace "$pebble_dir" "$p/ca.crt" "$out/trace-pebble.txt"
  pebble_stop
  if [ -n "$sigil_dir" ]; then
    trace "$sigil_dir" "$h/ca/root.crt" "$out/trace-sigil.txt"
    if command -v perf >/dev/null; then
      perf record -q -F 499 --call-graph dwarf,8192 -p "$sigil_pid" -o "$out/perf.data" -- sleep "$seconds" >/dev/null 2>&1 &
      prof=$!
      drive "$sigil_dir" "$h/ca/root.crt" 16 >"$out/perf-run.txt"
      wait "$prof" || true
      perf report -i "$out/perf.data" --no-children -g none --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep '%' |
        head -60 >"$out/perf-report.txt" || true
      perf report -i "$out/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null | grep '%' | head -15 >"$out/perf-dso.txt" || true
      # Inclusive cost of Sigil's own functions (what each step of a request costs with its callees).
      perf report -i "$out/perf.data" --children -g none --sort sym --stdio 2>/dev/null | grep -E 'sigil::' |
        head -60 >"$out/perf-children.txt" || true
    fi
    if command -v strace >/dev/null; then
      strace -c -f -e trace=fsync,fdatasync,pwrite64,write,sendmsg,futex -p "$sigil_pid" -o "$out/strace.txt" &
      st=$!
      sleep 0.5
      drive "$sigil_dir" "$h/ca/root.crt" 16 >"$out/strace-run.txt"
      kill -INT "$st" 2>/dev/null || true
      wait "$st" || true
    fi
  fi
  echo "profiles in $out" >&2
fi
