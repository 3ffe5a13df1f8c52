#!/usr/bin/env bash
# Configures and builds Sigil. Usage: ops/build.sh [BUILD_DIR] [extra cmake args...]
# Ninja, ccache, -j2 (Beast-heavy units need ~800 MB each; 2 cores is the design point).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
ninja -C "$dir" -j "${JOBS:-2}"
