#!/usr/bin/env bash
# Issue 14, target 3: mTLS handshakes per server CPU-second on sigil's api listener beside nginx,
# side by side in one run. TLS 1.3, P-256 server and client certificates, a new TCP+TLS
# connection per request (connect, handshake, GET /health, read, close_notify, close), the same
# client for both: tests/bench/handshake_load (OpenSSL; verifies the server against the root,
# presents the admin certificate). Full handshakes, then resumed ones (TLS 1.3 tickets: each
# client thread offers the session of its previous connection).
#   sigil  `sigil serve` on a fresh CA (ec-p256), its api listener; the client check against the
#          store after every handshake is part of its figure.
#   nginx  Debian nginx, an unprivileged process with its own prefix and config, ONE worker,
#          `ssl_verify_client on`, the root as client CA, `location = /health { return 200; }`,
#          and a server certificate from the same CA, profile and key type as sigil's api
#          listener (sigil's own is made in memory at start and its key never leaves it).
# Server CPU: utime+stime from /proc/PID/stat before and after each run (nginx: master + worker).
# Medians of 3 rounds, servers interleaved within a round. Everything on loopback, inside a
# private network namespace when run as root. Appends to ops/bench/results.md (or $BENCH_RESULTS).
# Usage: ops/bench/handshake.sh [seconds-per-run] [concurrency ...]   (defaults: 5, 16 1)
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../.."
# shellcheck source=ops/bench/lib.sh
source ops/bench/lib.sh
bench_start "$self" "$@"
sigil=$PWD/build/cli/sigil
load=$PWD/build/tests/bench/handshake_load
work=$(mktemp -d)
chmod 711 "$work"
sigil_pid='' nginx_pid=''
cleanup() {
  # shellcheck disable=SC2086  # either may be empty
  stop_all '' $nginx_pid $sigil_pid
  rm -rf "$work"
}
trap cleanup EXIT
die() {
  echo "handshake.sh: $*" >&2
  exit 1
}
load_avg=$(machine)

# ---- sigil: a fresh CA; nginx's certificate from it before the server starts
h=$work/home
SIGIL_ROOT_PASSPHRASE=bench-passphrase "$sigil" --home "$h" init --root-dir "$work/root" --allow-domain localhost \
  >/dev/null
ttl=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tls"]["server_cert_ttl"])' "$h/sigil.json")
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
"$sigil" --home "$h" issue --name localhost --profile server --ttl "$ttl" --key-out "$work/nginx/server.key" \
  --out "$work/nginx/server.chain" >/dev/null
cp "$h/ca/root.crt" "$work/nginx/client-ca.crt"
"$sigil" --home "$h" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
  >"$work/sigil.out" 2>"$work/sigil.err" &
sigil_pid=$!
wait_line "$work/sigil.out" public || die "sigil did not start: $(tail -3 "$work/sigil.err")"
sigil_port=$(awk '$1 == "api" {print $2}' "$work/sigil.out" | sed 's/.*://')

# ---- nginx: one worker, mTLS, as `nobody` when started by root
nginx_port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
$(for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $work/nginx/tmp;"; done)
  server {
    listen 127.0.0.1:$nginx_port ssl;
    server_name localhost;
    ssl_protocols TLSv1.3;
    ssl_certificate $work/nginx/server.chain;
    ssl_certificate_key $work/nginx/server.key;
    ssl_client_certificate $work/nginx/client-ca.crt;
    ssl_verify_client on;
    ssl_verify_depth 4;
    location = /health { return 200 "ok\n"; }
  }
}
CONF
as_nobody=()
if [ "$(id -u)" = 0 ]; then
  chown -R nobody: "$work/nginx"
  as_nobody=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
fi
"${as_nobody[@]}" nginx -e "$work/nginx/logs/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do [ -n "$(pgrep -P "$nginx_pid")" ] && break; sleep 0.1; done
[ -n "$(pgrep -P "$nginx_pid")" ] || die "nginx did not start: $(cat "$work/nginx/logs/error.log")"

