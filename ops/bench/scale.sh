#!/usr/bin/env bash
# State at scale (issue 14 target 5): with N certificates (default 1,000,000) and R revocations
# (default 100,000) in the store, how fast `sigil serve` starts serving, how much memory it
# keeps, how fast `sigil list` and the REST list answer one page, and how fast `sigil status` is.
# Prints a table with the targets and appends it to ops/bench/results.md.
#
# Usage: ops/bench/scale.sh [N] [R]
#   SCALE_CACHE=DIR   generate into DIR once and reuse it on later runs with the same N and R
#                     (generating 1,000,000 takes several minutes); default: a temp dir, removed.
#   SCALE_RUNS=3      runs per measurement (medians are reported).
#   SCALE_PG=1        the store on PostgreSQL 15 (ops/pg.sh, loopback, synchronous_commit on) instead
#                     of SQLite; always generated afresh (SCALE_CACHE is not reused).
#   SIGIL=PATH        the sigil binary measured (default build/cli/sigil, built here): to compare
#                     two builds on one cached store.
#
# The store is made by `sigil init` run under faketime 101 days in the past (so the CA may have
# issued certificates that have expired by now), then filled by tests/bench/gen_store through
# issuer::Issuer and revocation::Revoker (real certificates, the rows issuance writes); its
# admin certificate (90 days) is renewed with `sigil admin renew`. Everything listens on
# 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
r=${2:-100000}
runs=${SCALE_RUNS:-3}
bash ops/build.sh build -DSIGIL_BENCH=ON >/dev/null
command -v faketime >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y faketime >/dev/null
command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y openssl >/dev/null
sigil=${SIGIL:-$PWD/build/cli/sigil}
tmp=$(mktemp -d)
chmod 711 "$tmp"  # ops/pg.sh runs PostgreSQL as its own user under it
data=${SCALE_CACHE:-$tmp/data}
server=
pg_dir=
[ -n "${SCALE_PG:-}" ] && pg_dir=$tmp/pg
server_stop_pg() { [ -n "$pg_dir" ] && bash ops/pg.sh stop "$pg_dir" || true; }
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    while kill -0 "$server" 2>/dev/null; do sleep 0.05; done
    server=
  fi
}
trap 'stop_server; server_stop_pg; rm -rf "$tmp"' EXIT

# ---- the store ----------------------------------------------------------------------------------
gen_line=
if [ -z "$pg_dir" ] && [ -f "$data/generated" ] && [ "$(cat "$data/generated")" = "$n $r" ]; then
  gen_line="reused $(cat "$data/gen.out")"
else
  rm -rf "$data"
  mkdir -p "$data"
  db_args=()
  # PostgreSQL: the store's pool (8 connections, 5 s to get one) serves 256 revoking threads too
  # slowly (a revocation failed with "no free connection within the connect timeout" at 1M).
  gen_threads=256
  [ -n "$pg_dir" ] && db_args=(--database "$(bash ops/pg.sh start "$pg_dir")") && gen_threads=32
  SIGIL_ROOT_PASSPHRASE=bench-passphrase faketime -f -101d "$sigil" --home "$data/home" init \
    --root-dir "$data/root" --allow-domain scale.test "${db_args[@]}" >/dev/null
  /usr/bin/time -f 'gen_wall_s=%e gen_max_rss_kb=%M' -o "$data/gen.time" \
    build/tests/bench/gen_store "$data/home" "$n" "$r" "$gen_threads" 5000 >"$data/gen.out.tmp"
  echo "$(cat "$data/gen.out.tmp") $(cat "$data/gen.time")" >"$data/gen.out"
  "$sigil" --home "$data/home" admin renew >/dev/null
  echo "$n $r" >"$data/generated"
  gen_line=$(cat "$data/gen.out")
fi
h=$data/home
# Migrations (new indexes) are applied once here, not inside a timed start.
"$sigil" --home "$h" status >/dev/null 2>&1 || true
if [ -n "$pg_dir" ]; then
  db_mb=$(du -sm "$pg_dir/data" | awk '{print $1}')
