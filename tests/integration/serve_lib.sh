# Helpers for the `sigil serve` integration scripts (sourced, never run); builds on lib.sh.
#
#   source "$(dirname "$0")/serve_lib.sh" "$@"     # $1: path to the sigil binary
#
# Run the scripts inside a private network namespace (ctest does: unshare -n + lo up), so that
# nothing a server or client does can leave the machine.
#
# Gives, besides everything lib.sh gives:
#   serve_init HOME [init args]   a CA (root directory HOME.root, domain example.internal)
#   config_edit HOME PYTHON       edits HOME/sigil.json; the document is `j`
#   serve_start HOME [TAG [ARGS]] starts `sigil serve` on ephemeral ports (ARGS: more serve
#                                 flags, e.g. --dns-resolver 127.0.0.1:P); sets SERVE_PID,
#                                 API_PORT, ACME_PORT, PUBLIC_PORT, SERVE_ERR (its log); waits
#                                 (bounded) until /health answers on all three listeners
#   serve_stop [PID] [SECONDS]    SIGTERM, bounded wait; sets STOP_RC and STOP_SECS
#   hreq CERT KEY METHOD URL [curl args]   one HTTPS request trusting the CA's root; sets
#                                 HCODE (000: no HTTP response), HRC (curl's exit), the body in
#                                 $HB, the headers in $HH, curl's stderr in $HE
#   sclient PORT CERT KEY [s_client args]  openssl s_client sending one GET /health; output in $SO
#   new_csr KEY CSR NAME...       a P-256 key and a PEM CSR with those DNS names
#   issue_body CSR PROFILE TTL    a JSON body for POST /api/v1/certificates, on stdout
#   metric NAME LABELS-REGEX      sum of the samples of NAME whose labels match, from $WORK/metrics
#   wait_for SECONDS CMD...       polls CMD every 0.1 s; non-zero if it never succeeded
# Every server started here is stopped (SIGTERM, then SIGKILL) when the script exits.
# shellcheck shell=bash

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# PostgreSQL clusters, and SIGIL_TEST_DATABASE=postgresql: serve_init's CA on one (see pg_lib.sh).
source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"

export SIGIL_ROOT_PASSPHRASE="integration-root-passphrase"
SERVE_PIDS=()
BG_PIDS=()
HB="$WORK/http.body"
HH="$WORK/http.headers"
HE="$WORK/http.err"
SO="$WORK/sclient.out"

_serve_cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SERVE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SERVE_PIDS[@]}"; do
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pg_cleanup
}
_serve_set_rc() { return "$1"; }
trap '_serve_rc=$?; set +e; _serve_cleanup; _serve_set_rc $_serve_rc; _lib_on_exit' EXIT

wait_for() {
  local secs="$1"
  shift
  local deadline=$((SECONDS + secs))
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.1
  done
}

serve_init() {
  local h="$1" db=() args=""
  shift
  if [[ " $* " != *" --database "* ]]; then args="$(pg_init_args "$h")" || return 1; fi
  read -ra db <<<"$args"
  "$SIGIL" --home "$h" init --root-dir "$h.root" --allow-domain example.internal "${db[@]}" "$@" >"$WORK/init.out" 2>&1
  # On PostgreSQL, no SQLite file may appear: the suite must really be running on the server.
  if [[ -n "$args" && -e "$h/sigil.db" ]]; then echo "serve_init: $h/sigil.db exists on PostgreSQL" >>"$WORK/init.out"; return 1; fi
}

config_edit() {
  python3 - "$1/sigil.json" "$2" <<'PY'
import json, sys
path, code = sys.argv[1], sys.argv[2]
with open(path) as f:
    j = json.load(f)
exec(code, {"j": j})
with open(path, "w") as f:
    json.dump(j, f, indent=2)
PY
}

_listener_port() { awk -v n="$1" '$1 == n { sub(/.*:/, "", $2); print $2 }' "$2"; }

_health_ok() {  # port: /health over TLS without a client certificate (acme) or plain (public)
  curl -s --max-time 2 --cacert "$SERVE_HOME/ca/root.crt" --resolve "localhost:$1:127.0.0.1" \
    -o /dev/null -w '%{http_code}' "$2://localhost:$1/health" | grep -q '^200$'
}
_api_health_ok() {
  curl -s --max-time 2 --cacert "$SERVE_HOME/ca/root.crt" --resolve "localhost:$API_PORT:127.0.0.1" \
    --cert "$SERVE_HOME/admin/admin.crt" --key "$SERVE_HOME/admin/admin.key" \
    -o /dev/null -w '%{http_code}' "https://localhost:$API_PORT/health" | grep -q '^200$'
}

