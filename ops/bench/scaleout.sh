#!/usr/bin/env bash
# Issue 13: what several nodes on PostgreSQL cost, side by side in one run. Setups:
#   sqlite-1   one `sigil serve` on the embedded SQLite store (today's default)
#   pg-1       one node on PostgreSQL 15 (ops/pg.sh, loopback, synchronous_commit on)
#   pg-2       two nodes on that database behind haproxy (TCP, round-robin per connection)
# Per setup: REST issuance per second (tests/bench/api_load: keep-alive mTLS, concurrency 16),
# median of 3 runs, and the CPU seconds spent per issuance by the sigil processes and by
# PostgreSQL (utime+stime from /proc, children included): on this 2-core machine two nodes
# cannot scale, so CPU per issuance is what predicts scaling on more cores. Then OCSP GETs per
# node (wrk -c64, one pre-signed response) on pg-2, each node on its own. ACME orders per second
# (ops/bench/acme_orders.py: newOrder -> http-01 -> finalize -> download, concurrency 16, one
# account per worker) per setup, BIND resolving every name to the loopback responder.
# Needs root for apt-get, the network namespace and PostgreSQL (run as the postgres user).
# Appends to ops/bench/results.md. Usage: ops/bench/scaleout.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-5}
if [ "${SCALEOUT_INNER:-}" != 1 ]; then
  bash ops/install-deps.sh
  command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
  bash ops/build.sh build -DSIGIL_BENCH=ON >/dev/null
  exec unshare -n env SCALEOUT_INNER=1 bash "$0" "$seconds"
fi
ip link set lo up
export PATH=$PATH:/usr/sbin
root=$PWD
sigil=$root/build/cli/sigil
load=$root/build/tests/bench/api_load
work=$(mktemp -d)
chmod 711 "$work"
pids=()
# shellcheck source=ops/bench/lib.sh
source "$root/ops/bench/lib.sh"  # median, free_port, cpu_of, stop_all
cleanup() {
  stop_all "$work/pg" "${pids[@]}"
  rm -rf "$work"
}
trap cleanup EXIT
die() {
  echo "scaleout.sh: $*" >&2
  exit 1
}
# BIND: every name of $zone resolves to 127.0.0.1, where the ACME driver answers http-01.
zone=example.internal
dns=$(free_port)
http01=$(free_port)
mkdir -p "$work/named"
printf '$TTL 60\n@ IN SOA ns.%s. hostmaster.%s. 1 60 60 600 60\n@ IN NS ns.%s.\nns IN A 127.0.0.1\n* IN A 127.0.0.1\n' \
  "$zone" "$zone" "$zone" >"$work/named/zone"
cat >"$work/named/named.conf" <<CONF
options { directory "$work/named"; listen-on port $dns { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; pid-file "$work/named/pid"; session-keyfile "$work/named/session.key"; };
controls { };
zone "$zone" { type primary; file "$work/named/zone"; };
CONF
named -g -c "$work/named/named.conf" >"$work/named/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p "$dns" "x.$zone" A 2>/dev/null | grep -q 127.0.0.1 && break; sleep 0.1; done

init_ca() {  # HOME ROOT [init flags] : a CA for localhost and $zone, ACME rate limits out of the way
  local h=$1 r=$2
  shift 2
  SIGIL_ROOT_PASSPHRASE=bench-passphrase "$sigil" --home "$h" init --root-dir "$r" --allow-domain localhost \
    --allow-domain "$zone" "$@" >/dev/null
  python3 - "$h/sigil.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
a = j.setdefault("acme", {})
a["rate_limits"] = {"new_orders_per_account_per_hour": 100000000, "new_accounts_per_address_per_hour": 1000000}
# The responder is on loopback, which acme.validation.forbidden_ranges refuses by default (SSRF).
v = a.setdefault("validation", {})
v["forbidden_ranges"] = [r for r in v.get("forbidden_ranges", []) if r not in ("127.0.0.0/8", "::1/128")]
json.dump(j, open(sys.argv[1], "w"), indent=2)
PY
}

acme_run() {  # DIRECTORY CA -> orders_per_s, median of 3
  local runs=() o
  for _ in 1 2 3; do
    o=$(python3 "$root/ops/bench/acme_orders.py" "$1" "$2" "$http01" --concurrency 16 --seconds "$seconds" \
      --orders 3000 --zone "$zone" --timeout 5 2>>"$work/driver.err" || true)
    runs+=("$(sed -n 's/.*orders_per_s=\([0-9.]*\).*/\1/p' <<<"$o")")
  done
  case "${runs[0]}" in "" | 0 | 0.0) echo "scaleout.sh: ACME orders failed: $o $(tail -3 "$work/driver.err")" >&2 ;; esac
  printf '%s\n' "${runs[@]}" | median
}

postgres_pids() {  # the postmaster and its children
  local pm
  pm=$(head -1 "$work/pg/data/postmaster.pid")
  echo "$pm" $(pgrep -P "$pm" || true)
}

serve() {  # HOME NAME -> starts a node; its addresses in $work/NAME.out
  "$sigil" --home "$1" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
    --dns-resolver "127.0.0.1:$dns" --http01-port "$http01" >"$work/$2.out" 2>"$work/$2.err" &
  pids+=($!)
  eval "${2}_pid=$!"
  for _ in $(seq 150); do grep -q '^public' "$work/$2.out" 2>/dev/null && return 0; sleep 0.1; done
  die "$2 did not start: $(tail -3 "$work/$2.err")"
}
addr() { awk -v k="$2" '$1 == k {print $2}' "$work/$1.out"; }

