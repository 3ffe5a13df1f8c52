#!/usr/bin/env bash
# sigil status pages on what needs action (no CRL; an intermediate expiring within 30 days) and
# is quiet when the service is healthy; sigil trust export gives every runtime the same roots
# (PEM and a PKCS#12 trust store that Java's keytool reads as trusted entries).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
serve_init "$H"

section "status before the service ever ran"
rc=0
sigil --home "$H" status --json >"$WORK/st0.json" 2>"$WORK/st0.err" || rc=$?
expect_eq "exit 1: needs action (no CRL published yet)" "$rc" 1
json_check "the CRL check is the error; the intermediate is fine" "$WORK/st0.json" \
  "j['status'] == 'error' and j['checks']['crl']['level'] == 'error' and j['checks']['intermediate']['level'] == 'ok'"

section "status with the service running"
serve_start "$H" serve
# status asks the responder at the configured public address: the one serve bound.
config_edit "$H" "j['listeners']['public'] = '127.0.0.1:$PUBLIC_PORT'"
wait_for 10 bash -c "\"$SIGIL\" --home \"$H\" crl show >/dev/null 2>&1" || true
rc=0
sigil --home "$H" status --json >"$WORK/st1.json" 2>"$WORK/st1.err" || rc=$?
expect_eq "exit 0 while healthy" "$rc" 0
json_check "every check is ok: CRL published, OCSP answering, server certificate found" "$WORK/st1.json" \
  "all(c['level'] == 'ok' for c in j['checks'].values()) and j['checks']['crl']['number'] >= 1 and \
   j['checks']['ocsp']['age_seconds'] < 3600 and len(j['checks']['server_certificate']['serial']) > 0"
check "human output says ok" bash -c "\"$SIGIL\" --home \"$H\" status | tail -1 | grep -qx ok"
serve_stop

section "an intermediate that expires within 30 days"
check "intermediate csr" sigil --home "$H" intermediate csr --out "$WORK/i.csr"
check "root signs it for 20 days" sigil --home "$H" root sign-intermediate --root-dir "$H.root" --csr "$WORK/i.csr" \
  --ttl 20d --out "$WORK/i.crt"
check "intermediate install" sigil --home "$H" intermediate install --cert "$WORK/i.crt"
serve_start "$H" serve2
config_edit "$H" "j['listeners']['public'] = '127.0.0.1:$PUBLIC_PORT'"
wait_for 10 bash -c "\"$SIGIL\" --home \"$H\" status --json | grep -q '\"number\"'" || true
rc=0
sigil --home "$H" status --json >"$WORK/st2.json" 2>"$WORK/st2.err" || rc=$?
expect_eq "exit 1: needs action" "$rc" 1
json_check "the intermediate check is the error, with its seconds left" "$WORK/st2.json" \
  "j['checks']['intermediate']['level'] == 'error' and 0 < j['checks']['intermediate']['seconds_left'] <= 20*86400"
serve_stop

section "trust export"
check "PEM bundle" sigil --home "$H" trust export --out "$WORK/roots.pem"
expect_eq "the PEM bundle is the root" "$(openssl x509 -in "$WORK/roots.pem" -noout -fingerprint -sha256)" \
  "$(openssl x509 -in "$H/ca/root.crt" -noout -fingerprint -sha256)"
check "an unrelated root staged for a rollover" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$WORK/new.key" -out "$H/ca/extra-roots.pem" -subj "/CN=New Root" -days 30 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
check "PEM bundle with the staged root" sigil --home "$H" trust export --out "$WORK/roots2.pem"
expect_eq "two roots in the bundle" "$(grep -c 'BEGIN CERTIFICATE' "$WORK/roots2.pem")" 2
check "PKCS#12" sigil --home "$H" trust export --format pkcs12 --out "$WORK/roots.p12" --password s3cret
check "openssl reads it with the password (MAC verified)" openssl pkcs12 -in "$WORK/roots.p12" -passin pass:s3cret \
  -nokeys -out "$WORK/p12.pem"
expect_fail "a wrong password fails the MAC" openssl pkcs12 -in "$WORK/roots.p12" -passin pass:wrong -nokeys -out /dev/null
expect_eq "both roots inside" "$(grep -c 'BEGIN CERTIFICATE' "$WORK/p12.pem")" 2
expect_fail "no private key inside" grep -q 'PRIVATE KEY' "$WORK/p12.pem"
if command -v keytool >/dev/null; then
  keytool -list -keystore "$WORK/roots.p12" -storetype PKCS12 -storepass s3cret >"$WORK/kt.out" 2>&1 || true
  expect_eq "Java keytool sees two trusted certificate entries" "$(grep -c trustedCertEntry "$WORK/kt.out")" 2
else
  echo "  (keytool not installed: the Java check is skipped)"
fi
expect_fail_with "PKCS#12 to a terminal is refused" "binary" script -qec "\"$SIGIL\" --home \"$H\" trust export --format pkcs12" /dev/null

finish
