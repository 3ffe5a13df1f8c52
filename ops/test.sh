#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is needed, builds, runs every test
# (unit + integration), then the unit tests again under AddressSanitizer+UBSan, then a short
# fuzzing smoke run of the parsers.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh

echo "== build (RelWithDebInfo)"
bash ops/build.sh build
echo "== all tests"
ctest --test-dir build --output-on-failure -j 2

echo "== unit tests under ASan+UBSan"
bash ops/build.sh build-asan -DSIGIL_SANITIZE=ON -DSIGIL_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -L unit -j 2

echo "== fuzz smoke (${FUZZ_SECONDS:-20}s per parser)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash ops/fuzz.sh
