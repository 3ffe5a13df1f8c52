#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is needed, checks the format, runs the
# unit tests under AddressSanitizer+UBSan, a short fuzzing smoke run of the parsers, then
# builds and runs every test (unit + integration); the output ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh

echo "== format (one .clang-format for the tree)"
clang-format --dry-run --Werror $(git ls-files '*.cpp' '*.hpp')

echo "== unit tests under ASan+UBSan"
bash ops/build.sh build-asan -DSIGIL_SANITIZE=ON -DSIGIL_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -L unit -j 2

echo "== fuzz smoke (${FUZZ_SECONDS:-20}s per parser)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash ops/fuzz.sh

echo "== build (RelWithDebInfo) and all tests"
bash ops/build.sh build
ctest --test-dir build --output-on-failure -j 2
