#!/usr/bin/env bash
# Issue 4, acceptance 1 (OCSP): a leaf verifies as good with `openssl ocsp` (POST, and GET built
# from -reqout and checked with -respin), with SHA-1 and SHA-256 CertIDs, with and without a nonce
# (echoed), and with GnuTLS ocsptool; every response's signature is verified against the root
# (the delegated responder certificate rides in the response). Revoked through the REST API, and
# by `sigil revoke` on the same home while the server runs: both tools say revoked, with the right
# reason, within one second. Unknown serials answer `unknown`, another CA's certificates
# `unauthorized`. RFC 5019 caching headers and If-None-Match on GET. Then the same home with
# revocation.ocsp_sign_with_intermediate: responses signed by the intermediate, no certificate
# included. Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
OTHER="$WORK/other"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$C/inter.pem"

section "set-up"
check "init the CA" serve_init "$H"
check "init another, unrelated CA" serve_init "$OTHER"
for n in leaf apirev clirev interrev; do
  check "CLI issues $n.example.internal" cli_cert "$H" "$C/$n" server "" "$n.example.internal"
  split_chain "$C/$n.crt" "$C/$n.pem" "$INTER"
done
check "CLI issues a certificate of the other CA" cli_cert "$OTHER" "$C/oleaf" server "" oleaf.example.internal
split_chain "$C/oleaf.crt" "$C/oleaf.pem" "$C/ointer.pem"
expect_eq "the chain's second certificate is the home's intermediate" \
  "$(openssl x509 -in "$INTER" -noout -fingerprint 2>&1)" "$(openssl x509 -in "$H/ca/intermediate.crt" -noout -fingerprint 2>&1)"
LEAF="$C/leaf.pem"
SERIAL="$(cert_serial "$LEAF")"
expect_eq "the leaf's AIA names the OCSP responder on the public URL" "$(cert_ocsp_url "$LEAF")" \
  "http://localhost:8080/ocsp"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT, public :$PUBLIC_PORT"
OCSP_URL="$(on_public "$(cert_ocsp_url "$LEAF")")"

section "good: openssl ocsp over POST, SHA-1 and SHA-256 CertIDs, with and without a nonce"
for dg in sha1 sha256; do
  for nn in nonce no_nonce; do
    o="$C/post.$dg.$nn"
    args=(-"$dg" -issuer "$INTER" -cert "$LEAF" -url "$OCSP_URL" -CAfile "$ROOT" -resp_text -reqout "$o.req"
      -respout "$o.der")
    [[ $nn == no_nonce ]] && args+=(-no_nonce)
    ossl_ocsp "$o" "${args[@]}"
    expect_ocsp "POST, $dg CertID, $nn: good; responder signature verifies against the root" "$o" "$LEAF" good
    expect_eq "POST, $dg, $nn: the response's CertID uses $dg" \
      "$(grep -m1 'Hash Algorithm:' "$o" | sed 's/.*: //')" "$dg"
    if [[ $nn == nonce ]]; then
      openssl ocsp -reqin "$o.req" -req_text >"$o.reqtext" 2>&1 || true
      want="$(nonce_of "$o.reqtext")"
      got="$(nonce_of "$o")"
      if [[ -n "$want" && "$got" == "$want" ]]; then
        pass "POST, $dg: the response echoes the request's nonce ($want)"
      else
        fail "POST, $dg: the response echoes the request's nonce" "request nonce '$want', response nonce '$got'"
      fi
    else
      expect_eq "POST, $dg, no nonce: no nonce in the response" "$(nonce_of "$o")" ""
    fi
  done
done

section "the delegated responder certificate in the response"
awk '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/' "$C/post.sha1.no_nonce" >"$C/responder.pem"
expect_eq "the response carries exactly one certificate" "$(grep -c 'BEGIN CERTIFICATE' "$C/responder.pem")" 1
openssl x509 -in "$C/responder.pem" -noout -text >"$C/responder.txt" 2>&1 || true
if grep -A1 'Extended Key Usage' "$C/responder.txt" | grep -q 'OCSP Signing' && grep -q 'OCSP No Check' "$C/responder.txt"; then
  pass "responder certificate: id-kp-OCSPSigning and id-pkix-ocsp-nocheck"
else
  fail "responder certificate: id-kp-OCSPSigning and id-pkix-ocsp-nocheck" "$(grep -A1 -E 'Key Usage|No Check' "$C/responder.txt" | tr '\n' ' ')"