# ---- runs: one record per run in $work/runs
run() {  # ROUND SERVER MODE CONCURRENCY
  local round=$1 server=$2 mode=$3 c=$4 port procs c0 c1 out args=()
  case $server in
    sigil) port=$sigil_port procs=$sigil_pid ;;
    nginx) port=$nginx_port procs=$(with_children "$nginx_pid") ;;
  esac
  [ "$mode" = resumed ] && args=(--resume)
  # shellcheck disable=SC2086  # procs is a list of pids
  c0=$(cpu_of $procs)
  out=$("$load" localhost "$port" "$h/ca/root.crt" "$h/admin/admin.crt" "$h/admin/admin.key" "$c" "$seconds" \
    "${args[@]}" 2>>"$work/$server.load.err") || true
  # shellcheck disable=SC2086
  c1=$(cpu_of $procs)
  grep -q '^tls ' <<<"$out" && [ ! -f "$work/$server.tls" ] && grep '^tls ' <<<"$out" >"$work/$server.tls"
  local line ok
  line=$(grep '^mode=' <<<"$out") || die "$server $mode: no result: $(tail -3 "$work/$server.load.err")"
  ok=$(field ok <<<"$line")
  [ "$ok" -gt 0 ] || die "$server $mode: no handshake completed: $(tail -3 "$work/$server.load.err")"
  awk -v r="$round" -v s="$server" -v c0="$c0" -v c1="$c1" -v ok="$ok" -v line="$line" \
    -v res="$(field resumed <<<"$line")" -v f="$(field failed <<<"$line")" 'BEGIN {
      us = (c1 - c0) * 1e6 / ok
      printf "round=%s server=%s %s cpu_us=%.1f per_cpu_s=%.0f resumed_pct=%.1f errors=%s\n",
        r, s, line, us, (us > 0 ? 1e6 / us : 0), 100 * res / ok, f }' >>"$work/runs"
}

for round in 1 2 3; do
  for mode in full resumed; do
    for c in "${concurrencies[@]}"; do
      for server in sigil nginx; do run "$round" "$server" "$mode" "$c"; done
    done
  done
done

table=$(python3 ops/bench/peer_table.py "$work/runs" --by mode,concurrency,server \
  --col "handshakes per server CPU-s=per_cpu_s" --col "server CPU µs/handshake=cpu_us" \
  --col "handshakes/s=handshakes_per_s" --col "p50 ms=p50_ms" --col "p99 ms=p99_ms" --col "resumed %=resumed_pct" \
  --col "tickets/connection=tickets_per_connection" --col "tickets/resumption=tickets_per_resumption" \
  --sum errors --ratio "per_cpu_s:server=sigil/nginx")
show_errors "$work"

# Where a server resumed only part of the "resumed" runs, the cost of one actual resumption:
# (CPU per connection - full share x CPU per full handshake) / resumed share, from the medians.
per_resumption=$(python3 - "$work/runs" <<'PY'
import statistics, sys
runs = [dict(p.split("=", 1) for p in l.split() if "=" in p) for l in open(sys.argv[1])]
med = lambda m, c, s, k: statistics.median(float(r[k]) for r in runs if (r["mode"], r["concurrency"], r["server"]) == (m, c, s))
for c in dict.fromkeys(r["concurrency"] for r in runs):
    for s in dict.fromkeys(r["server"] for r in runs):
        share = med("resumed", c, s, "resumed_pct") / 100
        if share > 0:
            us = (med("resumed", c, s, "cpu_us") - (1 - share) * med("full", c, s, "cpu_us")) / share
            print(f"server CPU per actual resumption: concurrency={c} server={s} {us:.0f} µs ({1e6 / us:.0f} per CPU-s)")
PY
)
failed_sigil=$(awk '/server=sigil/ {for (i = 1; i <= NF; i++) if ($i ~ /^errors=/) s += substr($i, 8)} END {print s + 0}' "$work/runs")
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) handshake.sh on $load_avg; servers and the load generator share the machine"
  echo
  echo "mTLS handshakes on a new TCP+TLS connection per request (GET /health, Connection: close), TLS 1.3, P-256 server and client certificates; client tests/bench/handshake_load (OpenSSL $(openssl version | awk '{print $2}'), verifies the server, presents the admin certificate). ${seconds}s per run, medians of 3 rounds, servers interleaved in each round; server CPU = utime+stime of the server process(es) over the run. Sigil $(sigil_version) on its api listener (the store check of the client included); $(nginx -v 2>&1 | sed 's/.*: //') with one worker, \`ssl_verify_client on\`, the same root as client CA and a server certificate of the same CA, profile and key type. Resumed: each client thread offers its previous connection's session; \`resumed %\` is the share the server actually resumed, \`tickets/connection\` the session tickets the client received per connection, \`tickets/resumption\` per resumed one (OpenSSL's client uses a TLS 1.3 ticket once, so a server that sends no new ticket on resumption makes every other connection a full handshake). Errors: TLS/socket failures and non-200 answers (sigil refused $failed_sigil)."
  echo
  echo "Negotiated (first connection of each server):"
  echo
  code_block "$(for s in sigil nginx; do echo "$s: $(cat "$work/$s.tls" 2>/dev/null || echo none)"; done)"
  echo
  print_table "$table"
  echo
  code_block "$per_resumption"
} | tee -a "${BENCH_RESULTS:-ops/bench/results.md}"
