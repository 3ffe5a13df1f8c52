# Helpers for the revocation integration scripts (sourced, never run); builds on serve_lib.sh.
#
#   source "$(dirname "$0")/revocation_lib.sh" "$@"     # $1: path to the sigil binary
#
# Gives, besides everything serve_lib.sh gives:
#   split_chain CHAIN LEAF INTER      the first and second certificate of a PEM chain
#   cert_ocsp_url / cert_cdp_url / cert_ca_issuers_url CERT   URLs written in a certificate
#   on_public URL                     the same path on the running public listener
#   now_us / ms_since T0_US           wall-clock microseconds, elapsed milliseconds
#   ossl_ocsp OUT ARGS...             `openssl ocsp ARGS` (bounded), stdout+stderr in OUT
#   ocsp_verdict OUT LABEL STATUS [REASON]   "" when OUT says the signature verified, LABEL has
#                                     STATUS (and REASON), and nothing warned; else what is wrong
#   expect_ocsp DESC OUT LABEL STATUS [REASON]   the same as a check
#   gnutls_ask OUT URL CERT ISSUER [ocsptool args]   ocsptool --ask (bounded); response DER in OUT.der
#   gnutls_verdict OUT STATUS [REASON]   as ocsp_verdict, for ocsptool's output (it exits 0 even
#                                     when verification fails, so only its text counts); the
#                                     reason (ocsptool does not print it) is read from OUT.der
#   expect_gnutls DESC OUT STATUS [REASON]
#   poll_until DEADLINE_US CMD...     runs CMD until it succeeds or the deadline passes
#   header NAME [FILE]                a header's value from a curl -D file ($HH by default)
#   fetch URL OUT [curl args]         plain HTTP GET; sets FCODE, headers in OUT.h
#   crl_number CRL / crl_has CRL SERIAL   facts of a DER CRL
#   nonce_of TEXTFILE                 the hex of the first "OCSP Nonce" in openssl's -req_text/-resp_text
# shellcheck shell=bash

source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh" "$@"

split_chain() {
  openssl x509 -in "$1" -out "$2" 2>/dev/null || true
  awk '/-----BEGIN CERTIFICATE-----/ { n++ } n == 2' "$1" >"$3"
}

cert_ocsp_url() { openssl x509 -in "$1" -noout -ocsp_uri 2>/dev/null | head -1; }
cert_cdp_url() {
  openssl x509 -in "$1" -noout -ext crlDistributionPoints 2>/dev/null | grep -o 'URI:.*' | head -1 | cut -c5-
}
cert_ca_issuers_url() {
  openssl x509 -in "$1" -noout -ext authorityInfoAccess 2>/dev/null | grep -o 'CA Issuers - URI:.*' | head -1 | cut -c17-
}
# http://localhost:8080/crl/x.crl -> http://127.0.0.1:$PUBLIC_PORT/crl/x.crl
on_public() {
  local u="$1"
  echo "http://127.0.0.1:$PUBLIC_PORT/${u#*://*/}"
}

now_us() { echo "${EPOCHREALTIME/./}"; }
ms_since() { echo $((($(now_us) - $1) / 1000)); }

ossl_ocsp() {
  local out="$1"
  shift
  timeout 15 openssl ocsp -timeout 10 "$@" >"$out" 2>&1 || true
}

ocsp_verdict() {
  local out="$1" label="$2" want="$3" reason="${4:-}" why="" got
  got="$(grep -F -m1 "$label: " "$out" | sed "s|^.*$label: ||" || true)"
  grep -q '^Response verify OK' "$out" || why+="no 'Response verify OK'; "
  [[ "$got" == "$want" ]] || why+="status '${got:-none}', expected '$want'; "
  # (Patterns that base64 in -resp_text output cannot match.)
  local bad='WARNING|[Ee]rror[: ]|Verify [Ff]ailure|[Ff]ailed'
  if grep -Eq "$bad" "$out"; then why+="$(grep -Em1 "$bad" "$out"); "; fi
  if [[ -n "$reason" ]] && ! grep -q "Reason: $reason\$" "$out"; then
    why+="reason '$(grep -m1 'Reason:' "$out" | sed 's/.*Reason: //')', expected '$reason'; "
  fi
  echo "$why"
}

expect_ocsp() {
  local desc="$1" why
  shift
  why="$(ocsp_verdict "$@")"
  if [[ -z "$why" ]]; then
    pass "$desc"
  else
    fail "$desc" "$why"
    sed -n '1,12s/^/        openssl| /p' "$1"
  fi
}

gnutls_ask() {
  local out="$1" url="$2" cert="$3" issuer="$4"
  shift 4
  rm -f "$out.der"
  timeout 15 ocsptool --ask="$url" --load-cert "$cert" --load-issuer "$issuer" --outfile "$out.der" "$@" \
    >"$out" 2>&1 || true
}