# One REST run at concurrency 16 against URL; prints "rps sigil_cpu pg_cpu".
rest_run() {  # URL HOME SIGIL_PIDS...
  local url=$1 h=$2
  shift 2
  local s0 p0 out s1 p1 n
  s0=$(cpu_of "$@")
  p0=0
  [ -f "$work/pg/data/postmaster.pid" ] && p0=$(cpu_of $(postgres_pids))
  out=$("$load" "$url" "$h/ca/root.crt" "$h/admin/admin.crt" "$h/admin/admin.key" 16 "$seconds")
  s1=$(cpu_of "$@")
  p1=0
  [ -f "$work/pg/data/postmaster.pid" ] && p1=$(cpu_of $(postgres_pids))
  n=$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
  [ -n "$n" ] && [ "$n" -gt 0 ] || die "no issuance completed: $out"
  awk -v r="$(echo "$out" | sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p')" -v n="$n" -v s="$s1" -v s0="$s0" \
    -v p="$p1" -v p0="$p0" 'BEGIN {printf "%s %.1f %.1f\n", r, (s - s0) * 1e6 / n, (p - p0) * 1e6 / n}'
}

lines=()
measure() {  # SETUP URL HOME PIDS...
  local setup=$1 url=$2 h=$3
  shift 3
  local runs=() r
  for _ in 1 2 3; do runs+=("$(rest_run "$url" "$h" "$@")"); done
  r=$(printf '%s\n' "${runs[@]}")
  lines+=("$(printf 'rest-issuance setup=%-9s requests_per_s=%s sigil_cpu_us_per_issuance=%s postgres_cpu_us_per_issuance=%s' \
    "$setup" "$(echo "$r" | awk '{print $1}' | median)" "$(echo "$r" | awk '{print $2}' | median)" \
    "$(echo "$r" | awk '{print $3}' | median)")")
}

acme_line() {  # SETUP ACME-URL HOME
  lines+=("$(printf 'acme-orders   setup=%-9s orders_per_s=%s' "$1" "$(acme_run "$(echo "$2" | sed 's/127.0.0.1/localhost/')/acme/directory" "$3/ca/root.crt")")")
}

# ---- sqlite-1
init_ca "$work/sqlite" "$work/sqlite-root"
serve "$work/sqlite" s1
measure sqlite-1 "$(addr s1 api | sed 's/127.0.0.1/localhost/')" "$work/sqlite" "$s1_pid"
acme_line sqlite-1 "$(addr s1 acme)" "$work/sqlite"
kill "$s1_pid"

# ---- pg-1 and pg-2
url=$(bash "$root/ops/pg.sh" start "$work/pg")
init_ca "$work/a" "$work/pg-root" --database "$url"
serve "$work/a" na
measure pg-1 "$(addr na api | sed 's/127.0.0.1/localhost/')" "$work/a" "$na_pid"
acme_line pg-1 "$(addr na acme)" "$work/a"
cp -a "$work/a" "$work/b"
serve "$work/b" nb
front=$(free_port)
acme_front=$(free_port)
cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend api
  bind 127.0.0.1:$front
  default_backend nodes
backend nodes
  balance roundrobin
  server a $(addr na api | sed 's|https://||') check
  server b $(addr nb api | sed 's|https://||') check
frontend acme
  bind 127.0.0.1:$acme_front
  default_backend acme_nodes
backend acme_nodes
  balance roundrobin
  server a $(addr na acme | sed 's|https://||') check
  server b $(addr nb acme | sed 's|https://||') check
CFG
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
sleep 1
measure pg-2 "https://localhost:$front" "$work/a" "$na_pid" "$nb_pid"
acme_line pg-2 "https://localhost:$acme_front" "$work/a"

# ---- OCSP GET per node (pg-2), one leaf's pre-signed response
"$sigil" --home "$work/a" issue --name localhost --key-out "$work/leaf.key" --out "$work/leaf.chain" >/dev/null
openssl x509 -in "$work/leaf.chain" -out "$work/leaf.pem"
openssl ocsp -issuer "$work/a/ca/intermediate.crt" -cert "$work/leaf.pem" -no_nonce -reqout "$work/req.der" >/dev/null
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$(base64 -w0 "$work/req.der")")
sleep 2  # both nodes see the new certificate (their pre-signer sweeps)
for n in na nb; do
  u="$(addr "$n" public)/ocsp/$enc"
  curl -sf -o /dev/null "$u" || die "node $n does not answer OCSP"
  runs=()
  for _ in 1 2 3; do
    runs+=("$(wrk -t2 -c64 -d"${seconds}s" --latency -s "$root/ops/bench/wrk-noprobe.lua" "$u" |
      awk '/Requests\/sec/ {print $2}')")
  done
  lines+=("ocsp-get node=$n requests_per_s=$(printf '%s\n' "${runs[@]}" | median)")
done

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) scaleout.sh on $(nproc) cores; servers, PostgreSQL and load generators share the machine"
  echo
  echo "PostgreSQL $("/usr/lib/postgresql/15/bin/postgres" --version | awk '{print $3}') (synchronous_commit on, no standby); REST at concurrency 16, medians of 3 runs of ${seconds}s; CPU per issuance in microseconds."
  echo
  echo '```'
  printf '%s\n' "${lines[@]}"
  echo '```'
} | tee -a ops/bench/results.md
