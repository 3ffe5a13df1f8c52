#!/usr/bin/env bash
# Issue 14, target 1: REST issuance per server CPU-second, sigil beside cfssl, side by side in
# one run. One load generator for all (tests/bench/api_load): N threads, one keep-alive
# connection each, a fresh ec-p256 CSR per thread, every response checked for a certificate.
#   sigil-sqlite  `sigil serve` on a fresh CA (ec-p256) with the embedded SQLite store; mTLS with
#                 the admin certificate, POST /api/v1/certificates (profile server, ttl 1h)
#   sigil-pg      the same on PostgreSQL 15 (ops/pg.sh, loopback, synchronous_commit on); the
#                 PostgreSQL processes' CPU is reported on its own (postgres CPU µs/issuance)
#   cfssl         Debian golang-cfssl `cfssl serve` (plain HTTP, no database, default log level),
#                 an ec-p256 intermediate made with openssl, a signing profile with server auth
#                 and 1h expiry; POST /api/v1/cfssl/sign {"certificate_request": PEM}
# Server CPU: utime+stime from /proc/PID/stat before and after each run. Concurrency 16 and 1,
# medians of 3 rounds, setups interleaved within each round.
# --perf (or PERF=1) records `perf record -F 999 -g` of each sigil setup during one extra run at concurrency
# 16 and prints the top of its profile by DSO and by symbol (ops/bench/perf_breakdown.py).
# Everything on loopback, inside a private network namespace when run as root.
# Appends to ops/bench/results.md (or $BENCH_RESULTS).
# Usage: ops/bench/rest.sh [--perf] [seconds-per-run] [concurrency ...]   (defaults: 5, 16 1)
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../.."
# shellcheck source=ops/bench/lib.sh
source ops/bench/lib.sh
bench_start "$self" "$@"
root=$PWD
sigil=${SIGIL:-$root/build/cli/sigil}  # SIGIL: another binary (ops/bench/experiments)
load=$root/build/tests/bench/api_load
work=$(mktemp -d)
chmod 711 "$work"
pids=()
cleanup() {
  stop_all "$work/pg" "${pids[@]}"
  rm -rf "$work"
}
trap cleanup EXIT
die() {
  echo "rest.sh: $*" >&2
  exit 1
}
load_avg=$(machine)

serve() {  # NAME HOME : starts sigil; its pid in $served_pid, its api URL in $served_url
  "$sigil" --home "$2" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
    >"$work/$1.out" 2>"$work/$1.err" &
  served_pid=$!
  pids+=("$served_pid")
  wait_line "$work/$1.out" public || die "$1 did not start: $(tail -3 "$work/$1.err")"
  served_url=$(awk '$1 == "api" {print $2}' "$work/$1.out" | sed 's/127.0.0.1/localhost/')
}
sigil_args() {  # HOME URL : api_load's arguments for a sigil server
  echo "$2" "$1/ca/root.crt" "$1/admin/admin.crt" "$1/admin/admin.key"
}
init_ca() {  # HOME [init flags]
  local h=$1
  shift
  SIGIL_ROOT_PASSPHRASE=bench-passphrase "$sigil" --home "$h" init --root-dir "$h.root" --allow-domain localhost \
    "$@" >/dev/null
}

# ---- sigil on SQLite, sigil on PostgreSQL
init_ca "$work/sqlite"
serve sqlite "$work/sqlite"
sqlite_pid=$served_pid sqlite_url=$served_url
pg_url=$(bash ops/pg.sh start "$work/pg")
init_ca "$work/postgres" --database "$pg_url"
serve onpg "$work/postgres"
onpg_pid=$served_pid onpg_url=$served_url
pg_procs() { with_children "$(head -1 "$work/pg/data/postmaster.pid")"; }

# ---- cfssl: an ec-p256 root and intermediate made with openssl; a 1h server-auth profile
c=$work/cfssl
mkdir -p "$c"
openssl ecparam -name prime256v1 -genkey -noout -out "$c/root.key"
openssl req -new -x509 -key "$c/root.key" -subj "/CN=cfssl bench root" -days 2 -out "$c/root.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl ecparam -name prime256v1 -genkey -noout -out "$c/ca.key"
openssl req -new -key "$c/ca.key" -subj "/CN=cfssl bench intermediate" -out "$c/ca.csr"
printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$c/ca.ext"
openssl x509 -req -in "$c/ca.csr" -CA "$c/root.pem" -CAkey "$c/root.key" -CAcreateserial -days 2 \
  -extfile "$c/ca.ext" -out "$c/ca.pem" 2>/dev/null
echo '{"signing": {"default": {"usages": ["digital signature", "key encipherment", "server auth"], "expiry": "1h"}}}' \
  >"$c/config.json"
cfssl_port=$(free_port)
cfssl serve -address 127.0.0.1 -port "$cfssl_port" -ca "$c/ca.pem" -ca-key "$c/ca.key" -config "$c/config.json" \
  >"$c/serve.log" 2>&1 &
pids+=($!)
cfssl_pid=$!
for _ in $(seq 100); do ss -Hltn "sport = :$cfssl_port" | grep -q . && break; sleep 0.1; done

