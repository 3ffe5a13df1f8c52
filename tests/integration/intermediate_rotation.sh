#!/usr/bin/env bash
# Plural issuers (issue 4; DESIGN.md "Plural from day one"): a new intermediate installed while
# `sigil serve` runs takes over on SIGHUP, and the one it replaced keeps answering for its own
# certificates: its CA certificate at the AIA URL its leaves name, its CRL at their CDP (signed by
# it; a revocation shows there and in OCSP within seconds), OCSP signed for it (openssl ocsp
# verifies against the root), its leaves' chains from the REST API, and its client certificates
# on the mTLS listener even when sent without their chain. New leaves, the server's own TLS
# chain and the stapled response come from the new intermediate. The same after a restart (the
# old pair is read from HOME/ca/archive). /ca/roots.pem serves every root, a staged second root
# (ca/extra-roots.pem) included. Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"

section "set-up: a CA, a leaf and a client certificate from the first intermediate"
check "init the CA" serve_init "$H"
cp "$H/ca/intermediate.crt" "$C/inter1.pem"
check "CLI issues old.example.internal" cli_cert "$H" "$C/old" server "" old.example.internal
split_chain "$C/old.crt" "$C/old.pem" "$C/old.inter.pem"
check "CLI issues a client certificate (client profile, leaf only kept)" \
  cli_cert "$H" "$C/client" client "" client.example.internal
split_chain "$C/client.crt" "$C/client.pem" "$C/client.inter.pem"
config_edit "$H" 'j["authorization"].append({"identity": "client.example.internal", "role": "renew-self"})'
if ! serve_start "$H"; then
  fail "sigil serve starts"
  finish
fi
pass "sigil serve starts (api :$API_PORT, public :$PUBLIC_PORT)"
OLD_SERIAL="$(cert_serial "$C/old.pem")"
# The URLs the leaves name, on the running public listener (its port changes with a restart).
old_aia() { on_public "$(cert_ca_issuers_url "$C/old.pem")"; }
old_cdp() { on_public "$(cert_cdp_url "$C/old.pem")"; }
new_aia() { on_public "$(cert_ca_issuers_url "$C/new.pem")"; }
ocsp_url() { on_public "$(cert_ocsp_url "$C/old.pem")"; }

section "a new intermediate: csr, offline signature, install, SIGHUP"
check "intermediate csr" sigil --home "$H" intermediate csr
check "root sign-intermediate (offline)" sigil root sign-intermediate --root-dir "$H.root" \
  --csr "$H/ca/pending/intermediate.csr" --out "$C/inter2.crt"
check "intermediate install" sigil --home "$H" intermediate install --cert "$C/inter2.crt"
openssl x509 -in "$C/inter2.crt" -out "$C/inter2.pem"
check "the old pair is archived" test -s "$H/ca/archive/$(cert_serial "$C/inter1.pem").key"
kill -HUP "$SERVE_PID"
server_chain_is_new() {
  timeout 10 openssl s_client -connect "127.0.0.1:$ACME_PORT" -servername localhost -showcerts </dev/null \
    >"$WORK/chain.out" 2>&1 || true
  awk '/-----BEGIN CERTIFICATE-----/ { n++ } n == 2' "$WORK/chain.out" | sed '/-----END CERTIFICATE-----/q' \
    >"$WORK/served.inter.pem"
  [[ "$(openssl x509 -in "$WORK/served.inter.pem" -noout -fingerprint 2>&1)" == \
    "$(openssl x509 -in "$C/inter2.pem" -noout -fingerprint 2>&1)" ]]
}
if wait_for 20 server_chain_is_new; then
  pass "after SIGHUP the acme listener's chain carries the new intermediate"
else
  fail "after SIGHUP the acme listener's chain carries the new intermediate" "$(head -c 400 "$WORK/chain.out")"
fi
check "serve logged the switch" grep -q "issuing from a new intermediate" "$SERVE_ERR"

section "new leaves come from the new intermediate"
new_csr "$C/new.key" "$C/new.csr" new.example.internal
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' \
  --data "$(issue_body "$C/new.csr" server 1h)"
expect_http "REST issues new.example.internal" 201
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["certificate"])' \
  "$HB" "$C/new.pem" 2>/dev/null || true
check "the new leaf verifies through the new intermediate" \
  openssl verify -CAfile "$ROOT" -untrusted "$C/inter2.pem" "$C/new.pem"
expect_fail "the new leaf does not verify through the old intermediate" \
  openssl verify -CAfile "$ROOT" -untrusted "$C/inter1.pem" "$C/new.pem"
if [[ "$(new_aia)" != "$(old_aia)" ]]; then pass "old and new leaves name different CA URLs"; else
  fail "old and new leaves name different CA URLs" "both $(new_aia)"
fi

