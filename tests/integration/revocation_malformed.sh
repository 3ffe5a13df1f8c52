#!/usr/bin/env bash
# Issue 4, acceptance 3: malformed OCSP requests (truncated DER, wrong content type, a 64 KB body,
# bad base64 in the GET path, and a few more) get `malformedRequest` or a 4xx, never a 5xx or a
# dropped connection, and the responder keeps answering valid requests after each of them.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$C/inter.pem"

section "set-up"
check "init the CA" serve_init "$H"
check "CLI issues a leaf" cli_cert "$H" "$C/leaf" server "" leaf.example.internal
split_chain "$C/leaf.crt" "$C/leaf.pem" "$INTER"
LEAF="$C/leaf.pem"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: public :$PUBLIC_PORT"
PUB="http://127.0.0.1:$PUBLIC_PORT"
ossl_ocsp "$C/gen" -issuer "$INTER" -cert "$LEAF" -no_nonce -reqout "$C/good.req"
expect_eq "a valid request (DER) was made" "$(head -c1 "$C/good.req" | xxd -p)" 30
ossl_ocsp "$C/gen256" -sha256 -issuer "$INTER" -cert "$LEAF" -reqout "$C/good256.req"

MALFORMED_HEX=30030a0101
# is_malformed FILE: the body is the OCSPResponse {responseStatus malformedRequest(1)}.
is_malformed() { [[ "$(xxd -p "$1" 2>/dev/null | tr -d '\n')" == "$MALFORMED_HEX" ]]; }