# ---- runs: one record per run in $work/runs
run() {  # ROUND SETUP CONCURRENCY
  local round=$1 setup=$2 conc=$3 pid args p0=0 p1=0 c0 c1 out ok
  case $setup in
    sigil-sqlite) pid=$sqlite_pid && read -ra args <<<"$(sigil_args "$work/sqlite" "$sqlite_url")" ;;
    sigil-pg) pid=$onpg_pid && read -ra args <<<"$(sigil_args "$work/postgres" "$onpg_url")" ;;
    cfssl) pid=$cfssl_pid args=(--cfssl "http://127.0.0.1:$cfssl_port") ;;
  esac
  # shellcheck disable=SC2046  # lists of pids
  [ "$setup" != sigil-pg ] || p0=$(cpu_of $(pg_procs))
  c0=$(cpu_of "$pid")
  out=$("$load" "${args[@]}" "$conc" "$seconds" 2>>"$work/$setup.load.err") || true
  c1=$(cpu_of "$pid")
  # shellcheck disable=SC2046
  [ "$setup" != sigil-pg ] || p1=$(cpu_of $(pg_procs))
  ok=$(field ok <<<"$out")
  [ "${ok:-0}" -gt 0 ] || die "$setup: no issuance completed: $out $(tail -3 "$work/$setup.load.err")"
  awk -v r="$round" -v s="$setup" -v c0="$c0" -v c1="$c1" -v p0="$p0" -v p1="$p1" -v ok="$ok" -v line="$out" \
    -v f="$(field failed <<<"$out")" 'BEGIN {
      us = (c1 - c0) * 1e6 / ok; pg = (p1 - p0) * 1e6 / ok
      printf "round=%s setup=%s %s cpu_us=%.1f per_cpu_s=%.0f errors=%s", r, s, line, us, (us > 0 ? 1e6 / us : 0), f
      if (s == "sigil-pg") printf " pg_cpu_us=%.1f per_cpu_s_with_pg=%.0f", pg, (us + pg > 0 ? 1e6 / (us + pg) : 0)
      else printf " per_cpu_s_with_pg=%.0f", (us > 0 ? 1e6 / us : 0)
      printf "\n" }' >>"$work/runs"
}

for round in 1 2 3; do
  for conc in "${concurrencies[@]}"; do
    for setup in sigil-sqlite sigil-pg cfssl; do run "$round" "$setup" "$conc"; done
  done
done

show_errors "$work"

profiles=()
if [ "${PERF:-}" = 1 ]; then
  for setup in sigil-sqlite sigil-pg; do
    pid=$sqlite_pid
    read -ra args <<<"$(sigil_args "$work/sqlite" "$sqlite_url")"
    if [ "$setup" = sigil-pg ]; then
      pid=$onpg_pid
      read -ra args <<<"$(sigil_args "$work/postgres" "$onpg_url")"
    fi
    perf record -q -F 999 -g -p "$pid" -o "$work/perf.$setup" -- sleep "$seconds" 2>/dev/null &
    rec=$!
    "$load" "${args[@]}" 16 "$seconds" >/dev/null 2>&1 || true
    wait "$rec" || die "perf record failed"
    profiles+=("$(printf '%s (concurrency 16, %ss, perf record -F 999 -g):\n%s' "$setup" "$seconds" \
      "$(perf script -i "$work/perf.$setup" -F comm,tid,ip,sym,dso 2>/dev/null | python3 ops/bench/perf_breakdown.py --flat)")")
  done
fi

cols=(--col "issuances per server CPU-s=per_cpu_s" --col "server CPU µs/issuance=cpu_us"
  --col "postgres CPU µs/issuance=pg_cpu_us" --col "issuances per (server+postgres) CPU-s=per_cpu_s_with_pg"
  --col "issuances/s=requests_per_s" --col "p50 ms=p50_ms" --col "p99 ms=p99_ms")
table=$(python3 ops/bench/peer_table.py "$work/runs" --by concurrency,setup "${cols[@]}" --sum errors \
  --ratio "per_cpu_s:setup=sigil-sqlite/cfssl" --ratio "per_cpu_s:setup=sigil-pg/cfssl" \
  --ratio "per_cpu_s_with_pg:setup=sigil-pg/cfssl")
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) rest.sh on $load_avg; servers, PostgreSQL and the load generator share the machine"
  echo
  echo "REST issuance, keep-alive, one ec-p256 CSR per client thread, every response checked for a certificate; client tests/bench/api_load; ${seconds}s per run, medians of 3 rounds, setups interleaved in each round; server CPU = utime+stime of the server process over the run. Sigil $(sigil_version): mTLS with the admin certificate, POST /api/v1/certificates (profile server, ttl 1h), durable; on SQLite $(sqlite3 --version | awk '{print $1}') and on PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}') (loopback, synchronous_commit on; its processes' CPU reported apart). cfssl $(cfssl version | awk '/^Version/ {print $2}') (Debian golang-cfssl): plain HTTP, no database, default log level, POST /api/v1/cfssl/sign; ec-p256 intermediate, 1h server-auth profile. OpenSSL $(openssl version | awk '{print $2}'). Target: sigil/cfssl >= 1.5 issuances per server CPU-second."
  echo
  print_table "$table"
  for p in "${profiles[@]}"; do
    echo
    code_block "$p"
  done
} | tee -a "${BENCH_RESULTS:-ops/bench/results.md}"
