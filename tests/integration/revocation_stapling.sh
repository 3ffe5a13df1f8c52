#!/usr/bin/env bash
# Issue 4, acceptance 2: `openssl s_client -status` against the api listener (with the admin
# certificate) and the acme listener shows a stapled OCSP response, successful and good, for the
# server's own certificate. s_client only prints it, so the staple is also saved with
# `gnutls-cli --save-ocsp` and verified with `openssl ocsp -respin` against the root, and compared
# with what the responder's GET answers for the same serial. After SIGHUP (a new server
# certificate) the staple follows the new certificate. Run inside a private network namespace
# (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$H/ca/intermediate.crt"
ADMIN_CRT="$H/admin/admin.crt"
ADMIN_KEY="$H/admin/admin.key"

section "set-up"
check "init the CA" serve_init "$H"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT, public :$PUBLIC_PORT"

# status_client PORT TAG [s_client args]: s_client -status, one GET /health; output in $C/TAG.txt,
# the server's certificate in $C/TAG.srv.pem.
status_client() {
  local port="$1" tag="$2"
  shift 2
  printf '%s' "$HEALTH_REQUEST" |
    timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername localhost -verify_hostname localhost \
      -CAfile "$ROOT" -verify_return_error -ign_eof -status "$@" >"$C/$tag.txt" 2>&1 || true
  awk '/^Server certificate/ { f = 1 } f && /BEGIN CERTIFICATE/ { p = 1 } p { print } p && /END CERTIFICATE/ { exit }' \
    "$C/$tag.txt" >"$C/$tag.srv.pem"
}