else
  db_mb=$(du -sm "$h"/sigil.db* | awk '{s += $1} END {print s}')
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }
# "wall_ms=.. cpu_ms=.." of one command (its output discarded).
time_ms() { python3 ops/bench/scale_start.py time "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mem() { awk '/^VmHWM|^VmRSS/ {sub(":", "", $1); printf "%s_MB=%d ", $1, $2 / 1024}' "/proc/$1/status"; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }

# A valid certificate, an OCSP GET for it, and a page token deep in the valid certificates
# (not_after two thirds into the next 90 days): keyset paging makes any page cost the same, a
# deep token shows it does.
now=$(date +%s)
valid_serial=$("$sigil" --home "$h" --json list --status valid --limit 1 | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["items"][0]["serial"])')
name=$("$sigil" --home "$h" --json list --status valid --limit 1 | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["items"][0]["sans"][0])')
openssl ocsp -issuer "$h/ca/intermediate.crt" -serial "0x$valid_serial" -no_nonce -reqout "$tmp/req.der" >/dev/null
ocsp_path=/ocsp/$(base64 -w0 "$tmp/req.der" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))')
deep_token=$(printf '1:%d:80' $((now + 60 * 86400)) | base64 -w0 | tr '+/' '-_' | tr -d '=')

api_port=$(free_port)
acme_port=$(free_port)
public_port=$(free_port)
# Sets $server and prints scale_start.py's line into $tmp/start.line (not in a subshell: the
# caller must know the pid to stop it).
start_serve() {
  python3 ops/bench/scale_start.py "$sigil" "$h" "$api_port" "$acme_port" "$public_port" "$ocsp_path" \
    "$tmp/serve" >"$tmp/start.line"
  server=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$tmp/start.line")
}

# ---- start-up: exec to the first good answer, memory once started --------------------------------
starts=()
for i in $(seq "$runs"); do
  start_serve
  started_at=$(ms_now)
  sleep 3
  starts+=("$(cat "$tmp/start.line") $(mem "$server") after_3s_cpu_s=$(cpu_s "$server")")
  [ "$i" -lt "$runs" ] && stop_server