gnutls_verdict() {
  local out="$1" want="$2" reason="${3:-}" why="" got
  got="$(grep -m1 'Certificate Status:' "$out" | sed 's/.*Certificate Status: //' || true)"
  grep -q '^Verifying OCSP Response: Success\.' "$out" ||
    why+="'$(grep -m1 'Verifying OCSP Response' "$out" || echo 'no verification line')'; "
  [[ "$got" == "$want" ]] || why+="status '${got:-none}', expected '$want'; "
  if [[ -n "$reason" ]]; then
    local r
    r="$(openssl ocsp -respin "$out.der" -resp_text -noverify 2>/dev/null | grep -m1 'Revocation Reason:' |
      sed 's/.*Revocation Reason: //; s/ (.*//' || true)"
    [[ "$r" == "$reason" ]] || why+="reason '${r:-none}' in the response ocsptool got, expected '$reason'; "
  fi
  echo "$why"
}

expect_gnutls() {
  local desc="$1" why
  shift
  why="$(gnutls_verdict "$@")"
  if [[ -z "$why" ]]; then
    pass "$desc"
  else
    fail "$desc" "$why"
    grep -E 'Status|Verif|rror|Revocation' "$1" | sed -n '1,8s/^/        ocsptool| /p'
  fi
}

poll_until() {
  local deadline="$1"
  shift
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [[ $(now_us) -lt $deadline ]] || return 1
    sleep 0.02
  done
}

header() {
  { grep -i "^$1:" "${2:-$HH}" 2>/dev/null || true; } | head -1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'
}

fetch() {
  local url="$1" out="$2"
  shift 2
  rm -f "$out" "$out.h"
  FCODE=$(curl -sS --max-time 10 -D "$out.h" -o "$out" -w '%{http_code}' "$@" "$url" 2>"$out.err") || true
  [[ -n "$FCODE" ]] || FCODE=000
  [[ -e "$out" ]] || : >"$out"
}

crl_number() {
  local t
  t="$(openssl crl -inform DER -in "$1" -noout -crlnumber 2>/dev/null | cut -d= -f2 || true)"
  t="${t#0x}"
  if [[ "$t" =~ ^[0-9A-Fa-f]+$ ]]; then echo $((16#$t)); else echo -1; fi
}
# crl_has CRL SERIAL (lower-case hex, as cert_serial prints it)
crl_has() {
  local serials
  serials="$(openssl crl -inform DER -in "$1" -noout -text 2>/dev/null | grep 'Serial Number:' | tr 'A-F' 'a-f' || true)"
  grep -q " $2\$" <<<"$serials"
}
crl_entries() {
  local n
  n="$(openssl crl -inform DER -in "$1" -noout -text 2>/dev/null | grep -c 'Serial Number:' || true)"
  echo "${n:-0}"
}

nonce_of() {
  awk '/OCSP Nonce:/ { getline; gsub(/[ \t]/, ""); print; exit }' "$1"
}

# The SHA-1 key identifier of a certificate, upper-case hex without colons.
cert_ski() {
  { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier 2>/dev/null || true; } | sed -n '2p' | tr -d ' :' |
    tr 'a-f' 'A-F'
}

# ocsp_get REQ_DER OUT [raw|enc] [curl args]: GET /ocsp/<base64 of REQ_DER> on the public
# listener, the base64 as is (raw) or percent-encoded (enc); body in OUT, headers in OUT.h.
ocsp_get() {
  local req="$1" out="$2" mode="${3:-raw}" b64
  shift 3 || shift $#
  b64="$(base64 -w0 "$req")"
  if [[ "$mode" == enc ]]; then
    b64="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$b64")"
  fi
  fetch "http://127.0.0.1:$PUBLIC_PORT/ocsp/$b64" "$out" "$@"
}

# expect_within DESC T0_US LIMIT_MS CMD...: CMD succeeds before T0 + LIMIT (polled); reports the
# time it took. Returns non-zero when it never did (the caller shows why).
expect_within() {
  local desc="$1" t0="$2" limit="$3"
  shift 3
  if poll_until $((t0 + limit * 1000)) "$@"; then
    pass "$desc ($(ms_since "$t0") ms after the revocation returned)"
  else
    fail "$desc" "not within $limit ms (gave up $(ms_since "$t0") ms after the revocation returned)"
    return 1
  fi
}

# An HTTP date (Last-Modified, Expires) or an openssl date ("Nov 26 21:18:22 2026 GMT") -> epoch.
date_epoch() { date -u -d "$1" +%s 2>/dev/null || echo 0; }

# The SHA-1 of a certificate's public key (the BIT STRING's value, as RFC 6960 ResponderID
# byKey and CertID issuerKeyHash take it), upper-case hex.
key_sha1() {
  { openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null || true; } |
    python3 -c '
import hashlib, sys
d = sys.stdin.buffer.read()
def tlv(i):
    n = d[i + 1]; i += 2
    if n & 0x80:
        k = n & 0x7F; n = int.from_bytes(d[i:i + k], "big"); i += k
    return i, n
try:
    i, _ = tlv(0)           # SubjectPublicKeyInfo
    j, n = tlv(i)           # AlgorithmIdentifier
    k, m = tlv(j + n)       # subjectPublicKey BIT STRING
    print(hashlib.sha1(d[k + 1:k + m]).hexdigest().upper())
except Exception:
    print("none")'
}

# raw_head URL: a HEAD request over a raw socket (Connection: close); prints the status code, the
# Content-Length header and how many bytes followed the header block (must be 0).
raw_head() {
  python3 - "$1" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname, u.port or 80), timeout=10)
s.sendall(f"HEAD {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
cl = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("content-length:")), "none")
print(lines[0].split()[1], cl, len(rest))
PY
}
