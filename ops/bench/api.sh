#!/usr/bin/env bash
# Issuance requests per second through the REST API: keep-alive mTLS clients at concurrency
# 1, 16 and 64 (tests/bench/api_load), against a fresh CA served on loopback, beside the
# in-process signing microbenchmark (issue_bench) in the same run. Medians of 3 runs.
# Appends to ops/bench/results.md. Usage: ops/bench/api.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-5}
bash ops/build.sh build -DSIGIL_BENCH=ON >/dev/null
sigil=$PWD/build/cli/sigil
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

SIGIL_ROOT_PASSPHRASE=bench-passphrase "$sigil" --home "$work/home" init --root-dir "$work/root" \
  --allow-domain localhost >/dev/null
"$sigil" --home "$work/home" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 \
  --public-listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do grep -q '^public' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
api=$(awk '/^api/{print $2}' "$work/serve.out" | sed 's/127.0.0.1/localhost/')
h=$work/home

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
lines=()
for c in 1 16 64; do
  runs=()
  for _ in 1 2 3; do
    out=$(build/tests/bench/api_load "$api" "$h/ca/root.crt" "$h/admin/admin.crt" "$h/admin/admin.key" "$c" "$seconds")
    runs+=("$out")
  done
  rps=$(printf '%s\n' "${runs[@]}" | sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p' | median)
  p99=$(printf '%s\n' "${runs[@]}" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' | median)
  lines+=("api issuance concurrency=$c requests_per_s(median)=$rps p99_ms(median)=$p99")
done
signing=$(build/tests/bench/issue_bench 2 3 | sed -n 1p)

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) api.sh on $(nproc) cores; server and load generator share the machine"
  echo
  echo '```'
  printf '%s\n' "${lines[@]}"
  echo "in-process (same run): $signing"
  echo '```'
} | tee -a ops/bench/results.md
