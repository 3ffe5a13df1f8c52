#!/usr/bin/env bash
# Installs what Sigil needs from Debian 12 packages: `run` what building and running `sigil`
# needs (ops/run.sh), `all` (the default) that and what the tests need (ops/test.sh). Idempotent
# and quiet when everything is already present. Needs root (or sudo) only when something is missing.
set -euo pipefail

# What building and running `sigil` needs (ops/run.sh: `install-deps.sh run`).
run_packages=(
  build-essential cmake ninja-build ccache pkg-config
  libssl-dev openssl libsqlite3-dev libboost1.81-dev
  nlohmann-json3-dev libcli11-dev
  libc-ares-dev         # the ACME validation authority's DNS resolver
  libpq-dev             # store/postgres (libpq)
  libp11-kit-dev        # <p11-kit/pkcs11.h>: the PKCS#11 C API (keys in tokens; modules are dlopen'ed)
)
# And what the tests need besides (ops/test.sh: `install-deps.sh`, the default).
test_packages=(
  sqlite3 doctest-dev
  gnutls-bin            # certtool/ocsptool: a second X.509 implementation in the tests
  clang libclang-rt-14-dev  # libFuzzer for ops/fuzz.sh
  clang-format git
  python3 iproute2 util-linux strace curl
  certbot lego          # real ACME clients in the integration tests
  bind9 dnsutils        # an authoritative DNS server taking RFC 2136 updates (dns-01 tests)
  pebble                # the ACME peer in the order benchmark
  python3-cryptography  # the JWS test client (tests/integration/acme/)
  nginx                 # the zero-downtime consumer `sigil renew --exec` reloads (renew_e2e.sh)
  default-jre-headless  # keytool: the PKCS#12 trust store as Java reads it (status_trust.sh)
  systemd               # systemd-analyze verify/security of ops/systemd/ (tests/integration/ops_units.sh)
  postgresql            # PostgreSQL 15: the store conformance suite and the multi-node tests
  haproxy               # the load balancer in front of two nodes (tests/integration/pg_*.sh)
  golang-cfssl          # the REST issuance peer in ops/bench/rest.sh
  prometheus            # promtool: the alerting rules of ops/prometheus (tests/integration/prometheus_rules.sh)
  softhsm2 opensc       # a real PKCS#11 token and pkcs11-tool (tests/crypto/pkcs11_test.cpp, pkcs11.sh)
  chromium nodejs       # the web console in a real browser (tests/integration/console.sh, playwright-core via
                        # npm); npm comes with the machine's Node.js (Debian's own npm package conflicts with it)
)
case "${1:-all}" in
  run) packages=("${run_packages[@]}") ;;
  all) packages=("${run_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: install-deps.sh [run|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
