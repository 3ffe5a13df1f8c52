#!/usr/bin/env bash
# sigil status pages on what needs action (no CRL; an intermediate expiring within 30 days) and
# is quiet when the service is healthy; sigil trust export gives every runtime the same roots
# (PEM and a PKCS#12 trust store that Java's keytool reads as trusted entries).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
serve_init "$H"

check "sigil init wrote the ACME nonce key, 0600" bash -c "[ \"\$(stat -c %a \"$H/ca/acme-nonce.key\")\" = 600 ] && grep -q 'Every node of a cluster' \"$H/ca/acme-nonce.key\""

section "status before the service ever ran"
rc=0
sigil --home "$H" status --json >"$WORK/st0.json" 2>"$WORK/st0.err" || rc=$?
expect_eq "exit 1: needs action (no CRL published yet)" "$rc" 1
json_check "the CRL check is the error; the intermediate is fine" "$WORK/st0.json" \
  "j['status'] == 'error' and j['checks']['crl']['level'] == 'error' and j['checks']['intermediate']['level'] == 'ok'"
json_check "no serve node seen yet" "$WORK/st0.json" "j['checks']['nodes']['nodes'] == [] and j['checks']['nodes']['level'] == 'ok'"

section "status with the service running"
# A home made before nonces were MACed has no key: serve makes one and says so.
INIT_KEY="$(cat "$H/ca/acme-nonce.key")"
rm "$H/ca/acme-nonce.key"
serve_start "$H" serve
check "serve created the missing ACME nonce key (0600, a new one) and logged it" bash -c \
  "[ \"\$(stat -c %a \"$H/ca/acme-nonce.key\")\" = 600 ] && [ \"\$(cat \"$H/ca/acme-nonce.key\")\" != \"$INIT_KEY\" ] && grep -q 'created the ACME nonce key' \"$SERVE_ERR\""
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
curl -sS --max-time 5 -o "$WORK/health.json" "http://localhost:$PUBLIC_PORT/health" || true
NODE="$(json_field "$WORK/health.json" node)"
json_check "status lists the running node (its /health id, host, version, URLs), not stale" "$WORK/st1.json" \
  "[n['id'] for n in j['checks']['nodes']['nodes']] == ['$NODE'] and j['checks']['nodes']['serving'] == 1 and \
   not j['checks']['nodes']['nodes'][0]['stale'] and j['checks']['nodes']['nodes'][0]['hostname'] and \
   j['checks']['nodes']['nodes'][0]['version'] and \
   any(u.endswith(':$PUBLIC_PORT') for u in j['checks']['nodes']['nodes'][0]['urls'])"
check "human output lists the node" bash -c "\"$SIGIL\" --home \"$H\" status | grep -A1 'nodes: 1 serving' | grep -q '$NODE'"

section "flag-renewal: renewal-info (REST) and renewalInfo (ACME) say now"
check "issue two certificates" bash -c "\"$SIGIL\" --home \"$H\" issue --name f1.example.internal --key-out \"$WORK/f1.key\" --ttl 30d --out \"$WORK/f1.pem\" && \"$SIGIL\" --home \"$H\" issue --name f2.example.internal --key-out \"$WORK/f2.key\" --ttl 30d --out \"$WORK/f2.pem\""
S1=$(cert_serial "$WORK/f1.pem")
S2=$(cert_serial "$WORK/f2.pem")
# RFC 9773 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial bytes).
ari_id() {
  python3 - "$1" <<'PY'
import base64, subprocess, sys
der = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-outform", "DER"], capture_output=True, check=True).stdout
text = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-ext", "authorityKeyIdentifier", "-serial"],
                      capture_output=True, text=True, check=True).stdout
aki = bytes.fromhex([l for l in text.splitlines() if ":" in l and "=" not in l and "Identifier" not in l][0].strip().replace(":", ""))
serial = int([l for l in text.splitlines() if l.startswith("serial=")][0][7:], 16)
sb = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER INTEGER contents (leading 0 if the top bit is set)
if len(sb) > 1 and sb[0] == 0 and sb[1] < 0x80: sb = sb[1:]
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
print(b(aki) + "." + b(sb))
PY
}
window_json() { curl -s --max-time 5 --cacert "$H/ca/root.crt" --resolve "localhost:$ACME_PORT:127.0.0.1" "$1" >"$2"; }
window_json "https://localhost:$ACME_PORT/api/v1/renewal-info/$S1" "$WORK/ri1.json"
json_check "REST renewal-info before: the window opens in the future" "$WORK/ri1.json" \
  "ts(j['suggestedWindow']['start']) > __import__('time').time() + 86400"
