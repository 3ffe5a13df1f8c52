#!/usr/bin/env bash
# OCSP GET, pre-signed, keep-alive, concurrency 64 (issue 4, acceptance 5): `sigil serve`'s public
# listener beside two peers measured in the same run with the same load tools:
#   nginx    serving the very same response DER as a static file, at the same URL path
#            (worker_processes auto, keep-alive, sendfile on, access_log off);
#   openssl  `openssl ocsp -index ... -port` as a responder for the same leaf (signs every
#            response, answers HTTP/1.0 and closes; it only takes GET /<base64>, not /ocsp/...).
# Load: wrk -t2 -c64 (keep-alive) and hey -c 64, every peer with both, rounds interleaved;
# every figure a median of 3 runs. wrk's connect-and-close reachability probe wedges `openssl
# ocsp` (see /work/shared/TESTING-NOTES.md), so wrk runs with ops/bench/wrk-noprobe.lua, which
# skips the probe and nothing else; openssl ocsp gets a fresh process per run, since a closed
# idle connection at the end of a run sends it into a busy loop.
# Everything runs inside a private network namespace (unshare -n): nothing leaves loopback.
# Needs root (unshare, apt-get). Appends to ops/bench/results.md. OCSP_PROFILE=1 adds one wrk
# run against sigil under `perf record` and prints where its CPU goes (ops/bench/perf_breakdown.py).
# KEY_TYPE (default ec-p256; e.g. rsa-2048) is the CA's key type (`sigil init --key-type`): the
# key openssl ocsp signs every response with, and Sigil pre-signs with.
# Usage: [KEY_TYPE=rsa-2048] ops/bench/ocsp.sh [seconds-per-run] [runs]
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../.."
seconds=${1:-10}
runs=${2:-3}

