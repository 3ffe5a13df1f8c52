#!/usr/bin/env bash
# Issuance with the intermediate's key in a PKCS#11 token (SoftHSM 2) beside the same issuance
# with a key file, in one run: tests/bench/pkcs11_bench (the Issuer in process, one thread and N
# threads, and the signature alone), medians of `runs` runs. SoftHSM keeps its token in a temp
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
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
out=$(build/tests/bench/pkcs11_bench "$module" bench 1234 "$seconds" "$runs" "$threads")
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
  echo '```'
} | tee -a ops/bench/results.md
