#!/usr/bin/env bash
# Installs the console test's one npm dependency (playwright-core, pinned by the committed
# package-lock.json) into DIR with `npm ci`, unless DIR already holds exactly that. Runs outside
# the test's network namespace: it is the only step that reaches the npm registry. No browser is
# downloaded: the test drives Debian's chromium.
#   install.sh DIR
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
dir="$1"
mkdir -p "$dir"
if cmp -s "$src/package-lock.json" "$dir/package-lock.json" && [[ -f "$dir/node_modules/playwright-core/package.json" ]]; then
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dir/"
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
