# Shared helpers for the integration scripts (sourced, never run).
#
#   source "$(dirname "$0")/lib.sh" "$@"     # $1: path to the sigil binary
#
# Gives: $SIGIL (absolute), $WORK (fresh temp dir, removed on exit), counters, and
#   check DESC CMD...          passes when CMD exits 0
#   expect_fail DESC CMD...    passes when CMD exits non-zero
#   pass DESC / fail DESC [WHY]  record an outcome decided by the caller
#   sigil ARGS...              the binary under test
#   finish                     prints "N passed, N failed" and exits non-zero on any failure
# Every command's stdout/stderr land in $WORK/last.out / $WORK/last.err (shown on failure).

set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 /path/to/sigil" >&2
  exit 2
fi
SIGIL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
export SIGIL

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sigil-it.XXXXXX")"
export WORK
_lib_cleanup() {
  # Directories a test made unreadable must be readable again before they can be removed.
  chmod -R u+rwx "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap _lib_cleanup EXIT

# Never let a test pick up the caller's CA, passphrase or home.
unset SIGIL_HOME SIGIL_ROOT_PASSPHRASE
export LC_ALL=C TZ=UTC

PASSED=0
FAILED=0
FAILURES=()
OUT="$WORK/last.out"
ERR="$WORK/last.err"

section() { printf '\n== %s\n' "$*"; }

pass() {
  PASSED=$((PASSED + 1))
  printf '  ok    %s\n' "$1"
}

fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("$1")
  printf '  FAIL  %s\n' "$1"
  if [[ $# -ge 2 && -n "$2" ]]; then printf '        %s\n' "$2"; fi
}

_show_last() {
  if [[ -s "$OUT" ]]; then sed -n '1,15s/^/        stdout| /p' "$OUT"; fi
  if [[ -s "$ERR" ]]; then sed -n '1,15s/^/        stderr| /p' "$ERR"; fi
}

# check DESC CMD... : CMD must succeed.
check() {
  local desc="$1"
  shift
  local rc=0
  "$@" >"$OUT" 2>"$ERR" || rc=$?
  if [[ $rc -eq 0 ]]; then
    pass "$desc"
  else
    fail "$desc" "exit $rc from: $*"
    _show_last
  fi
  return 0
}

# expect_fail DESC CMD... : CMD must fail (non-zero exit).
expect_fail() {
  local desc="$1"
  shift
  local rc=0
  "$@" >"$OUT" 2>"$ERR" || rc=$?
  if [[ $rc -ne 0 ]]; then
    pass "$desc"
  else
    fail "$desc" "unexpectedly succeeded: $*"
    _show_last
  fi
  return 0
}

# expect DESC VALUE1 VALUE2 : equality, showing both sides on failure.
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected '$3', got '$2'"; fi
}

sigil() { "$SIGIL" "$@"; }

# Seconds since the epoch of an OpenSSL date ("Nov 27 20:15:25 2026 GMT").
epoch_of() { date -u -d "$1" +%s; }
cert_not_before() { epoch_of "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)"; }
cert_not_after() { epoch_of "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)"; }
cert_serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
# The first certificate of a PEM bundle.
first_cert() { openssl x509 -in "$1"; }

# Octal permission bits of a file, e.g. 600.
mode_of() { stat -c '%a' "$1"; }

# Row counts of the CA's database (certificates, audit log).
db_counts() {
  sqlite3 "$1" 'select count(*) from certificates; select count(*) from audit_log;' | tr '\n' ' '
}

# A digest of every file (name, mode and content) under the given directories.
tree_digest() {
  local d
  for d in "$@"; do
    [[ -e "$d" ]] || { echo "absent $d"; continue; }
    (cd "$d" && find . -type f ! -name '*-wal' ! -name '*-shm' -printf '%p %m\n' | sort &&
      find . -type f ! -name '*-wal' ! -name '*-shm' ! -name '*.db' -print0 | sort -z | xargs -0 -r sha256sum)
  done | sha256sum | cut -d' ' -f1
}

# JSON assertions through Python: json_check DESC FILE PYTHON-EXPR (the document is `j`).
json_check() {
  local desc="$1" file="$2" expr="$3"
  if python3 - "$file" "$expr" >"$WORK/json.err" 2>&1 <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
ok = eval(sys.argv[2], {"j": j, "re": __import__("re")})
sys.exit(0 if ok else 1)
PY
  then
    pass "$desc"
  else
    fail "$desc" "python: $expr"
    sed -n '1,5s/^/        /p' "$WORK/json.err"
    sed -n '1,20s/^/        json| /p' "$file"
  fi
}

finish() {
  echo
  if [[ $FAILED -gt 0 ]]; then
    echo "failed checks:"
    printf '  - %s\n' "${FAILURES[@]}"
  fi
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}
