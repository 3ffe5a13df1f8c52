#!/usr/bin/env bash
# Issuance with the intermediate's key in a PKCS#11 token (SoftHSM 2) beside the same issuance
# with a key file, in one run: tests/bench/pkcs11_bench (the Issuer in process, one thread and N
# threads, and the signature alone), medians of `runs` runs; then REST issuance (tests/bench/api_load,
# keep-alive mTLS at concurrency 1 and 16) against `sigil serve` on two fresh CAs, one with its
# intermediate's key in the token, one with a key file. SoftHSM keeps its token in a temp
# directory (SOFTHSM2_CONF), removed afterwards. Appends a dated section to ops/bench/results.md.
# Usage: ops/bench/pkcs11.sh [seconds] [runs] [threads]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-2}
runs=${2:-3}
threads=${3:-4}
module=/usr/lib/softhsm/libsofthsm2.so
[[ -e $module ]] || { echo "pkcs11.sh: SoftHSM is not installed (ops/install-deps.sh installs softhsm2)" >&2; exit 1; }
bash ops/build.sh build -DSIGIL_BENCH=ON >/dev/null
dir="$(mktemp -d /tmp/sigil-p11-bench.XXXXXX)"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
out=$(build/tests/bench/pkcs11_bench "$module" bench 1234 "$seconds" "$runs" "$threads")

# REST: the same server, the intermediate's key in the token or in a file.
sigil=$PWD/build/cli/sigil
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rest=()
for kind in file pkcs11; do
  h=$dir/home-$kind
  key=()
  [[ $kind == pkcs11 ]] && key=(--intermediate-key "pkcs11:token=bench;object=rest-intermediate?module-path=$module&pin-value=1234")
  SIGIL_PKCS11_PIN=1234 SIGIL_ROOT_PASSPHRASE=bench-passphrase "$sigil" --home "$h" init --root-dir "$dir/root-$kind" \
    --allow-domain localhost "${key[@]}" >/dev/null
  SIGIL_PKCS11_PIN=1234 "$sigil" --home "$h" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 \
    --public-listen 127.0.0.1:0 >"$dir/serve.out" 2>"$dir/serve.err" &
  server=$!
  for _ in $(seq 100); do grep -q '^public' "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
  api=$(awk '/^api/{print $2}' "$dir/serve.out" | sed 's/127.0.0.1/localhost/')
  for c in 1 16; do
    rps=$(for _ in $(seq "$runs"); do
      build/tests/bench/api_load "$api" "$h/ca/root.crt" "$h/admin/admin.crt" "$h/admin/admin.key" "$c" "$seconds"
    done | sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p' | median)
    rest+=("rest key=$kind intermediate=ec-p256 concurrency=$c requests_per_s(median)=$rps")
  done
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
done
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) PKCS#11 (SoftHSM $(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo '?')) vs key file, on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
  echo "ops/bench/pkcs11.sh: in-process issuance (Issuer prepare+issue, a ledger that records nothing),"
  echo "leaf CSRs P-256; the intermediate's key in the token or in memory. Medians of $runs runs of ${seconds}s;"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo '```'
  echo "$out"
  printf '%s\n' "${rest[@]}"
  echo '```'
} | tee -a ops/bench/results.md