# Everything the old intermediate answers for; $1: label for the checks.
old_answers() {
  local when="$1"
  fetch "$(old_aia)" "$C/aia.$when.der"
  expect_eq "$when: the old leaf's AIA URL serves the old intermediate (HTTP $FCODE)" \
    "$(openssl x509 -inform DER -in "$C/aia.$when.der" -noout -fingerprint 2>&1)" \
    "$(openssl x509 -in "$C/inter1.pem" -noout -fingerprint 2>&1)"
  fetch "$(new_aia)" "$C/aia2.$when.der"
  expect_eq "$when: the new leaf's AIA URL serves the new intermediate (HTTP $FCODE)" \
    "$(openssl x509 -inform DER -in "$C/aia2.$when.der" -noout -fingerprint 2>&1)" \
    "$(openssl x509 -in "$C/inter2.pem" -noout -fingerprint 2>&1)"
  fetch "$(old_cdp)" "$C/crl.$when.der"
  expect_eq "$when: the old leaf's CDP serves a CRL (HTTP)" "$FCODE" 200
  check "$when: that CRL is signed by the old intermediate" \
    openssl crl -inform DER -in "$C/crl.$when.der" -noout -CAfile "$C/inter1.pem"
  openssl crl -inform DER -in "$C/crl.$when.der" -out "$C/crl.$when.pem" 2>/dev/null || true
}

section "the old intermediate keeps answering for its own"
old_answers "after SIGHUP"
check "the old leaf verifies with its CRL (openssl verify -crl_check)" \
  openssl verify -CAfile "$ROOT" -untrusted "$C/inter1.pem" -crl_check -CRLfile "$C/crl.after SIGHUP.pem" "$C/old.pem"
ossl_ocsp "$C/ocsp.good" -issuer "$C/inter1.pem" -cert "$C/old.pem" -url "$(ocsp_url)" -CAfile "$ROOT" -no_nonce
expect_ocsp "OCSP for the old leaf: good, signed for the old intermediate" "$C/ocsp.good" "$C/old.pem" good
admin_req GET "$(api "/api/v1/certificates/$OLD_SERIAL")" -H 'Accept: application/pem-certificate-chain'
expect_http "REST serves the old leaf's chain" 200
awk '/-----BEGIN CERTIFICATE-----/ { n++ } n == 2' "$HB" >"$C/rest.inter.pem"
expect_eq "the old leaf's chain ends with the old intermediate" \
  "$(openssl x509 -in "$C/rest.inter.pem" -noout -fingerprint 2>&1)" \
  "$(openssl x509 -in "$C/inter1.pem" -noout -fingerprint 2>&1)"
hreq "$C/client.pem" "$C/client.key" GET "$(api "/api/v1/renewal-info/$(cert_serial "$C/client.pem")")"
expect_http "a client certificate of the old intermediate, sent without its chain, passes mTLS" 200

section "revoking an old leaf: its CRL and OCSP say so"
admin_req POST "$(api "/api/v1/certificates/$OLD_SERIAL/revoke")" -H 'Content-Type: application/json' \
  --data '{"reason": "keyCompromise"}'
expect_http "REST revokes the old leaf" 200
T0="$(now_us)"
old_crl_has() {
  fetch "$(old_cdp)" "$C/crl.rev.der"
  crl_has "$C/crl.rev.der" "$OLD_SERIAL"
}
expect_within "the old intermediate's CRL lists it" "$T0" 3000 old_crl_has
old_ocsp_revoked() {
  ossl_ocsp "$C/ocsp.rev" -issuer "$C/inter1.pem" -cert "$C/old.pem" -url "$(ocsp_url)" -CAfile "$ROOT" -no_nonce
  [[ -z "$(ocsp_verdict "$C/ocsp.rev" "$C/old.pem" revoked keyCompromise)" ]]
}
expect_within "OCSP says revoked (keyCompromise), verified against the root" "$T0" 3000 old_ocsp_revoked
openssl crl -inform DER -in "$C/crl.rev.der" -out "$C/crl.rev.pem" 2>/dev/null || true
expect_fail "openssl verify -crl_check now refuses the old leaf" \
  openssl verify -CAfile "$ROOT" -untrusted "$C/inter1.pem" -crl_check -CRLfile "$C/crl.rev.pem" "$C/old.pem"
check "sigil ocsp status says revoked" bash -c "'$SIGIL' --home '$H' ocsp status $OLD_SERIAL | grep -q revoked"

section "a restart: the old intermediate is read from the archive"
serve_stop
expect_eq "serve stops cleanly" "$STOP_RC" 0
# A second root staged for a rollover is published too.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/root2.key" -out "$C/root2.pem" \
  -subj "/CN=Second Root" -days 30 -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1
cp "$C/root2.pem" "$H/ca/extra-roots.pem"
if ! serve_start "$H" serve2; then
  fail "sigil serve starts again"
  finish