# still_serving DESC: after DESC, a valid POST (SHA-256, nonce) and a valid GET both say good.
N_STILL=0
still_serving() {
  N_STILL=$((N_STILL + 1))
  local o="$C/still.$N_STILL" why=""
  ossl_ocsp "$o.post" -sha256 -issuer "$INTER" -cert "$LEAF" -url "$PUB/ocsp" -CAfile "$ROOT"
  why+="$(ocsp_verdict "$o.post" "$LEAF" good)"
  ocsp_get "$C/good.req" "$o.der" raw
  ossl_ocsp "$o.get" -respin "$o.der" -issuer "$INTER" -cert "$LEAF" -CAfile "$ROOT" -no_nonce
  why+="$(ocsp_verdict "$o.get" "$LEAF" good)"
  if [[ -z "$why" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
    pass "  ... and then a valid POST and GET still answer good"
  else
    fail "after $1, valid requests still answer good" "${why:-the server process is gone}"
  fi
}

# post_malformed DESC FILE [curl args]: POST FILE as application/ocsp-request; the answer must
# be malformedRequest (HTTP 200 or 4xx) or a 4xx.
post_case() {
  local desc="$1" file="$2"
  shift 2
  fetch "$PUB/ocsp" "$C/m.out" -X POST -H 'Content-Type: application/ocsp-request' --data-binary "@$file" "$@"
  judge "$desc"
}
# judge DESC: the last fetch ($C/m.out) got malformedRequest, or a 4xx.
judge() {
  local ct
  ct="$(header Content-Type "$C/m.out.h")"
  if is_malformed "$C/m.out" && [[ "$FCODE" =~ ^(200|4[0-9][0-9])$ ]]; then
    pass "$1: HTTP $FCODE, malformedRequest ($ct)"
  elif [[ "$FCODE" =~ ^4[0-9][0-9]$ ]]; then
    pass "$1: HTTP $FCODE ($ct: $(head -c 100 "$C/m.out" | tr -c '[:print:]' '.'))"
  else
    fail "$1" "HTTP $FCODE ($ct), body $(xxd -p "$C/m.out" | head -c 80) $(head -c 200 "$C/m.out.err")"
  fi
}

section "POST: truncated DER"
for n in 1 2 10 $(($(wc -c <"$C/good.req") - 1)); do
  head -c "$n" "$C/good.req" >"$C/trunc.$n"
  post_case "the first $n of $(wc -c <"$C/good.req") bytes of a valid request" "$C/trunc.$n"
done
still_serving "truncated requests"

section "POST: other malformed bodies"
: >"$C/empty"
post_case "an empty body" "$C/empty"
{ cat "$C/good.req"; printf 'trailing'; } >"$C/trailing"
post_case "a valid request followed by trailing bytes" "$C/trailing"
openssl x509 -in "$LEAF" -outform DER -out "$C/leaf.der"
post_case "a certificate instead of a request" "$C/leaf.der"
printf '\x30\x84\xff\xff\xff\xff\x30\x00' >"$C/hugelen"
post_case "a DER header claiming a 4 GB SEQUENCE" "$C/hugelen"
base64 -w0 "$C/good.req" >"$C/good.b64"
post_case "the request in base64 instead of DER" "$C/good.b64"
still_serving "malformed bodies"

section "POST: wrong or missing Content-Type"
for ct in text/plain application/json application/ocsp-response; do
  fetch "$PUB/ocsp" "$C/m.out" -X POST -H "Content-Type: $ct" --data-binary "@$C/good.req"
  expect_eq "a valid request sent as $ct -> 415" "$FCODE" 415
done
fetch "$PUB/ocsp" "$C/m.out" -X POST -H 'Content-Type:' --data-binary "@$C/good.req"
expect_eq "a valid request without a Content-Type -> 415" "$FCODE" 415
still_serving "wrong content types"

section "POST: a 64 KB body"
head -c 65536 /dev/urandom >"$C/big.rand"
post_case "64 KB of random bytes" "$C/big.rand"
{ cat "$C/good.req"; head -c $((65536 - $(wc -c <"$C/good.req"))) /dev/zero; } >"$C/big.padded"
post_case "a valid request padded to 64 KB" "$C/big.padded"
python3 -c '
import sys
body = 65536 - 4
sys.stdout.buffer.write(bytes([0x30, 0x82]) + body.to_bytes(2, "big") + bytes(body))' >"$C/big.der"
post_case "a 64 KB DER SEQUENCE of zeros" "$C/big.der"
still_serving "64 KB bodies"

section "GET: bad base64 in the path"
get_case() {
  fetch "$PUB/ocsp/$2" "$C/m.out"
  judge "$1"
}
get_case "characters outside base64 ('!!!notbase64!!!')" '!!!notbase64!!!'
get_case "percent-encoded garbage ('%25%25%25')" '%25%25%25'
get_case "a '*' in the base64 ('not*base64')" 'not*base64'
get_case "base64 of the wrong length ('QUJD' minus one: 'QUJ')" 'QUJ'
get_case "valid base64 of garbage ('AAAA')" 'AAAA'
get_case "base64 of a truncated request" "$(head -c 20 "$C/good.req" | base64 -w0)"
get_case "the request's base64 with a character dropped" "$(cut -c2- "$C/good.b64")"
get_case "10 KB of base64 letters" "$(head -c 7500 /dev/urandom | base64 -w0 | tr -d '/+=' | head -c 10000)"
for t in '!!!notbase64!!!' 'QUJ'; do
  fetch "$PUB/ocsp/$t" "$C/m.out"
  if [[ "$FCODE" == 400 ]] && is_malformed "$C/m.out"; then
    pass "GET /ocsp/$t: 400 with a malformedRequest body"
  else
    fail "GET /ocsp/$t: 400 with a malformedRequest body" "HTTP $FCODE, body $(xxd -p "$C/m.out" | head -c 60)"
  fi
done
still_serving "bad GET paths"

section "a burst of 200 malformed requests on one connection"
args=()
for i in $(seq 200); do
  [[ $i -gt 1 ]] && args+=(--next)
  args+=(-s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/ocsp-request' --data-binary "@$C/trunc.10" "$PUB/ocsp")
done
curl --max-time 30 "${args[@]}" >"$C/burst.codes" 2>/dev/null || true
expect_eq "200 truncated requests: every one answered 200 (malformedRequest) or 4xx" \
  "$(grep -cE '^(200|4[0-9][0-9])$' "$C/burst.codes" || true)" 200
still_serving "the burst"

section "/metrics counted the malformed requests"
scrape_metrics
expect_http "GET /metrics (admin)" 200
expect_metric "sigil_ocsp_responses_total{status=malformedRequest}" sigil_ocsp_responses_total 'status="malformedRequest"' '>=' 200
expect_metric "no 5xx on the public listener" sigil_http_requests_total 'listener="public",.*status="5' '==' 0

serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0
finish