fi
expect_eq "responder certificate is issued by the intermediate" \
  "$(openssl x509 -in "$C/responder.pem" -noout -issuer 2>&1 | cut -d= -f2-)" \
  "$(openssl x509 -in "$INTER" -noout -subject 2>&1 | cut -d= -f2-)"
check "responder certificate chains to the root" openssl verify -CAfile "$ROOT" -untrusted "$INTER" "$C/responder.pem"
RESP_LEFT=$(($(cert_not_after "$C/responder.pem") - $(date +%s)))
if [[ $RESP_LEFT -gt 0 && $RESP_LEFT -le $((86400 + 120)) ]]; then
  pass "responder certificate is short-lived (ends in ${RESP_LEFT}s; ocsp_responder_ttl 1d)"
else
  fail "responder certificate is short-lived" "ends in ${RESP_LEFT}s"
fi
expect_eq "Responder Id (byKey) is the SHA-1 of the responder certificate's key" \
  "$(grep -m1 'Responder Id:' "$C/post.sha1.no_nonce" | sed 's/.*: //')" "$(key_sha1 "$C/responder.pem")"
expect_eq "(key_sha1 agrees with openssl: the SHA-1 CertID's issuerKeyHash is the intermediate's)" \
  "$(grep -m1 'Issuer Key Hash:' "$C/post.sha1.no_nonce" | sed 's/.*: //')" "$(key_sha1 "$INTER")"

section "good: GET /ocsp/<base64> (RFC 5019), checked with openssl ocsp -respin"
for dg in sha1 sha256; do
  ossl_ocsp "$C/gen.$dg" -"$dg" -issuer "$INTER" -cert "$LEAF" -no_nonce -reqout "$C/get.$dg.req"
  for mode in raw enc; do
    o="$C/get.$dg.$mode"
    ocsp_get "$C/get.$dg.req" "$o.der" "$mode"
    expect_eq "GET ($dg, base64 $mode): HTTP 200 application/ocsp-response" \
      "$FCODE $(header Content-Type "$o.der.h")" "200 application/ocsp-response"
    ossl_ocsp "$o" -respin "$o.der" -"$dg" -issuer "$INTER" -cert "$LEAF" -CAfile "$ROOT" -no_nonce -resp_text
    expect_ocsp "GET ($dg, base64 $mode): good; responder signature verifies against the root" "$o" "$LEAF" good
  done
  if cmp -s "$C/get.$dg.raw.der" "$C/get.$dg.enc.der"; then
    pass "GET ($dg): the two GETs got the very same bytes (a pre-signed response, not signed per request)"
  else
    fail "GET ($dg): the two GETs got the very same bytes (pre-signed)" "the DER differs"
  fi
done
if cmp -s "$C/get.sha1.raw.der" "$C/post.sha1.no_nonce.der"; then
  pass "POST without a nonce and GET get the same pre-signed response"
else
  fail "POST without a nonce and GET get the same pre-signed response" "the DER differs"
fi

section "RFC 5019 caching headers on GET, and If-None-Match"
HF="$C/get.sha1.raw.der.h"
CC="$(header Cache-Control "$HF")"
ETAG="$(header ETag "$HF")"
LM="$(header Last-Modified "$HF")"
MAXAGE="$(grep -o 'max-age=[0-9]*' <<<"$CC" | cut -d= -f2 || true)"
THIS_UPDATE="$(date_epoch "$(grep -m1 'This Update:' "$C/get.sha1.raw" | sed 's/.*This Update: //')")"
NEXT_UPDATE="$(date_epoch "$(grep -m1 'Next Update:' "$C/get.sha1.raw" | sed 's/.*Next Update: //')")"
NOW=$(date +%s)
if [[ -n "$MAXAGE" && $MAXAGE -gt 0 && $MAXAGE -le 3600 && $((NEXT_UPDATE - NOW - MAXAGE)) -le 5 &&
  $((NEXT_UPDATE - NOW - MAXAGE)) -ge -5 ]]; then
  pass "Cache-Control max-age=$MAXAGE matches nextUpdate (in $((NEXT_UPDATE - NOW)) s): '$CC'"
else
  fail "Cache-Control max-age matches nextUpdate" "Cache-Control '$CC', nextUpdate in $((NEXT_UPDATE - NOW)) s"
