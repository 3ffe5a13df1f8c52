#!/usr/bin/env bash
# The one run command (README): installs what is needed, builds, creates a CA home on first
# use and issues a demo certificate from it.
#   SIGIL_HOME       the CA home            (default ./sigil-data)
#   SIGIL_ROOT_DIR   the offline root's dir (default ./sigil-root; move it off the host after)
set -euo pipefail
cd "$(dirname "$0")/.."

# Only what building and serving need (no test toolchain), and only the `sigil` binary, in its
# own build directory (ops/test.sh's `build` has the tests).
bash ops/install-deps.sh run
bash ops/build.sh build-run -DSIGIL_TESTS=OFF -DSIGIL_BENCH=OFF >/dev/null
sigil=build-run/cli/sigil
export SIGIL_HOME=${SIGIL_HOME:-$PWD/sigil-data}
root_dir=${SIGIL_ROOT_DIR:-$PWD/sigil-root}

if [ ! -f "$SIGIL_HOME/sigil.json" ]; then
  if [ -z "${SIGIL_ROOT_PASSPHRASE:-}" ] && [ ! -t 0 ]; then
    # Demo only: a random passphrase kept beside (not inside) the root directory.
    umask 077
    pass_file="$root_dir.passphrase"
    [ -f "$pass_file" ] || head -c 24 /dev/urandom | base64 > "$pass_file"
    export SIGIL_ROOT_PASSPHRASE=$(cat "$pass_file")
    echo "demo: root passphrase written to $pass_file (keep it with the root, offline)"
  fi
  "$sigil" init --root-dir "$root_dir" --dns localhost --allow-domain localhost --allow-domain internal
fi

mkdir -p "$SIGIL_HOME/demo"
stamp=$(date +%Y%m%d%H%M%S)
"$sigil" issue --name localhost --name demo.internal --profile server \
  --key-out "$SIGIL_HOME/demo/demo-$stamp.key" --out "$SIGIL_HOME/demo/demo-$stamp.pem"
openssl verify -x509_strict -purpose sslserver -verify_hostname localhost \
  -CAfile "$SIGIL_HOME/ca/root.crt" -untrusted "$SIGIL_HOME/demo/demo-$stamp.pem" "$SIGIL_HOME/demo/demo-$stamp.pem"
"$sigil" list --status valid

echo "serving (Ctrl-C to stop); admin client: $SIGIL_HOME/admin/admin.crt"
exec "$sigil" serve