fi
pass "sigil serve starts again"
old_answers "after a restart"
check "the old leaf is still revoked in its CRL" crl_has "$C/crl.after a restart.der" "$OLD_SERIAL"
check "serve logged the replaced intermediate" grep -q "a replaced intermediate keeps answering" "$SERVE_ERR"
fetch "http://127.0.0.1:$PUBLIC_PORT/ca/roots.pem" "$C/roots.pem"
expect_eq "/ca/roots.pem serves both roots" "$(grep -c 'BEGIN CERTIFICATE' "$C/roots.pem")" 2
check "/ca/roots.pem holds the staged root" grep -qF "$(sed -n 2p "$C/root2.pem")" "$C/roots.pem"
fetch "http://127.0.0.1:$PUBLIC_PORT/ca/root.crt" "$C/root.der"
expect_eq "/ca/root.crt is Sigil's own root" \
  "$(openssl x509 -inform DER -in "$C/root.der" -noout -fingerprint 2>&1)" \
  "$(openssl x509 -in "$ROOT" -noout -fingerprint 2>&1)"
hreq "$C/client.pem" "$C/client.key" GET "$(api "/api/v1/renewal-info/$(cert_serial "$C/client.pem")")"
expect_http "after the restart the old client certificate (leaf only) still passes mTLS" 200
timeout 10 openssl s_client -connect "127.0.0.1:$API_PORT" -servername localhost -status \
  -cert "$SERVE_HOME/admin/admin.crt" -key "$SERVE_HOME/admin/admin.key" </dev/null >"$WORK/staple.out" 2>&1 || true
check "the api listener staples a good OCSP response at once" grep -q "Cert Status: good" "$WORK/staple.out"

section "alerting metrics cover every intermediate"
scrape_metrics
for m in sigil_crl_age_seconds sigil_ocsp_oldest_response_age_seconds sigil_intermediate_expiry_seconds \
  sigil_certificates_expiring_7d; do
  check "/metrics has $m" grep -q "^$m " "$WORK/metrics"
done
age="$(metric sigil_ocsp_oldest_response_age_seconds)"
check "the oldest pre-signed OCSP response is younger than its refresh point (${age}s)" \
  python3 -c "import sys; sys.exit(0 if 0 <= float('$age') < 1800 else 1)"
expect_eq "both intermediates' CRL numbers are exported" \
  "$(grep -c '^sigil_crl_number{issuer=' "$WORK/metrics")" 2

section "tls.client_trust_anchors: an external CA's client certificates, on SIGHUP"
# An external root and a client certificate it issues directly; another root nobody configured.
ext_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1.key" -out "$C/$1.pem" \
    -subj "/CN=$1" -days 30 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -addext subjectKeyIdentifier=hash >/dev/null 2>&1
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1-dev.key" \
    -out "$C/$1-dev.csr" -subj "/CN=device.$1.example" >/dev/null 2>&1
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:device.%s.example\nauthorityKeyIdentifier=keyid\n' "$1" >"$C/$1-dev.ext"
  openssl x509 -req -in "$C/$1-dev.csr" -CA "$C/$1.pem" -CAkey "$C/$1.key" -CAcreateserial -days 1 \
    -extfile "$C/$1-dev.ext" -out "$C/$1-dev.pem" >/dev/null 2>&1
}
check "an external CA and its device certificate" ext_ca corp
check "another, unconfigured CA and its device certificate" ext_ca rogue
ext_get() { hreq "$C/$1-dev.pem" "$C/$1-dev.key" GET "$(api /api/v1/certificates?limit=1)"; }
ext_get corp
expect_eq "before it is configured, the external device certificate gets no answer" "$HCODE" 000
cp "$C/corp.pem" "$H/corp-root.pem"
config_edit "$H" 'j.setdefault("tls", {})["client_trust_anchors"] = ["corp-root.pem"]
j["authorization"].append({"identity": "device.corp.example", "role": "admin"})'
kill -HUP "$SERVE_PID"
corp_ok() { ext_get corp && [[ "$HCODE" == 200 ]]; }
if wait_for 20 corp_ok; then
  pass "after SIGHUP the external device certificate is authenticated and authorized (HTTP 200)"
else
  fail "after SIGHUP the external device certificate is authenticated" "HTTP $HCODE: $(head -c 300 "$HE")"
fi
ext_get rogue
expect_eq "a device certificate of an unconfigured CA still gets no answer" "$HCODE" 000
hreq "$SERVE_HOME/admin/admin.crt" "$SERVE_HOME/admin/admin.key" GET "$(api /api/v1/certificates?limit=1)"
expect_http "Sigil's own admin certificate still works" 200
config_edit "$H" 'j["tls"]["client_trust_anchors"] = ["no-such-file.pem"]'
expect_fail "serve refuses to start with an unreadable trust anchor file" \
  timeout 10 "$SIGIL" --home "$H" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0

finish