serve_start() {
  SERVE_HOME="$1"
  local tag="${2:-serve}"
  shift $(($# >= 2 ? 2 : 1))
  SERVE_OUT="$WORK/$tag.out"
  SERVE_ERR="$WORK/$tag.err"
  "$SIGIL" --home "$SERVE_HOME" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 \
    --public-listen 127.0.0.1:0 "$@" >"$SERVE_OUT" 2>"$SERVE_ERR" &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  if ! wait_for 15 grep -q '^public http://' "$SERVE_OUT"; then
    echo "serve did not print its listeners within 15 s; its log:"
    sed -n '1,20s/^/        serve| /p' "$SERVE_ERR"
    return 1
  fi
  API_PORT="$(_listener_port api "$SERVE_OUT")"
  ACME_PORT="$(_listener_port acme "$SERVE_OUT")"
  PUBLIC_PORT="$(_listener_port public "$SERVE_OUT")"
  wait_for 10 _api_health_ok && wait_for 10 _health_ok "$ACME_PORT" https && wait_for 10 _health_ok "$PUBLIC_PORT" http
}

serve_stop() {
  local pid="${1:-$SERVE_PID}" limit="${2:-10}" t0
  t0=$(date +%s.%N)
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null && [[ $SECONDS -lt $deadline ]]; do sleep 0.05; done
  local killed=0
  if kill -0 "$pid" 2>/dev/null; then
    killed=1
    # A server that does not stop is a bug to diagnose: keep its threads' stacks in the output.
    if command -v gdb >/dev/null; then
      echo "  serve_stop: pid $pid still running after ${limit}s; its threads:" >&2
      timeout 30 gdb -p "$pid" -batch -ex 'thread apply all bt 12' 2>/dev/null | grep -E '^(Thread|#)' | sed 's/^/    /' >&2 || true
    fi
    kill -KILL "$pid" 2>/dev/null || true
  fi
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
  if [[ $killed == 1 ]]; then STOP_RC="still running after ${limit}s (killed)"; fi
  STOP_SECS=$(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 2))")
}

hreq() {
  local cert="$1" key="$2" method="$3" url="$4"
  shift 4
  local auth=()
  if [[ -n "$cert" ]]; then auth=(--cert "$cert" --key "$key"); fi
  HRC=0
  rm -f "$HB" "$HH" "$HE"
  : >"$HB"
  HCODE=$(curl -sS --max-time 15 --cacert "$SERVE_HOME/ca/root.crt" \
    --resolve "localhost:${API_PORT:-1}:127.0.0.1" --resolve "localhost:${ACME_PORT:-1}:127.0.0.1" \
    --resolve "localhost:${PUBLIC_PORT:-1}:127.0.0.1" \
    "${auth[@]}" -X "$method" -D "$HH" -o "$HB" -w '%{http_code}' "$@" "$url" 2>"$HE") || HRC=$?
  [[ -n "$HCODE" ]] || HCODE=000
}

# The admin client of the running home.
admin_req() {
  hreq "$SERVE_HOME/admin/admin.crt" "$SERVE_HOME/admin/admin.key" "$@"
}

api() { echo "https://localhost:$API_PORT$1"; }
acme() { echo "https://localhost:$ACME_PORT$1"; }

# expect_http DESC EXPECTED-CODE : the last hreq answered EXPECTED-CODE.
expect_http() {
  if [[ "$HCODE" == "$2" ]]; then
    pass "$1 (HTTP $HCODE)"
  else
    fail "$1" "expected HTTP $2, got $HCODE (curl exit $HRC): $(head -c 300 "$HB" 2>/dev/null) $(head -c 200 "$HE")"
  fi
}

# expect_problem DESC CODE TYPE-REGEX : an RFC 7807 problem document with that status.
expect_problem() {
  local desc="$1" code="$2" type="$3"
  if [[ "$HCODE" != "$code" ]]; then
    fail "$desc" "expected HTTP $code, got $HCODE (curl exit $HRC): $(head -c 300 "$HB" 2>/dev/null) $(head -c 200 "$HE")"
    return 0
  fi
  if ! grep -qi '^content-type: application/problem+json' "$HH"; then
    fail "$desc" "HTTP $code but Content-Type is not application/problem+json: $(grep -i '^content-type' "$HH" | tr -d '\r')"
    return 0
  fi
  json_check "$desc (HTTP $code, problem $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("type"))' "$HB" 2>/dev/null))" \
    "$HB" "j['status'] == $code and re.search(r'$type', j['type']) is not None and len(j['detail']) > 0"
}

# expect_no_http DESC : the last hreq got no HTTP response at all (the handshake was refused).
expect_no_http() {
  if [[ "$HCODE" == 000 && "$HRC" -ne 0 ]]; then
    pass "$1: no HTTP response (curl exit $HRC: $(tr -d '\n' <"$HE" | cut -c1-120))"
  else
    fail "$1" "expected the handshake to be refused, got HTTP $HCODE (curl exit $HRC): $(head -c 200 "$HB" 2>/dev/null)"
  fi
}

HEALTH_REQUEST=$'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
sclient() {
  local port="$1" cert="$2" key="$3"
  shift 3
  local auth=()
  if [[ -n "$cert" ]]; then auth=(-cert "$cert" -key "$key"); fi
  printf '%s' "$HEALTH_REQUEST" |
    timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername localhost -verify_hostname localhost \
      -CAfile "$SERVE_HOME/ca/root.crt" -verify_return_error -ign_eof "${auth[@]}" "$@" >"$SO" 2>&1 || return $?
}

# expect_sclient_refused DESC PORT CERT KEY [s_client args]: s_client sees a TLS alert (or a
# failed handshake) and no HTTP response.
expect_sclient_refused() {
  local desc="$1"
  shift
  local rc=0
  sclient "$@" || rc=$?
  if grep -q '^HTTP/1' "$SO"; then
    fail "$desc" "the server answered: $(grep -m1 '^HTTP/1' "$SO")"
  elif grep -Eqi 'alert|handshake failure|errno|write:|read:' "$SO" || [[ $rc -ne 0 ]]; then
    pass "$desc: refused (s_client exit $rc; $(grep -Eim1 'alert|error' "$SO" | sed 's/^[0-9A-F]*:error:[0-9A-F]*://' | cut -c1-100))"
  else
    fail "$desc" "s_client neither saw an alert nor failed (exit $rc)"
    sed -n '1,10s/^/        s_client| /p' "$SO"
  fi
}

new_csr() {
  local key="$1" csr="$2" cn="$3"
  shift 2
  local sans="" n
  for n in "$@"; do sans+="${sans:+,}DNS:$n"; done
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" -subj "/CN=$cn" \
    -addext "subjectAltName=$sans" -out "$csr" 2>/dev/null
}

issue_body() {
  python3 -c '
import json, sys
b = {"csr": open(sys.argv[1]).read(), "profile": sys.argv[2]}
if sys.argv[3]:
    b["ttl"] = sys.argv[3]
print(json.dumps(b))' "$1" "$2" "${3:-}"
}

# A client certificate issued by the CLI on HOME: cli_cert HOME PREFIX PROFILE TTL NAME...
# writes PREFIX.crt (chain) and PREFIX.key.
cli_cert() {
  local h="$1" prefix="$2" profile="$3" ttl="$4"
  shift 4
  local names=() n ttl_args=()
  for n in "$@"; do names+=(--name "$n"); done
  if [[ -n "$ttl" ]]; then ttl_args=(--ttl "$ttl"); fi
  "$SIGIL" --home "$h" issue --profile "$profile" "${ttl_args[@]}" "${names[@]}" --key-out "$prefix.key" \
    --out "$prefix.crt" >"$WORK/issue.out" 2>&1
}

# scrape_metrics [FILE]: GET /metrics with the admin certificate into FILE ($WORK/metrics).
scrape_metrics() {
  admin_req GET "$(api /metrics)"
  cp "$HB" "${1:-$WORK/metrics}"
}

# metric NAME LABELS-REGEX [FILE]: the sum of the samples of NAME whose labels match.
metric() {
  python3 - "${3:-$WORK/metrics}" "$1" "${2:-}" <<'PY'
import re, sys
path, name, labels = sys.argv[1], sys.argv[2], sys.argv[3]
total = 0.0
for line in open(path):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([0-9.eE+-]+|NaN|\+Inf)$', line.strip())
    if not m or m.group(1) != name:
        continue
    if labels and not re.search(labels, m.group(3) or ""):
        continue
    total += float(m.group(4))
print(int(total) if total == int(total) else total)
PY
}

# expect_metric DESC NAME LABELS-REGEX OP VALUE (OP: == or >=), from $WORK/metrics.
expect_metric() {
  local desc="$1" name="$2" labels="$3" op="$4" want="$5" got
  got="$(metric "$name" "$labels")"
  if python3 -c "import sys; sys.exit(0 if $got $op $want else 1)"; then
    pass "$desc ($name{$labels} = $got)"
  else
    fail "$desc" "$name{$labels} = $got, expected $op $want"
  fi
}

# expect_metric_delta DESC NAME LABELS-REGEX VALUE: $WORK/metrics minus $WORK/metrics.base.
expect_metric_delta() {
  local desc="$1" name="$2" labels="$3" want="$4" a b
  b="$(metric "$name" "$labels" "$WORK/metrics.base")"
  a="$(metric "$name" "$labels")"
  if [[ $((a - b)) == "$want" ]]; then
    pass "$desc ($name{$labels}: $b -> $a)"
  else
    fail "$desc" "$name{$labels}: $b -> $a, expected an increase of $want"
  fi
}

# The hex serial of a server's certificate as a new connection sees it.
server_serial() {
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$SERVE_HOME/ca/root.crt" \
    ${2:+-cert "$2" -key "$3"} </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2 |
    tr 'A-F' 'a-f'
}

# forge_early_data_session IN OUT: a copy of a saved TLS 1.3 session (s_client -sess_out) whose
# max_early_data says 16384, so that s_client really sends 0-RTT data with it. The ticket inside
# is the server's and is untouched: what the server decides about early data comes from it.
forge_early_data_session() {
  python3 - "$1" "$2" <<'PY'
import base64, sys
text = open(sys.argv[1]).read()
b64 = "".join(l for l in text.splitlines() if l and not l.startswith("-----"))
der = base64.b64decode(b64)

def read_tlv(buf, i):
    tag = buf[i]; i += 1
    n = buf[i]; i += 1
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[i:i + k], "big"); i += k
    return tag, i, n  # tag, content offset, content length

def enc_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b

tag, off, n = read_tlv(der, 0)
assert tag == 0x30, "not a SEQUENCE"
children, i = [], off
while i < off + n:
    t, o, l = read_tlv(der, i)
    children.append((t, der[i:o + l]))
    i = o + l
ctx = lambda t: t & 0x1F if t & 0xE0 == 0xA0 else -1
children = [c for c in children if ctx(c[0]) != 15]           # an existing max_early_data
field = bytes([0xAF, 0x04, 0x02, 0x02, 0x40, 0x00])           # [15] EXPLICIT INTEGER 16384
pos = next((k for k, c in enumerate(children) if ctx(c[0]) > 15), len(children))
children.insert(pos, (0xAF, field))
body = b"".join(c[1] for c in children)
out = b"\x30" + enc_len(len(body)) + body
pem = base64.encodebytes(out).decode().replace("\n", "")
with open(sys.argv[2], "w") as f:
    f.write("-----BEGIN SSL SESSION PARAMETERS-----\n")
    for k in range(0, len(pem), 64):
        f.write(pem[k:k + 64] + "\n")
    f.write("-----END SSL SESSION PARAMETERS-----\n")
PY
}