# check_staple LISTENER PORT TAG [client cert args for s_client] -- [for gnutls-cli]
check_staple() {
  local listener="$1" port="$2" tag="$3"
  shift 3
  local sargs=() gargs=()
  while [[ $# -gt 0 && "$1" != -- ]]; do sargs+=("$1"); shift; done
  [[ $# -eq 0 ]] || shift
  gargs=("$@")
  status_client "$port" "$tag" "${sargs[@]}"
  local t="$C/$tag.txt" serial
  serial="$(cert_serial "$C/$tag.srv.pem" | tr 'a-f' 'A-F')"
  if grep -aq 'HTTP/1.1 200' "$t" && grep -aq 'Verify return code: 0 (ok)' "$t"; then
    pass "$listener: s_client -status: handshake verified, HTTP 200 (server certificate $serial)"
  else
    fail "$listener: s_client -status: handshake verified, HTTP 200" "$(grep -E 'Verify return|HTTP/1|error' "$t" | head -3 | tr '\n' ' ')"
  fi
  if grep -q 'OCSP response: no response sent' "$t"; then
    fail "$listener: a response is stapled" "s_client: 'OCSP response: no response sent'"
    return 0
  fi
  expect_eq "$listener: OCSP Response Status: successful" \
    "$(grep -m1 'OCSP Response Status:' "$t" | sed 's/^ *//')" "OCSP Response Status: successful (0x0)"
  expect_eq "$listener: the staple is about the server's own certificate" \
    "$(grep -m1 'Serial Number: ' "$t" | sed 's/.*Serial Number: //')" "$serial"
  expect_eq "$listener: Cert Status: good" "$(grep -m1 'Cert Status:' "$t" | sed 's/^ *//')" "Cert Status: good"
  local nu
  nu="$(date_epoch "$(grep -m1 'Next Update:' "$t" | sed 's/.*Next Update: //')")"
  if [[ $nu -gt $(date +%s) ]]; then pass "$listener: the staple is current (nextUpdate in $((nu - $(date +%s))) s)"; else fail "$listener: the staple is current" "nextUpdate $nu"; fi
  if grep -q 'OCSP response verify OK' "$t"; then pass "$listener: s_client says 'OCSP response verify OK'"; fi

  # The same staple, saved by GnuTLS and verified by openssl against the root.
  printf '%s' "$HEALTH_REQUEST" |
    timeout 15 gnutls-cli --port "$port" 127.0.0.1 --sni-hostname localhost --verify-hostname localhost \
      --x509cafile "$ROOT" --save-ocsp "$C/$tag.staple.der" --save-cert "$C/$tag.gchain.pem" "${gargs[@]}" \
      >"$C/$tag.gnutls" 2>&1 || true
  if grep -q 'Status: The certificate is trusted' "$C/$tag.gnutls" && [[ -s "$C/$tag.staple.der" ]]; then
    pass "$listener: gnutls-cli trusts the certificate (stapled response checked) and saved the staple"
  else
    fail "$listener: gnutls-cli trusts the certificate and saved the staple" \
      "$(grep -E 'Status|rror|OCSP' "$C/$tag.gnutls" | head -3 | tr '\n' ' '); staple $(wc -c <"$C/$tag.staple.der" 2>/dev/null || echo missing) bytes"
    return 0
  fi
  openssl x509 -in "$C/$tag.gchain.pem" -out "$C/$tag.gsrv.pem" 2>/dev/null || true
  ossl_ocsp "$C/$tag.staple" -respin "$C/$tag.staple.der" -issuer "$INTER" -cert "$C/$tag.gsrv.pem" -CAfile "$ROOT" \
    -no_nonce -resp_text
  expect_ocsp "$listener: the saved staple verifies against the root (openssl ocsp -respin) and says good" \
    "$C/$tag.staple" "$C/$tag.gsrv.pem" good
  expect_eq "$listener: GnuTLS and openssl saw the same server certificate" \
    "$(cert_serial "$C/$tag.gsrv.pem")" "$(cert_serial "$C/$tag.srv.pem")"

  # What the responder answers over GET for that serial.
  ossl_ocsp "$C/$tag.gen" -issuer "$INTER" -cert "$C/$tag.gsrv.pem" -no_nonce -reqout "$C/$tag.req"
  ocsp_get "$C/$tag.req" "$C/$tag.get.der" raw
  ossl_ocsp "$C/$tag.get" -respin "$C/$tag.get.der" -issuer "$INTER" -cert "$C/$tag.gsrv.pem" -CAfile "$ROOT" -no_nonce
  expect_ocsp "$listener: the responder's GET for the same serial: good, verifies" "$C/$tag.get" "$C/$tag.gsrv.pem" good
  # One source: the staple is the responder's cached SHA-1 response, which GET serves too.
  if cmp -s "$C/$tag.get.der" "$C/$tag.staple.der"; then
    pass "$listener: the staple is byte for byte the responder's pre-signed response"
  else
    local a b
    a="$(grep -m1 'Produced At' "$C/$tag.staple" | sed 's/^ *//')"
    b="$(openssl ocsp -respin "$C/$tag.get.der" -resp_text -noverify 2>/dev/null | grep -m1 'Produced At' | sed 's/^ *//' || true)"
    fail "$listener: the staple is byte for byte the responder's pre-signed response" "staple '$a', GET '$b'"
  fi
}

section "api listener (mTLS, admin certificate)"
check_staple api "$API_PORT" api -cert "$ADMIN_CRT" -key "$ADMIN_KEY" -- \
  --x509certfile "$ADMIN_CRT" --x509keyfile "$ADMIN_KEY"
section "acme listener (no client certificate)"
check_staple acme "$ACME_PORT" acme
expect_eq "both listeners present the same certificate" "$(cert_serial "$C/api.srv.pem")" "$(cert_serial "$C/acme.srv.pem")"

section "SIGHUP renews the server certificate: the staple follows"
OLD="$(cert_serial "$C/acme.srv.pem")"
kill -HUP "$SERVE_PID"
new_serial() { [[ -n "$(server_serial "$ACME_PORT")" && "$(server_serial "$ACME_PORT")" != "$OLD" ]]; }
if wait_for 10 new_serial; then
  pass "after SIGHUP the acme listener presents a new certificate ($(server_serial "$ACME_PORT"))"
  check_staple "acme after SIGHUP" "$ACME_PORT" acme2
  check_staple "api after SIGHUP" "$API_PORT" api2 -cert "$ADMIN_CRT" -key "$ADMIN_KEY" -- \
    --x509certfile "$ADMIN_CRT" --x509keyfile "$ADMIN_KEY"
  if [[ "$(cert_serial "$C/acme2.srv.pem")" != "$OLD" ]]; then pass "the new staple is for the new certificate, not $OLD"; else fail "the new staple is for the new certificate" "still $OLD"; fi
else
  fail "after SIGHUP the acme listener presents a new certificate" "still $OLD after 10 s"
fi

serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0
finish