fi
if [[ "$ETAG" =~ ^\"[^\"]+\"$ ]]; then pass "ETag $ETAG"; else fail "a quoted ETag" "ETag '$ETAG'"; fi
expect_eq "Last-Modified is the response's thisUpdate ($LM)" "$(date_epoch "$LM")" "$THIS_UPDATE"
expect_eq "Expires is the response's nextUpdate" "$(date_epoch "$(header Expires "$HF")")" "$NEXT_UPDATE"
ocsp_get "$C/get.sha1.req" "$C/inm" raw -H "If-None-Match: $ETAG"
expect_eq "GET with If-None-Match: the current ETag -> 304, empty body" "$FCODE $(wc -c <"$C/inm")" "304 0"
expect_eq "the 304 repeats the ETag" "$(header ETag "$C/inm.h")" "$ETAG"
# RFC 7232 §4.1: a 304 MUST carry the Cache-Control (and Expires) a 200 would have had; a cache
# updates its stored headers from the 304 (RFC 7234 §4.3.4), so "no-store" there is harmful.
INM_CC="$(header Cache-Control "$C/inm.h")"
if [[ "$INM_CC" == *max-age=* && "$INM_CC" != *no-store* ]]; then
  pass "the 304 carries the response's Cache-Control ('$INM_CC')"
else
  fail "the 304 carries the response's Cache-Control (RFC 7232 §4.1)" \
    "got Cache-Control '$INM_CC' (a 200 had '$CC'); Expires '$(header Expires "$C/inm.h")'"
fi
ocsp_get "$C/get.sha1.req" "$C/inm2" raw -H 'If-None-Match: "not-the-etag"'
expect_eq "GET with a different If-None-Match -> 200 and the response" "$FCODE $(cmp -s "$C/inm2" "$C/get.sha1.raw.der" && echo same)" \
  "200 same"

section "good: GnuTLS ocsptool --ask"
gnutls_ask "$C/gt" "$OCSP_URL" "$LEAF" "$INTER"
expect_gnutls "ocsptool: good, response verified" "$C/gt" good
gnutls_ask "$C/gtn" "$OCSP_URL" "$LEAF" "$INTER" --nonce
expect_gnutls "ocsptool --nonce: good, response verified" "$C/gtn" good
if grep -q 'Nonce:' "$C/gtn"; then pass "ocsptool --nonce: the response has a nonce"; else fail "ocsptool --nonce: the response has a nonce" "$(grep -A2 Extensions "$C/gtn" | tr '\n' ' ')"; fi

section "unknown serials and other issuers"
for dg in sha1 sha256; do
  ossl_ocsp "$C/unk.$dg" -"$dg" -issuer "$INTER" -serial 0x0123456789abcdef0123 -url "$OCSP_URL" -CAfile "$ROOT"
  expect_ocsp "a serial never issued ($dg): unknown, signed" "$C/unk.$dg" 0x0123456789abcdef0123 unknown
done
ossl_ocsp "$C/unk.get" -issuer "$INTER" -serial 0x0123456789abcdef0124 -no_nonce -reqout "$C/unk.req"
ocsp_get "$C/unk.req" "$C/unk.get.der" raw
ossl_ocsp "$C/unk.get" -respin "$C/unk.get.der" -issuer "$INTER" -serial 0x0123456789abcdef0124 -CAfile "$ROOT" -no_nonce
expect_ocsp "a serial never issued, over GET: unknown" "$C/unk.get" 0x0123456789abcdef0124 unknown
ossl_ocsp "$C/other" -issuer "$C/ointer.pem" -cert "$C/oleaf.pem" -url "$OCSP_URL" -CAfile "$ROOT"
if grep -q 'Responder Error: unauthorized (6)' "$C/other"; then
  pass "another CA's certificate: responseStatus unauthorized"
else
  fail "another CA's certificate: responseStatus unauthorized" "$(head -3 "$C/other" | tr '\n' ' ')"
fi
ossl_ocsp "$C/other.get" -issuer "$C/ointer.pem" -cert "$C/oleaf.pem" -no_nonce -reqout "$C/other.req"
ocsp_get "$C/other.req" "$C/other.get.der" raw
openssl ocsp -respin "$C/other.get.der" -noverify >"$C/other.get" 2>&1 || true
if grep -q 'Responder Error: unauthorized (6)' "$C/other.get"; then
  pass "another CA's certificate over GET: unauthorized (HTTP $FCODE)"
else
  fail "another CA's certificate over GET: unauthorized" "HTTP $FCODE: $(head -3 "$C/other.get" | tr '\n' ' ')"
fi
ossl_ocsp "$C/inter" -issuer "$ROOT" -cert "$INTER" -url "$OCSP_URL" -CAfile "$ROOT"
if grep -q 'Responder Error: unauthorized (6)' "$C/inter"; then
  pass "the intermediate itself (issuer: the root, not served here): unauthorized"
else
  fail "the intermediate itself (issuer: the root): unauthorized" "$(head -3 "$C/inter" | tr '\n' ' ')"
fi
gnutls_ask "$C/gto" "$OCSP_URL" "$C/oleaf.pem" "$C/ointer.pem"
if grep -qi 'Response Status: unauthorized' "$C/gto"; then
  pass "ocsptool, another CA's certificate: unauthorized"
else
  fail "ocsptool, another CA's certificate: unauthorized" "$(grep -iE 'status|verif' "$C/gto" | tr '\n' ' ')"
fi

# ossl_says OUT LABEL STATUS REASON ARGS...: openssl ocsp ARGS says LABEL has STATUS (REASON).
ossl_says() {
  local out="$1" label="$2" st="$3" rs="$4"
  shift 4
  ossl_ocsp "$out" "$@"
  [[ -z "$(ocsp_verdict "$out" "$label" "$st" "$rs")" ]]
}
gnutls_says() {
  local out="$1" cert="$2" st="$3" rs="$4"
  gnutls_ask "$out" "$OCSP_URL" "$cert" "$INTER"
  [[ -z "$(gnutls_verdict "$out" "$st" "$rs")" ]]
}
# get_says REQ DG CERT STATUS REASON: GET with REQ, checked with -respin.
get_says() {
  local req="$1" dg="$2" cert="$3" st="$4" rs="$5"
  ocsp_get "$req" "$req.resp" raw
  ossl_ocsp "$req.out" -respin "$req.resp" -"$dg" -issuer "$INTER" -cert "$cert" -CAfile "$ROOT" -no_nonce
  [[ -z "$(ocsp_verdict "$req.out" "$cert" "$st" "$rs")" ]]
}
show_last() { sed -n '1,8s/^/        '"$2"'| /p' "$1"; }

section "revoked through the REST API: both tools say so within 1 s"
admin_req POST "$(api "/api/v1/certificates/$SERIAL/revoke")" -H 'Content-Type: application/json' \
  --data '{"reason":"keyCompromise"}'
T0=$(now_us)
expect_http "POST /api/v1/certificates/$SERIAL/revoke (keyCompromise)" 200
expect_within "openssl ocsp (POST, SHA-1, nonce): revoked, keyCompromise" "$T0" 1000 \
  ossl_says "$C/rev1" "$LEAF" revoked keyCompromise -issuer "$INTER" -cert "$LEAF" -url "$OCSP_URL" -CAfile "$ROOT" ||
  show_last "$C/rev1" openssl
expect_within "ocsptool: revoked (keyCompromise in the response it got)" "$T0" 1000 \
  gnutls_says "$C/rev1g" "$LEAF" revoked keyCompromise || show_last "$C/rev1g" ocsptool
expect_within "GET, SHA-1 (the pre-signed response was replaced): revoked, keyCompromise" "$T0" 1000 \
  get_says "$C/get.sha1.req" sha1 "$LEAF" revoked keyCompromise || show_last "$C/get.sha1.req.out" openssl
expect_within "GET, SHA-256 (cached before: replaced too): revoked, keyCompromise" "$T0" 1000 \
  get_says "$C/get.sha256.req" sha256 "$LEAF" revoked keyCompromise || show_last "$C/get.sha256.req.out" openssl
ossl_ocsp "$C/rev1.256" -sha256 -issuer "$INTER" -cert "$LEAF" -url "$OCSP_URL" -CAfile "$ROOT" -no_nonce
expect_ocsp "openssl ocsp (POST, SHA-256, no nonce): revoked, keyCompromise" "$C/rev1.256" "$LEAF" revoked keyCompromise
ocsp_get "$C/get.sha1.req" "$C/inm.after" raw -H "If-None-Match: $ETAG"
expect_eq "GET with the ETag of the old (good) response now -> 200 with a new ETag" \
  "$FCODE $([[ "$(header ETag "$C/inm.after.h")" != "$ETAG" ]] && echo new-etag)" "200 new-etag"

section "revoked by \`sigil revoke\` (CLI, same home) while the server runs: within 1 s"
CLISER="$(cert_serial "$C/clirev.pem")"
ossl_ocsp "$C/cli0" -issuer "$INTER" -cert "$C/clirev.pem" -url "$OCSP_URL" -CAfile "$ROOT"
expect_ocsp "before: good" "$C/cli0" "$C/clirev.pem" good
check "sigil revoke $CLISER --reason affiliationChanged" sigil --home "$H" revoke "$CLISER" --reason affiliationChanged
T0=$(now_us)
expect_within "openssl ocsp: revoked, affiliationChanged" "$T0" 1000 \
  ossl_says "$C/cli1" "$C/clirev.pem" revoked affiliationChanged -issuer "$INTER" -cert "$C/clirev.pem" \
  -url "$OCSP_URL" -CAfile "$ROOT" || show_last "$C/cli1" openssl
expect_within "ocsptool: revoked (affiliationChanged in the response it got)" "$T0" 1000 \
  gnutls_says "$C/cli1g" "$C/clirev.pem" revoked affiliationChanged || show_last "$C/cli1g" ocsptool
ossl_ocsp "$C/cli.req.gen" -sha256 -issuer "$INTER" -cert "$C/clirev.pem" -no_nonce -reqout "$C/cli.req"
if get_says "$C/cli.req" sha256 "$C/clirev.pem" revoked affiliationChanged; then
  pass "GET, SHA-256 (never asked before): revoked, affiliationChanged"
else
  fail "GET, SHA-256 (never asked before): revoked, affiliationChanged"
  show_last "$C/cli.req.out" openssl
fi

section "revocation.ocsp_sign_with_intermediate: true"
serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0
check "set revocation.ocsp_sign_with_intermediate" config_edit "$H" "j['revocation']['ocsp_sign_with_intermediate'] = True"
if ! serve_start "$H" serve2; then
  fail "sigil serve starts again with ocsp_sign_with_intermediate"
  finish
fi
pass "sigil serve restarted (public :$PUBLIC_PORT)"
OCSP_URL="$(on_public "$(cert_ocsp_url "$LEAF")")"
INTER_KEYID="$(key_sha1 "$INTER")"
IR="$C/interrev.pem"
for nn in nonce no_nonce; do
  args=(-issuer "$INTER" -cert "$IR" -url "$OCSP_URL" -CAfile "$ROOT" -resp_text)
  [[ $nn == no_nonce ]] && args+=(-no_nonce)
  ossl_ocsp "$C/int.$nn" "${args[@]}"
  expect_ocsp "POST ($nn), signed by the intermediate: good, verifies against the root" "$C/int.$nn" "$IR" good
  expect_eq "POST ($nn): no certificate in the response" "$(grep -c 'BEGIN CERTIFICATE' "$C/int.$nn" || true)" 0
  expect_eq "POST ($nn): Responder Id (byKey) is the SHA-1 of the intermediate's key" \
    "$(grep -m1 'Responder Id:' "$C/int.$nn" | sed 's/.*: //')" "$INTER_KEYID"
done
ossl_ocsp "$C/int.gen" -sha256 -issuer "$INTER" -cert "$IR" -no_nonce -reqout "$C/int.req"
if get_says "$C/int.req" sha256 "$IR" good ""; then
  pass "GET (SHA-256), signed by the intermediate: good, verifies against the root"
else
  fail "GET (SHA-256), signed by the intermediate: good, verifies"
  show_last "$C/int.req.out" openssl
fi
gnutls_ask "$C/int.gt" "$OCSP_URL" "$IR" "$INTER"
expect_gnutls "ocsptool, signed by the intermediate: good, verified" "$C/int.gt" good
ossl_ocsp "$C/int.old" -issuer "$INTER" -cert "$LEAF" -url "$OCSP_URL" -CAfile "$ROOT"
expect_ocsp "after the restart, the API-revoked leaf is still revoked (keyCompromise)" "$C/int.old" "$LEAF" revoked keyCompromise
admin_req POST "$(api "/api/v1/certificates/$(cert_serial "$IR")/revoke")" -H 'Content-Type: application/json' \
  --data '{"reason":"superseded"}'
T0=$(now_us)
expect_http "revoke through the API (superseded)" 200
expect_within "openssl ocsp (intermediate-signed): revoked, superseded" "$T0" 1000 \
  ossl_says "$C/int.rev" "$IR" revoked superseded -issuer "$INTER" -cert "$IR" -url "$OCSP_URL" -CAfile "$ROOT" ||
  show_last "$C/int.rev" openssl
expect_within "ocsptool (intermediate-signed): revoked, superseded" "$T0" 1000 \
  gnutls_says "$C/int.revg" "$IR" revoked superseded || show_last "$C/int.revg" ocsptool
expect_within "GET, SHA-256 (intermediate-signed, cached before): revoked, superseded" "$T0" 1000 \
  get_says "$C/int.req" sha256 "$IR" revoked superseded || show_last "$C/int.req.out" openssl

serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0
finish