done
field() { printf '%s\n' "${starts[@]}" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p" | median; }
api_ms=$(field api_ms)
public_ms=$(field public_ms)
start_cpu=$(field ready_cpu_s)
settled_cpu=$(field after_3s_cpu_s)
hwm_start=$(field VmHWM_MB)
rss_start=$(field VmRSS_MB)

# ---- lists: `sigil list` (a process each, on the store) and REST (keep-alive mTLS) -------------
filters=(
  "status=valid|--status valid"
  "status=revoked|--status revoked"
  "status=expired|--status expired"
  "profile=client|--profile client"
  "expiring_within=7d|--expiring-within 7d"
  "name=$name|--name $name"
  "status=valid&page_token=$deep_token|--status valid --page-token $deep_token"
)
labels=("status valid" "status revoked" "status expired" "profile client" "expiring 7d" "by name" "valid, deep page")
cli_rows=()
rest_rows=()
curl_tls=(--cacert "$h/ca/root.crt" --cert "$h/admin/admin.crt" --key "$h/admin/admin.key" --resolve
  "localhost:$api_port:127.0.0.1")
for k in "${!filters[@]}"; do
  query=${filters[$k]%%|*}
  flags=${filters[$k]#*|}
  cli=()
  for _ in $(seq "$runs"); do
    # shellcheck disable=SC2086
    cli+=("$(time_ms "$sigil" --home "$h" --json list $flags --limit 100)")
  done
  cli_wall=$(printf '%s\n' "${cli[@]}" | sed 's/.*wall_ms=\([0-9]*\).*/\1/' | median)
  cli_cpu=$(printf '%s\n' "${cli[@]}" | sed 's/.*cpu_ms=\([0-9]*\).*/\1/' | median)
  # shellcheck disable=SC2086
  items=$("$sigil" --home "$h" --json list $flags --limit 100 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  cli_rows+=("$cli_wall $cli_cpu $items")
  # One connection, the same page runs+1 times: the first pays the handshake, the rest are timed.
  urls=()
  for _ in $(seq $((runs + 1))); do
    urls+=(-o /dev/null "https://localhost:$api_port/api/v1/certificates?limit=100&$query")
  done
  times=$(curl -sS "${curl_tls[@]}" -w '%{http_code} %{time_total}\n' "${urls[@]}")
  if echo "$times" | grep -qv '^200 '; then echo "REST list $query failed: $times" >&2; exit 1; fi
  rest_rows+=("$(echo "$times" | tail -n +2 | awk '{printf "%d\n", $2 * 1000}' | median)")
done

# ---- status -------------------------------------------------------------------------------------
status_ms=()
status_json_ms=()
for _ in $(seq "$runs"); do
  status_ms+=("$(time_ms "$sigil" --home "$h" status)")
  status_json_ms+=("$(time_ms "$sigil" --home "$h" --json status)")
done
status_med=$(printf '%s\n' "${status_ms[@]}" | sed 's/.*wall_ms=\([0-9]*\).*/\1/' | median)
status_cpu=$(printf '%s\n' "${status_ms[@]}" | sed 's/.*cpu_ms=\([0-9]*\).*/\1/' | median)
status_json_med=$(printf '%s\n' "${status_json_ms[@]}" | sed 's/.*wall_ms=\([0-9]*\).*/\1/' | median)
status_json_cpu=$(printf '%s\n' "${status_json_ms[@]}" | sed 's/.*cpu_ms=\([0-9]*\).*/\1/' | median)

# ---- memory after requests, and after a CRL rebuild --------------------------------------------
crl_path=$(curl -sS "http://127.0.0.1:$public_port/" | grep -o '/crl/[^"]*\.crl' | head -1)
[ -n "$crl_path" ] && curl -sSf -o /dev/null "http://127.0.0.1:$public_port$crl_path" || {
  echo "no CRL found on the public listener's index page" >&2
  exit 1
}
for _ in $(seq 200); do printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' "$public_port" "$ocsp_path"; done \
  >"$tmp/ocsp.curl"
curl -sS -K "$tmp/ocsp.curl"
for _ in $(seq 5); do curl -sS -o /dev/null "http://127.0.0.1:$public_port$crl_path"; done
mem_requests=$(mem "$server")
crl_number() {
  curl -sS "http://127.0.0.1:$public_port$crl_path" | openssl crl -inform DER -noout -crlnumber | cut -d= -f2
}
crl_before=$(crl_number)
to_revoke=$("$sigil" --home "$h" --json list --status valid --limit 1 --page-token "$deep_token" | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["items"][0]["serial"])')
cpu_before_crl=$(cpu_s "$server")
t0=$(ms_now)
"$sigil" --home "$h" revoke "$to_revoke" --reason superseded >/dev/null
crl_ms=timeout
for _ in $(seq 600); do
  if [ "$(crl_number)" != "$crl_before" ]; then
    crl_ms=$(($(ms_now) - t0))
    break
  fi
  sleep 0.1
done
crl_after=$(crl_number)
sleep 1
mem_crl=$(mem "$server")
crl_cpu=$(awk -v a="$cpu_before_crl" -v b="$(cpu_s "$server")" 'BEGIN {printf "%.2f", b - a}')
hwm_final=$(echo "$mem_crl" | sed -n 's/.*VmHWM_MB=\([0-9]*\).*/\1/p')
# ---- idle: background work once the first OCSP pass is done (90 s after start), over a minute --
idle_wait=$((90000 - ($(ms_now) - started_at)))
[ "$idle_wait" -gt 0 ] && sleep "$(awk -v ms="$idle_wait" 'BEGIN {print ms / 1000}')"
idle_before=$(cpu_s "$server")
sleep 60
idle_cpu=$(awk -v a="$idle_before" -v b="$(cpu_s "$server")" 'BEGIN {printf "%.2f", b - a}')
stop_server

# ---- the table ------------------------------------------------------------------------------------
met() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "" && v + 0 < t + 0) ? "met" : "MISSED"}'; }
table=$(
  printf '%-44s %12s %10s %s\n' "measure (median of $runs)" value target verdict
  printf '%-44s %9s ms %7s ms %s\n' "serve: exec -> api /health/live 200" "$api_ms" 1000 "$(met "$api_ms" 1000)"
  printf '%-44s %9s ms %7s ms %s\n' "serve: exec -> public OCSP GET successful" "$public_ms" 1000 "$(met "$public_ms" 1000)"
  printf '%-44s %9s s\n' "serve: CPU until both answered" "$start_cpu"
  printf '%-44s %9s s\n' "serve: CPU 3 s after they answered" "$settled_cpu"
  printf '%-44s %9s MB %7s MB %s\n' "serve: VmHWM 3 s after start" "$hwm_start" 300 "$(met "$hwm_start" 300)"
  printf '%-44s %9s MB\n' "serve: VmRSS 3 s after start" "$rss_start"
  printf '%-44s %12s\n' "serve: after lists, 200 OCSP, 5 CRL GETs" "$mem_requests"
  printf '%-44s %12s\n' "serve: after a revocation's CRL rebuild" "$mem_crl"
  printf '%-44s %9s MB %7s MB %s\n' "serve: VmHWM at the end" "$hwm_final" 300 "$(met "$hwm_final" 300)"
  printf '%-44s %9s s\n' "serve: CPU in a minute idle, from 90 s on" "$idle_cpu"
  printf '%-44s %9s ms (CRL number %s -> %s; serve CPU %s s)\n' "revocation -> new CRL served" "$crl_ms" \
    "$crl_before" "$crl_after" "$crl_cpu"
  for k in "${!labels[@]}"; do
    read -r cli_ms cli_cpu_ms items <<<"${cli_rows[$k]}"
    printf '%-44s %9s ms %7s ms %s (%s items; CPU %s ms)\n' "sigil list --limit 100: ${labels[$k]}" "$cli_ms" 50 \
      "$(met "$cli_ms" 50)" "$items" "$cli_cpu_ms"
    printf '%-44s %9s ms %7s ms %s\n' "REST list limit=100: ${labels[$k]}" "${rest_rows[$k]}" 50 \
      "$(met "${rest_rows[$k]}" 50)"
  done
  printf '%-44s %9s ms %7s ms %s (CPU %s ms)\n' "sigil status" "$status_med" 1000 "$(met "$status_med" 1000)" \
    "$status_cpu"
  printf '%-44s %9s ms %7s ms %s (CPU %s ms)\n' "sigil status --json" "$status_json_med" 1000 \
    "$(met "$status_json_med" 1000)" "$status_json_cpu"
)
{
  echo
  engine=SQLite
  [ -n "$pg_dir" ] && engine="PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}') (ops/pg.sh)"
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) scale.sh $n certificates, $r revoked, $engine, on $(nproc) cores"
  echo
  echo "Machine: $(uname -srm), $(awk '/MemTotal/ {printf "%d GB", $2 / 1048576}' /proc/meminfo) RAM;" \
    "$("$sigil" --version 2>/dev/null | head -1); SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')" \
    "(Python's; sigil links the system library); $(openssl version | cut -d' ' -f1-2)."
  echo "Command: \`${SCALE_PG:+SCALE_PG=1 }${SIGIL:+SIGIL=$SIGIL }ops/bench/scale.sh $n $r\`. Store: $db_mb MB on disk; $gen_line. Load average at the end:" \
    "$(cut -d' ' -f1-3 /proc/loadavg) (other work shares the 2 cores: wall times are inflated, CPU times are not)."
  echo "sigil list runs a process each (CPU = its user + system time); REST is one keep-alive mTLS connection, the"
  echo "first request (handshake) not counted. Memory is the serve process's VmHWM/VmRSS in MB."
  echo
  echo '```'
  echo "$table"
  echo '```'
} | tee -a ops/bench/results.md