check "flag-renewal --serial" sigil --home "$H" flag-renewal --serial "$S1" --reason "test incident"
window_json "https://localhost:$ACME_PORT/api/v1/renewal-info/$S1" "$WORK/ri2.json"
json_check "REST renewal-info after: the window lies in the past" "$WORK/ri2.json" \
  "ts(j['suggestedWindow']['end']) < __import__('time').time()"
window_json "https://localhost:$ACME_PORT/acme/renewal-info/$(ari_id "$WORK/f1.pem")" "$WORK/ari1.json"
json_check "ACME renewalInfo says now too" "$WORK/ari1.json" "ts(j['suggestedWindow']['end']) < __import__('time').time()"
window_json "https://localhost:$ACME_PORT/api/v1/renewal-info/$S2" "$WORK/ri3.json"
json_check "the other certificate is not flagged" "$WORK/ri3.json" \
  "ts(j['suggestedWindow']['start']) > __import__('time').time() + 86400"
check "flag-renewal --issued-before now" sigil --home "$H" flag-renewal --issued-before "$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)"
window_json "https://localhost:$ACME_PORT/api/v1/renewal-info/$S2" "$WORK/ri4.json"
json_check "now it is flagged as well" "$WORK/ri4.json" "ts(j['suggestedWindow']['end']) < __import__('time').time()"
expect_fail_with "an unknown serial is refused" "no certificate" sigil --home "$H" flag-renewal --serial 0123abcd
expect_fail_with "a bad time is refused" "issued-before" sigil --home "$H" flag-renewal --issued-before yesterday
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
check "serve logged an error about the intermediate's remaining life at start" \
  grep -q 'level=error msg="the intermediate expires within 30 days' "$SERVE_ERR"
admin_req GET "$(api /metrics)"
expect_http "GET /metrics (admin)" 200
cp "$HB" "$WORK/metrics"
LEFT=$(awk '$1 == "sigil_intermediate_expiry_seconds" {print int($2)}' "$WORK/metrics")
check "sigil_intermediate_expiry_seconds is at most 20 days (${LEFT:-none})" test "${LEFT:-0}" -gt 0 -a "${LEFT:-0}" -le $((20 * 86400))

section "ACME EAB keys through the REST API (admin)"
admin_req POST "$(api /api/v1/acme/eab)" -H 'Content-Type: application/json' \
  -d '{"kid":"rest-key-1","description":"from the API","allow":["svc.example.internal"]}'
expect_http "create" 201
cp "$HB" "$WORK/eab.json"
json_check "kid and a 256-bit HMAC key (base64url)" "$WORK/eab.json" \
  "j['kid'] == 'rest-key-1' and re.fullmatch(r'[A-Za-z0-9_-]{43}', j['hmac_key']) is not None"
admin_req POST "$(api /api/v1/acme/eab)" -H 'Content-Type: application/json' -d '{"kid":"rest-key-1"}'
expect_problem "the same kid again" 409 'about:blank|malformed'
admin_req POST "$(api /api/v1/acme/eab)" -H 'Content-Type: application/json' -d '{"allow":["not a domain"]}'
expect_problem "a bad allow pattern" 400 '.'
admin_req GET "$(api /api/v1/acme/eab)"
expect_http "list" 200
cp "$HB" "$WORK/eabl.json"
json_check "listed, unused, never with its HMAC key" "$WORK/eabl.json" \
  "[k['state'] for k in j['items'] if k['kid'] == 'rest-key-1'] == ['unused'] and all('hmac_key' not in k for k in j['items'])"
admin_req POST "$(api /api/v1/acme/eab/rest-key-1/revoke)"
expect_http "revoke" 200
check "the CLI sees it revoked" bash -c "\"$SIGIL\" --home \"$H\" acme eab list | grep -q '^rest-key-1  revoked'"
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