if [ "${SIGIL_OCSP_BENCH_INNER:-}" != 1 ]; then
  # Outside the namespace: tools and the build (both may need the network or the cache).
  need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v hey >/dev/null || need+=(hey)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  command -v curl >/dev/null || need+=(curl)
  command -v ss >/dev/null || need+=(iproute2)
  command -v python3 >/dev/null || need+=(python3)
  if [ ${#need[@]} -gt 0 ]; then
    echo "ocsp.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -y -q install "${need[@]}" >/dev/null || { apt-get -q update >/dev/null && apt-get -y -q install "${need[@]}" >/dev/null; }
    # The package's own service (if the postinst started one) is not what we measure.
    if [[ " ${need[*]} " == *" nginx-light "* ]] && command -v service >/dev/null; then service nginx stop >/dev/null 2>&1 || true; fi
  fi
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DSIGIL_BENCH=ON >/dev/null
  ninja -C build -j "${JOBS:-2}" sigil >/dev/null
  exec unshare -n env SIGIL_OCSP_BENCH_INNER=1 bash "$self" "$@"
fi

# ---------------------------------------------------------------- inside the namespace
ip link set lo up
export PATH=$PATH:/usr/sbin
sigil=$PWD/build/cli/sigil
noprobe=$PWD/ops/bench/wrk-noprobe.lua
work=$(mktemp -d)
server='' nginx_pid='' ossl_pid=''
stop() {  # stop PID (a child of this shell; empty: nothing)
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
trap 'stop "$ossl_pid"; stop "$nginx_pid"; stop "$server"; rm -rf "$work"' EXIT
die() {
  echo "ocsp.sh: $*" >&2
  exit 1
}
# Waits for a listening port without connecting to it (a bare connect wedges openssl ocsp).
wait_port() {
  for _ in $(seq 100); do
    ss -Hltn "sport = :$1" | grep -q . && return 0
    sleep 0.1
  done
  die "nothing listens on port $1"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A fresh CA and one leaf; the server on ephemeral loopback ports.
h=$work/home
SIGIL_ROOT_PASSPHRASE=bench-passphrase "$sigil" --home "$h" init --root-dir "$work/root" \
  --allow-domain localhost --key-type "${KEY_TYPE:-ec-p256}" >/dev/null
"$sigil" --home "$h" issue --name localhost --key-out "$work/leaf.key" --out "$work/leaf.chain" >/dev/null
openssl x509 -in "$work/leaf.chain" -out "$work/leaf.pem"
inter=$h/ca/intermediate.crt
"$sigil" --home "$h" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 \
  --public-listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do grep -q '^public' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
public=$(awk '/^public/{print $2}' "$work/serve.out")
[ -n "$public" ] || die "sigil serve did not start: $(tail -3 "$work/serve.err")"
api_port=$(awk '/^api/{print $2}' "$work/serve.out" | sed 's/.*://')

# One RFC 5019 GET: the DER request, base64, URL-encoded ('+', '/', '=' as %2B, %2F, %3D).
openssl ocsp -issuer "$inter" -cert "$work/leaf.pem" -no_nonce -reqout "$work/req.der" >/dev/null
b64=$(base64 -w0 "$work/req.der")
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$b64")
sigil_url="$public/ocsp/$enc"
code=$(curl -sS -o "$work/resp.der" -D "$work/resp.h" -w '%{http_code}' "$sigil_url")
[ "$code" = 200 ] || die "sigil answered the GET with HTTP $code"
grep -qi '^content-type: application/ocsp-response' "$work/resp.h" || die "sigil: wrong content type"
verify() {  # verify RESPONSE-DER: the signature verifies against the root and the leaf is good
  openssl ocsp -respin "$1" -issuer "$inter" -cert "$work/leaf.pem" -CAfile "$h/ca/root.crt" -no_nonce \
    >"$work/verify.out" 2>&1 || true
  if ! grep -q '^Response verify OK' "$work/verify.out" || ! grep -q "leaf.pem: good" "$work/verify.out"; then
    die "response $1 does not verify as good: $(tr '\n' ' ' <"$work/verify.out")"
  fi
}
verify "$work/resp.der"
curl -sS -o "$work/resp2.der" "$public/ocsp/$b64"
cmp -s "$work/resp.der" "$work/resp2.der" || die "sigil: the raw and URL-encoded GETs got different bytes"
# The responder's signature counter, to show the load is served pre-signed (no signing).
signatures() {
  curl -sS --cacert "$h/ca/root.crt" --cert "$h/admin/admin.crt" --key "$h/admin/admin.key" \
    "https://localhost:$api_port/metrics" | awk '/^sigil_ocsp_signatures_total/ {s += $NF} END {print s + 0}'
}

# nginx: the same DER, a static file at the same path (nginx decodes %2F, so the file sits in
# directories named after the base64's slashes).
nginx_port=18080
# (nginx's workers run unprivileged: they must be able to traverse the temp dir.)
chmod 711 "$work"
mkdir -p "$work/nginx/www/ocsp/$(dirname "$b64")" "$work/nginx/tmp"
cp "$work/resp.der" "$work/nginx/www/ocsp/$b64"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/www;
    location /ocsp/ { types {} default_type application/ocsp-response; }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr" &
nginx_pid=$!
wait_port $nginx_port
nginx_url="http://127.0.0.1:$nginx_port/ocsp/$enc"
curl -sS -o "$work/nginx.der" "$nginx_url"
cmp -s "$work/resp.der" "$work/nginx.der" || die "nginx does not serve the same bytes: $(tail -2 "$work/nginx/error.log")"

# openssl ocsp: an index listing the leaf as valid; the intermediate signs (rsigner = CA).
serial=$(openssl x509 -in "$work/leaf.pem" -noout -serial | cut -d= -f2)
expiry=$(date -u -d "$(openssl x509 -in "$work/leaf.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
subject=$(openssl x509 -in "$work/leaf.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$expiry" "$serial" "$subject" >"$work/index.txt"
ossl_port=18100
start_openssl() {  # a fresh responder on a fresh port; sets ossl_pid and ossl_url
  ossl_port=$((ossl_port + 1))
  openssl ocsp -index "$work/index.txt" -port "$ossl_port" -rsigner "$inter" -rkey "$h/ca/intermediate.key" \
    -CA "$inter" -nmin 60 -ignore_err >/dev/null 2>>"$work/openssl.log" &
  ossl_pid=$!
  wait_port "$ossl_port"
  ossl_url="http://127.0.0.1:$ossl_port/$enc"
}
start_openssl
curl -sS --max-time 5 -o "$work/ossl.der" "$ossl_url"
verify "$work/ossl.der"
stop "$ossl_pid"
ossl_pid=''

# ---------------------------------------------------------------- load
# One run: prints "rps p99_ms errors" (errors: socket errors + non-2xx, or hey's error count).
load_wrk() {
  local out
  out=$(timeout $((seconds + 30)) wrk -t2 -c64 -d"${seconds}s" --latency -s "$noprobe" "$1") || die "wrk failed on $1"
  echo "$out" >>"$work/load.log"
  echo "$out" | awk '
    /^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
               p99 = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
    /^Requests\/sec:/ { rps = $2 }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { err += $NF }
    END { printf "%d %.2f %d\n", rps, p99, err }'
}
load_hey() {
  local out
  out=$(timeout $((seconds + 30)) hey -z "${seconds}s" -c 64 "$1") || die "hey failed on $1"
  echo "$out" >>"$work/load.log"
  echo "$out" | awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99% in/ { p99 = $3 * 1000 }
    /^Status code distribution:/ { sec = "status"; next }
    /^Error distribution:/ { sec = "error"; next }
    /^ +\[[0-9]+\]/ { n = $1; gsub(/[][]/, "", n); if (sec == "status" && n != 200) err += $2; if (sec == "error") err += n }
    END { printf "%d %.2f %d\n", rps, p99, err }'
}
# CPU time (user + system, all threads, clock ticks) of the given processes: the server's
# cost per request is its CPU time over the run divided by the requests it answered.
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s + 0}'; }
hz=$(getconf CLK_TCK)
mapfile -t nginx_pids < <(echo "$nginx_pid"; pgrep -P "$nginx_pid")
one() {  # one ROUND TOOL PEER: a measured run against PEER
  local round=$1 tool=$2 peer=$3 r url pids t0 t1
  case $peer in
    sigil) url=$sigil_url pids=("$server") ;;
    nginx) url=$nginx_url pids=("${nginx_pids[@]}") ;;
    openssl) start_openssl && url=$ossl_url pids=("$ossl_pid") ;;
  esac
  t0=$(ticks "${pids[@]}")
  r=$(load_"$tool" "$url")
  t1=$(ticks "${pids[@]}")
  if [ "$peer" = openssl ]; then stop "$ossl_pid" && ossl_pid=''; fi
  # requests/s p99_ms errors server_cpu_us_per_request
  r="$r $(echo "$r" | awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$seconds" '{printf "%.1f", ($1 > 0) ? d / hz * 1e6 / ($1 * s) : 0}')"
  echo "$round $tool $peer $r" >>"$work/runs"
  echo "  $tool $peer: requests/s p99_ms errors server_cpu_us/req = $r" >&2
}

tools=(wrk hey)
peers=(sigil nginx openssl)
load_wrk "$sigil_url" >/dev/null # warm-up, not kept
load_wrk "$nginx_url" >/dev/null
sig_before=$(signatures)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$runs"); do
  echo "round $r/$runs" >&2
  for tool in "${tools[@]}"; do
    for peer in "${peers[@]}"; do one "$r" "$tool" "$peer"; done
  done
done
sig_after=$(signatures)
if [ "${OCSP_PROFILE:-}" = 1 ]; then
  # One more wrk run against sigil under perf (not in results.md): where its CPU goes.
  if command -v perf >/dev/null; then
    load_wrk "$sigil_url" >"$work/profile.wrk" &
    prof=$!
    sleep 1
    perf record -q -F 999 --call-graph dwarf,16384 -p "$server" -o "$work/perf.data" -- sleep $((seconds > 4 ? seconds - 2 : 2)) \
      >/dev/null 2>&1 || true
    wait "$prof" || true
    echo "profile of sigil under wrk ($(cut -d' ' -f1 "$work/profile.wrk") requests/s while recorded):" >&2
    perf script -i "$work/perf.data" -F comm,tid,ip,sym 2>/dev/null | python3 ops/bench/perf_breakdown.py >&2 || true
  else
    echo "ocsp.sh: OCSP_PROFILE=1 needs perf (linux-perf)" >&2
  fi
fi
kill -0 "$server" 2>/dev/null || die "sigil serve died under load: $(tail -3 "$work/serve.err")"
curl -sS -o "$work/after.der" "$sigil_url"
cmp -s "$work/resp.der" "$work/after.der" || die "sigil's response changed during the run"
served=$(awk -v s="$seconds" '$3 == "sigil" {n += $4 * s} END {printf "%d", n}' "$work/runs")

# Columns of $work/runs: round tool peer rps p99_ms errors cpu_us_per_req.
field() { awk -v t="$1" -v p="$2" -v f="$3" '$2 == t && $3 == p { print $(f + 3) }' "$work/runs"; }
lines=()
declare -A rps p99
for tool in "${tools[@]}"; do
  for peer in "${peers[@]}"; do
    rps[$tool.$peer]=$(field "$tool" "$peer" 1 | median)
    p99[$tool.$peer]=$(field "$tool" "$peer" 2 | median)
    errs=$(field "$tool" "$peer" 3 | awk '{s += $1} END {print s + 0}')
    lines+=("$(printf '%-3s %-7s requests_per_s(median)=%-6s p99_ms(median)=%-6s cpu_us_per_req(median)=%-5s runs=%s errors=%s' \
      "$tool" "$peer" "${rps[$tool.$peer]}" "${p99[$tool.$peer]}" "$(field "$tool" "$peer" 4 | median)" \
      "$(field "$tool" "$peer" 1 | paste -sd/)" "$errs")")
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
# The same ratios within each round (peers a few seconds apart): less exposed to a neighbour's
# load that comes and goes than the ratio of medians.
per_round() {  # per_round TOOL PEER: sigil/PEER in each round, in round order
  awk -v t="$1" -v p="$2" '$2 == t && $3 == "sigil" {s[$1] = $4} $2 == t && $3 == p {o[$1] = $4}
    END {for (r = 1; r in s; r++) if (o[r] > 0) printf "%.2f\n", s[r] / o[r]}' "$work/runs"
}
for tool in "${tools[@]}"; do
  line="$tool ratios of medians: sigil/nginx=$(ratio "${rps[$tool.sigil]}" "${rps[$tool.nginx]}")"
  line+=" sigil/openssl=$(ratio "${rps[$tool.sigil]}" "${rps[$tool.openssl]}");"
  line+=" per round: sigil/nginx=$(per_round "$tool" nginx | paste -sd/) sigil/openssl=$(per_round "$tool" openssl | paste -sd/)"
  lines+=("$line")
done
# The verdict is wrk's (the issue's load tool, and one tool for all three peers).
verdict=$(awk -v s="${rps[wrk.sigil]}" -v n="${rps[wrk.nginx]}" -v o="${rps[wrk.openssl]}" -v p="${p99[wrk.sigil]}" '
  BEGIN { m = "";
    if (s < 0.70 * n) m = m " sigil/nginx<0.70";
    if (s < 8 * o) m = m " sigil/openssl<8";
    if (p >= 5) m = m " p99>=5ms";
    v = (m == "") ? "met" : "MISSED (" substr(m, 2) ")";
    if (8 * o > n) v = v sprintf("; 8 x openssl = %d/s is above what nginx serves from a static file here", 8 * o);
    print v }')

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) ocsp.sh on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); servers and load generators share the machine"
  echo
  echo "OCSP GET of one pre-signed response ($(stat -c %s "$work/resp.der") bytes DER; CA keys ${KEY_TYPE:-ec-p256}), keep-alive, concurrency 64," \
    "${seconds}s per run, medians of $runs runs, peers interleaved in each round; load average at start $loadavg." \
    "wrk 4.1 -t2 -c64 (reachability probe skipped) and hey -c 64 against: sigil serve (public listener);" \
    "$(nginx -v 2>&1 | sed 's/.*version: //') serving the same DER as a static file at the same path;" \
    "OpenSSL $(openssl version | awk '{print $2}') \`openssl ocsp -port\` (one process, signs each response, HTTP/1.0 close)." \
    "cpu_us_per_req: the server's user+system CPU time over the run per request answered." \
    "OCSP signatures by Sigil during the load: $((sig_after - sig_before)), for ~$served requests answered." \
    "Target (wrk: sigil >= 0.70 x nginx, >= 8 x openssl, p99 < 5 ms): $verdict."
  echo
  echo '```'
  printf '%s\n' "${lines[@]}"
  echo '```'
} | tee -a ops/bench/results.md
