#!/usr/bin/env bash
# Installs what Sigil needs to build, test and run, from Debian 12 packages. Idempotent and
# quiet when everything is already present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libssl-dev openssl libsqlite3-dev sqlite3 libboost1.81-dev
  nlohmann-json3-dev libcli11-dev doctest-dev
  gnutls-bin            # certtool/ocsptool: a second X.509 implementation in the tests
  clang libclang-rt-14-dev  # libFuzzer for ops/fuzz.sh
  clang-format git
  python3 iproute2 util-linux strace curl
  libc-ares-dev         # the ACME validation authority's DNS resolver
  certbot lego          # real ACME clients in the integration tests
  bind9 dnsutils        # an authoritative DNS server taking RFC 2136 updates (dns-01 tests)
  pebble                # the ACME peer in the order benchmark
  python3-cryptography  # the JWS test client (tests/integration/acme/)
  nginx                 # the zero-downtime consumer `sigil renew --exec` reloads (renew_e2e.sh)
  default-jre-headless  # keytool: the PKCS#12 trust store as Java reads it (status_trust.sh)
  systemd               # systemd-analyze verify/security of ops/systemd/ (tests/integration/ops_units.sh)
  libpq-dev             # store/postgres (libpq)
  postgresql            # PostgreSQL 15: the store conformance suite and the multi-node tests
  haproxy               # the load balancer in front of two nodes (tests/integration/pg_*.sh)
)

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
