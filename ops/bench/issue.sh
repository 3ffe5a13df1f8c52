#!/usr/bin/env bash
# Issuance microbenchmark beside `openssl speed` for the same keys, in one run, on one core.
# Appends a dated section to ops/bench/results.md. Usage: ops/bench/issue.sh [seconds] [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-2}
runs=${2:-5}
bash ops/build.sh build -DSIGIL_BENCH=ON >/dev/null
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"

speed() {  # median of `runs` openssl speed runs; prints "sign/s verify/s" (the last two columns)
  local alg=$1
  for _ in $(seq "$runs"); do
    $pin openssl speed -seconds "$seconds" "$alg" 2>/dev/null | tail -1 | awk '{print $(NF-1), $NF}'
  done | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
}

ec=$(speed ecdsap256)
rsa=$(speed rsa2048)
bench=$($pin build/tests/bench/issue_bench "$seconds" "$runs")

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), pinned to core 0"
  echo
  echo "OpenSSL $(openssl version | awk '{print $2}'); medians of $runs runs of ${seconds}s each."
  echo
  echo '```'
  echo "openssl speed ecdsap256: sign/s verify/s = $ec"
  echo "openssl speed rsa2048:   sign/s verify/s = $rsa"
  echo "$bench"
  echo '```'
} | tee -a ops/bench/results.md
