#!/usr/bin/env bash
# CRL build from the store (gather, sign, DER) with 10,000, 100,000 and 1,000,000 revoked
# entries: revocation::build_crl beside OpenSSL's X509_CRL path on the same rows, each run in a
# fresh process (tests/bench/crl_bench). Per size: one populated database, one unmeasured sigil
# build (OS cache warm, and a previous CRL in the store as in steady state), then 3 sigil and 3
# openssl runs interleaved; medians. Every CRL is checked with OpenSSL (signature, issuer, entry
# count) and both paths must encode identical revokedCertificates.
# Appends to ops/bench/results.md. Usage: ops/bench/crl.sh [N...]
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 100000 1000000)
# As ops/build.sh, but only the benchmark target: a half-edited module elsewhere does not stop it.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DSIGIL_BENCH=ON >/dev/null
ninja -C build -j "${JOBS:-2}" crl_bench >/dev/null
bench=$PWD/build/tests/bench/crl_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/^path=.* $1=\([^ ]*\).*/\1/p"; }  # from the result lines only

lines=()
verdict="not measured"
for n in "${sizes[@]}"; do
  db=$work/crl-$n.db
  "$bench" populate "$db" "$n" >/dev/null
  "$bench" sigil "$db" >/dev/null
  sigil=() openssl=()
  for _ in 1 2 3; do
    sigil+=("$("$bench" sigil "$db")")
    openssl+=("$("$bench" openssl "$db")")
  done
  all=$(printf '%s\n' "${sigil[@]}" "${openssl[@]}")
  if [ "$(echo "$all" | field entries | sort -u)" != "$n" ] || [ "$(echo "$all" | field entries_sha256 | sort -u | wc -l)" != 1 ]; then
    echo "crl.sh: N=$n: entry counts or encodings differ between runs or paths:" >&2
    echo "$all" >&2
    exit 1
  fi
  s=$(printf '%s\n' "${sigil[@]}")
  o=$(printf '%s\n' "${openssl[@]}")
  sigil_ms=$(echo "$s" | field ms | median)
  sigil_peak=$(echo "$s" | field peak_mb | median)
  der=$(echo "$s" | field der_mb | median)
  ratio=$(echo "$s" | field peak_over_der | median)
  line="N=$n sigil_ms=$sigil_ms sigil_peak_MB=$sigil_peak der_MB=$der peak/der=$ratio"
  line+=" openssl_ms=$(echo "$o" | field ms | median) openssl_peak_MB=$(echo "$o" | field peak_mb | median)"
  lines+=("$line")
  # Where the time and memory went, in the last run of each path (not kept in results.md).
  printf '%s\n' "${sigil[2]}" "${openssl[2]}" | grep '_stages' | sed "s/^/N=$n /" >&2
  if [ "$n" = 1000000 ]; then
    verdict=$(awk -v ms="$sigil_ms" -v r="$ratio" 'BEGIN {print (ms < 1000 && r < 2) ? "met" : "MISSED"}')
  fi
  rm -f "$db"*
done

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) crl.sh on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
  echo "$("$bench" versions);" \
    "one ec-p256 issuer; medians of 3 fresh processes; peak = VmHWM minus VmRSS before the build" \
    "(MB = 10^6 bytes). Target at N=1000000 (<1000 ms, peak/der < 2): $verdict."
  echo
  echo '```'
  printf '%s\n' "${lines[@]}"
  echo '```'
} | tee -a ops/bench/results.md
