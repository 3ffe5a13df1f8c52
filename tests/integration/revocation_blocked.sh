#!/usr/bin/env bash
# Issue 11, items 9 and 11, through the real binary: a key revoked for keyCompromise is refused
# for every later issuance (CLI, REST, a REST renewal keeping the key) with a message naming the
# reason; leaf revocation reasons exclude cACompromise and aACompromise on the CLI and on REST;
# revoking "my own certificate" over mTLS compares the presented certificate's DER, so an
# external client CA's leaf that shares a serial with one of ours cannot revoke ours.
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
C="$WORK/c"
mkdir -p "$C"

# key_csr KEY CSR NAME: a new P-256 key and a CSR for NAME; csr_for KEY CSR NAME: another CSR
# for the same key.
key_csr() { new_csr "$1" "$2" "$3" "$3"; }
csr_for() { openssl req -new -key "$1" -subj "/CN=$3" -addext "subjectAltName=DNS:$3" -out "$2" 2>/dev/null; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'; }
status_of() { "$SIGIL" --home "$H" --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
db_count() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$H/sigil.db" "$1"; }

section "set-up"
check "init a CA" serve_init "$H"
[[ -f "$H/sigil.db" ]] || { fail "set-up failed; nothing else can run"; finish; }

section "CLI: keyCompromise blocks the key for every later issuance"
key_csr "$C/k1.key" "$C/k1.csr" a.example.internal
check "issue a certificate for key 1" sigil --home "$H" issue --csr "$C/k1.csr" --out "$C/k1.crt"
S1="$(serial_of "$C/k1.crt")"
check "sigil revoke --reason keyCompromise" sigil --home "$H" revoke "$S1" --reason keyCompromise
expect_eq "it is revoked" "$(status_of "$S1")" revoked
expect_eq "the key's SPKI SHA-256 is in blocked_keys, naming the serial" \
  "$(db_count "SELECT COUNT(*) FROM blocked_keys WHERE serial = '$S1' AND reason = 1")" 1
csr_for "$C/k1.key" "$C/k1b.csr" b.example.internal
before="$(db_count 'SELECT COUNT(*) FROM certificates')"
expect_fail_with "a new CSR with the same key (other name) is refused, naming the reason" \
  'key is blocked: revoked for keyCompromise' sigil --home "$H" issue --csr "$C/k1b.csr" --out "$C/k1b.crt"
expect_eq "nothing was recorded for it" "$(db_count 'SELECT COUNT(*) FROM certificates')" "$before"
[[ ! -e "$C/k1b.crt" ]] && pass "no certificate file was written" || fail "a certificate file was written"
key_csr "$C/k2.key" "$C/k2.csr" b.example.internal
check "another key is still issued" sigil --home "$H" issue --csr "$C/k2.csr" --out "$C/k2.crt"
S2="$(serial_of "$C/k2.crt")"
check "superseded does not block the key" sigil --home "$H" revoke "$S2" --reason superseded
csr_for "$C/k2.key" "$C/k2b.csr" c.example.internal
check "... and that key may be certified again" sigil --home "$H" issue --csr "$C/k2b.csr" --out "$C/k2b.crt"

section "CLI: one allow-list of leaf revocation reasons"
S3="$(serial_of "$C/k2b.crt")"
for r in cACompromise aACompromise certificateHold removeFromCRL; do
  expect_fail_with "sigil revoke --reason $r is refused" "$r" sigil --home "$H" revoke "$S3" --reason "$r"
  expect_eq "  and the certificate stays valid" "$(status_of "$S3")" valid
done

section "REST: blocked keys, excluded reasons"
cp "$C/k2b.crt" "$C/own.crt"
check "a client certificate for the self-revocation case" cli_cert "$H" "$C/self" client "" self.example.internal
SELF="$(serial_of "$C/self.crt")"
check "an external client CA and a device certificate sharing the serial $SELF" bash -c "
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '$C/corp.key' -out '$C/corp.pem' \
    -subj /CN=corp -days 30 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -addext subjectKeyIdentifier=hash &&
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '$C/dev.key' -out '$C/dev.csr' \
    -subj /CN=device.corp.example &&
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:device.corp.example\nauthorityKeyIdentifier=keyid\n' >'$C/dev.ext' &&
  openssl x509 -req -in '$C/dev.csr' -CA '$C/corp.pem' -CAkey '$C/corp.key' -set_serial 0x$SELF -days 1 \
    -extfile '$C/dev.ext' -out '$C/dev.pem'"
expect_eq "the device certificate has our certificate's serial" "$(serial_of "$C/dev.pem")" "$SELF"
cp "$C/corp.pem" "$H/corp-root.pem"
config_edit "$H" 'j.setdefault("tls", {})["client_trust_anchors"] = ["corp-root.pem"]
j["authorization"].append({"identity": "device.corp.example", "role": "renew-self"})'
serve_start "$H" || { fail "serve did not start"; finish; }

key_csr "$C/k3.key" "$C/k3.csr" d.example.internal
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' -d "$(issue_body "$C/k3.csr" server)"
expect_http "REST issues for key 3" 201
S4="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$HB")"
for r in cACompromise aACompromise; do
  admin_req POST "$(api "/api/v1/certificates/$S4/revoke")" -H 'Content-Type: application/json' -d "{\"reason\":\"$r\"}"
  expect_problem "REST revoke with $r: badRevocationReason" 400 'badRevocationReason'
done
expect_eq "  and the certificate stays valid" "$(status_of "$S4")" valid
admin_req POST "$(api "/api/v1/certificates/$S4/revoke")" -H 'Content-Type: application/json' \
  -d '{"reason":"keyCompromise"}'
expect_http "REST revoke keyCompromise" 200
csr_for "$C/k3.key" "$C/k3b.csr" e.example.internal
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' -d "$(issue_body "$C/k3b.csr" server)"
expect_problem "REST issuance with the blocked key: badPublicKey" 400 'badPublicKey'
json_check "  the problem names the reason" "$HB" "'key is blocked: revoked for keyCompromise' in j['detail']"
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' -d "$(issue_body "$C/k1b.csr" server)"
expect_problem "REST issuance with the key the CLI revoked: badPublicKey" 400 'badPublicKey'

section "REST: self-revocation compares the certificate, not the serial"
hreq "$C/dev.pem" "$C/dev.key" POST "$(api "/api/v1/certificates/$SELF/revoke")" -H 'Content-Type: application/json' \
  -d '{"reason":"keyCompromise"}'
expect_problem "an external CA's leaf with our certificate's serial may not revoke it" 403 '.'
expect_eq "  ours stays valid" "$(status_of "$SELF")" valid
hreq "$C/self.crt" "$C/self.key" POST "$(api "/api/v1/certificates/$SELF/revoke")" \
  -H 'Content-Type: application/json' -d '{"reason":"keyCompromise"}'
expect_http "the holder of the very certificate revokes it (keyCompromise)" 200
expect_eq "  it is revoked" "$(status_of "$SELF")" revoked
expect_eq "  and its key is blocked" \
  "$(db_count "SELECT COUNT(*) FROM blocked_keys WHERE serial = '$SELF'")" 1
serve_stop
finish