# forge_admin_cert HOME OUT NOT_BEFORE_DAYS NOT_AFTER_DAYS: a certificate for HOME's admin key and
# identity, signed by HOME's intermediate, valid between those days from now (negative: in the
# past), written to OUT with its chain. Not in the CA's database: for tests of dates and chains.
forge_admin_cert() {
  python3 - "$1/admin/admin.key" "$1/ca/intermediate.crt" "$1/ca/intermediate.key" "$3" "$4" "$2" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, ed448
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
ca_pem = open(sys.argv[2], "rb").read()
ca = x509.load_pem_x509_certificate(ca_pem)
ca_key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
b = (x509.CertificateBuilder()
     .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigil-admin")]))
     .issuer_name(ca.subject)
     .public_key(key.public_key())
     .serial_number(x509.random_serial_number())
     .not_valid_before(now + datetime.timedelta(days=int(sys.argv[4])))
     .not_valid_after(now + datetime.timedelta(days=int(sys.argv[5])))
     .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
     .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                  data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                  crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
     .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
     .add_extension(x509.SubjectAlternativeName([x509.DNSName("sigil-admin")]), critical=False)
     .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
         ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False))
algo = None if isinstance(ca_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
with open(sys.argv[6], "wb") as f:
    f.write(b.sign(ca_key, algo).public_bytes(serialization.Encoding.PEM) + ca_pem)
PY
}
