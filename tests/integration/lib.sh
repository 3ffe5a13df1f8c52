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
_FINISHED=0
_ERR_AT=""
_lib_on_exit() {
  local rc=$?
  # Directories a test made unreadable must be readable again before they can be removed.
  chmod -R u+rwx "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
  if [[ $_FINISHED == 0 ]]; then
    # set -e stopped the script before finish(): say where, and count it as a failure.
    echo
    echo "ABORTED (exit $rc)${_ERR_AT:+ at $_ERR_AT}"
    echo "$PASSED passed, $((FAILED + 1)) failed"
    [[ $rc -ne 0 ]] || rc=1
  fi
  exit "$rc"
}
trap _lib_on_exit EXIT
trap '_ERR_AT="line $LINENO: $BASH_COMMAND"' ERR

# Never let a test pick up the caller's CA, passphrase or home.
unset SIGIL_HOME SIGIL_ROOT_PASSPHRASE
export LC_ALL=C TZ=UTC

# The system Python when there is one: a version manager's shim costs ~0.1 s per call.
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY="$(command -v python3)"; fi
python3() { "$PY" "$@"; }

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

# expect_fail_with DESC PATTERN CMD... : CMD must fail and its output (stdout+stderr) must
# match the extended regular expression PATTERN, so a test cannot pass for the wrong reason.
expect_fail_with() {
  local desc="$1" pattern="$2"
  shift 2
  local rc=0
  "$@" >"$OUT" 2>"$ERR" || rc=$?
  if [[ $rc -ne 0 ]] && cat "$OUT" "$ERR" | grep -Eq -- "$pattern"; then
    pass "$desc"
  elif [[ $rc -eq 0 ]]; then
    fail "$desc" "unexpectedly succeeded: $*"
    _show_last
  else
    fail "$desc" "failed (exit $rc) but not with /$pattern/"
    _show_last
  fi
  return 0
}

# expect_eq DESC ACTUAL EXPECTED : equality, showing both sides on failure.
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected '$3', got '$2'"; fi
}

sigil() { "$SIGIL" "$@"; }

# The command line with a leading `sigil` replaced by the binary (for tools that exec it).
resolve_cmd() {
  RESOLVED=("$@")
  if [[ "${RESOLVED[0]}" == sigil ]]; then RESOLVED[0]="$SIGIL"; fi
}

# Certificate facts. They print a placeholder instead of failing, so that a missing file fails
# the check that uses it rather than aborting the script under `set -e`.
epoch_of() { date -u -d "$1" +%s 2>/dev/null || echo 0; }
cert_not_before() { epoch_of "$(openssl x509 -in "$1" -noout -startdate 2>/dev/null | cut -d= -f2)"; }
cert_not_after() { epoch_of "$(openssl x509 -in "$1" -noout -enddate 2>/dev/null | cut -d= -f2)"; }
cert_serial() { { openssl x509 -in "$1" -noout -serial 2>/dev/null || echo serial=none; } | cut -d= -f2 | tr 'A-F' 'a-f'; }
# The first certificate of a PEM bundle.
first_cert() { openssl x509 -in "$1"; }
# Octal permission bits of a file, e.g. 600.
mode_of() { stat -c '%a' "$1" 2>/dev/null || echo missing; }
# One field of a JSON file (json_field FILE KEY), or "none".
json_field() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2>/dev/null || echo none; }

# Row counts of the CA's database (certificates, audit log).
db_counts() {
  { sqlite3 "$1" 'select count(*) from certificates; select count(*) from audit_log;' 2>&1 || true; } | tr '\n' ' '
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

# JSON assertions through Python: json_check DESC FILE PYTHON-EXPR (the document is `j`; also
# `re`, `os`, `ts(rfc3339) -> epoch seconds` and `RFC3339`, a compiled pattern).
json_check() {
  local desc="$1" file="$2" expr="$3"
  if python3 - "$file" "$expr" >"$WORK/json.err" 2>&1 <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
import calendar, os, re, time
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
def ts(s):  # RFC 3339 UTC ("2026-11-27T20:15:25Z") -> seconds since the epoch
    assert RFC3339.match(s), s
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
ok = eval(sys.argv[2], {"j": j, "re": re, "os": os, "ts": ts, "RFC3339": RFC3339})
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
  _FINISHED=1
  echo
  if [[ $FAILED -gt 0 ]]; then
    echo "failed checks:"
    printf '  - %s\n' "${FAILURES[@]}"
  fi
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}

# free_ports N [TAKEN...]: N distinct ports on 127.0.0.1, free for TCP and UDP, none of TAKEN,
# below the ephemeral range so that no outgoing connection's source port can take one first.
free_ports() {
  python3 - "$@" <<'PY'
import random, socket, sys
n, taken = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
held, out = [], []
while len(out) < n:
    p = random.randint(20000, lo - 1)
    if p in out or p in taken:
        continue
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", p))
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); u.close()
        continue
    held += [t, u]
    out.append(p)
print(*out)
PY
}
