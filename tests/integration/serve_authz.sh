#!/usr/bin/env bash
# Issue 3, acceptance 2: authorization is separate from authentication. An `issuer` identity
# gets 201 for names inside its patterns (with its profiles, up to its max_ttl) and 403 for
# anything else; a `renew-self` identity may only renew the certificate it presents (same
# identities; keeping or rotating the key), on the api listener with a client certificate and
# on the acme listener with a server certificate; an identity without a rule gets 403 until a
# SIGHUP loads a rule for it; every denial is a 403 problem document and an audit_log row.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
JSON=(-H 'Content-Type: application/json')

section "set-up"
check "init the CA" serve_init "$H"
check "authorization: an issuer, two renew-self identities" config_edit "$H" '
j["authorization"] += [
  {"identity": "svc-a.example.internal", "role": "issuer", "identifiers": ["*.a.example.internal"],
   "profiles": ["server"], "max_ttl": "48h"},
  {"identity": "renewer.example.internal", "role": "renew-self"},
  {"identity": "web.r.example.internal", "role": "renew-self"},
]'
check "CLI: client certificate for the issuer svc-a.example.internal" \
  cli_cert "$H" "$C/svca" client "" svc-a.example.internal
check "CLI: client certificate for renewer.example.internal (two SANs)" \
  cli_cert "$H" "$C/renewer" client 24h renewer.example.internal renewer-alt.example.internal
check "CLI: server certificate for web.r.example.internal" cli_cert "$H" "$C/webr" server 24h web.r.example.internal
check "CLI: client certificate for nobody.example.internal (no rule)" \
  cli_cert "$H" "$C/nobody" client "" nobody.example.internal
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT"

# Every 403 this script receives, by "actor action": the audit log must hold exactly these.
declare -A DENIED=()
tally() {  # ACTOR ACTION: count the last answer if it was a 403
  if [[ $HCODE == 403 ]]; then DENIED["api:$1 $2"]=$((${DENIED["api:$1 $2"]:-0} + 1)); fi
}

# issuer_req DESC NAMES TTL PROFILE EXPECTED-CODE : svc-a asks for a certificate.
issuer_req() {
  local desc="$1" dns_names="$2" ttl="$3" profile="$4" want="$5" tag="${6:-req}"
  # shellcheck disable=SC2086
  new_csr "$C/$tag.key" "$C/$tag.csr" $dns_names
  issue_body "$C/$tag.csr" "$profile" "$ttl" >"$C/$tag.json"
  hreq "$C/svca.crt" "$C/svca.key" POST "$(api /api/v1/certificates)" "${JSON[@]}" --data-binary "@$C/$tag.json"
  tally svc-a.example.internal issue
  if [[ $want == 403 ]]; then
    expect_problem "$desc" 403 'unauthorized'
  else
    expect_http "$desc" "$want"
  fi
}
# san_list CERT: the certificate's subjectAltName entries, sorted, one line.
san_list() {
  openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr ',' '\n' | sed 's/^ *//' | sort | tr '\n' ' '
}
pubkey_of() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null | sha256sum | cut -c1-16; }
save_cert() {  # RESPONSE OUT: the "chain" of a 201 answer
  python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["chain"])' "$1" "$2" 2>/dev/null || true
}
lifetime_of() { echo $(($(cert_not_after "$1") - $(cert_not_before "$1"))); }

section "issuer svc-a.example.internal: *.a.example.internal, profile server, max_ttl 48h"
issuer_req "allowed name web.a.example.internal, server, 24h" web.a.example.internal 24h server 201 ok
save_cert "$HB" "$C/ok.crt"
expect_eq "the certificate names exactly web.a.example.internal" "$(san_list "$C/ok.crt")" "DNS:web.a.example.internal "
check "it verifies to the root" openssl verify -CAfile "$H/ca/root.crt" -untrusted "$C/ok.crt" "$C/ok.crt"
issuer_req "allowed name, ttl exactly max_ttl (48h)" api.a.example.internal 48h server 201
issuer_req "name outside the patterns: web.b.example.internal" web.b.example.internal 24h server 403
issuer_req "two labels under the '*' segment: x.y.a.example.internal" x.y.a.example.internal 24h server 403
issuer_req "one allowed and one foreign name in the same CSR" "web.a.example.internal evil.example.internal" 24h server 403
issuer_req "disallowed profile (client)" web.a.example.internal 24h client 403
issuer_req "TTL above max_ttl (72h)" web.a.example.internal 72h server 403
hreq "$C/svca.crt" "$C/svca.key" GET "$(api /api/v1/certificates)"
tally svc-a.example.internal list
expect_problem "issuer may not list certificates" 403 'unauthorized'
OK_SERIAL="$(cert_serial "$C/ok.crt")"
hreq "$C/svca.crt" "$C/svca.key" GET "$(api "/api/v1/certificates/$OK_SERIAL")"
tally svc-a.example.internal read
expect_problem "issuer may not read a certificate" 403 'unauthorized'
hreq "$C/svca.crt" "$C/svca.key" POST "$(api "/api/v1/certificates/$(cert_serial "$C/renewer.crt")/revoke")" \
  "${JSON[@]}" --data '{}'
tally svc-a.example.internal revoke
expect_problem "issuer may not revoke another identity's certificate" 403 'unauthorized'

section "renew-self renewer.example.internal"
new_csr "$C/rs.key" "$C/rs.csr" renewer.example.internal
issue_body "$C/rs.csr" server 24h >"$C/rs.json"
hreq "$C/renewer.crt" "$C/renewer.key" POST "$(api /api/v1/certificates)" "${JSON[@]}" --data-binary "@$C/rs.json"
tally renewer.example.internal issue
expect_problem "renew-self may not request a new certificate (even for its own name)" 403 'unauthorized'
hreq "$C/renewer.crt" "$C/renewer.key" GET "$(api /api/v1/certificates)"
tally renewer.example.internal list
expect_problem "renew-self may not list certificates" 403 'unauthorized'

hreq "$C/renewer.crt" "$C/renewer.key" POST "$(api /api/v1/renew)" "${JSON[@]}" --data '{}'
tally renewer.example.internal renew
expect_http "POST /api/v1/renew {} (keep the key)" 201
cp "$HB" "$C/renew1.resp"
save_cert "$C/renew1.resp" "$C/renew1.crt"
json_check "the answer names the certificate it replaces" "$C/renew1.resp" \
  "j['replaces'] == '$(cert_serial "$C/renewer.crt")' and j['serial'] != j['replaces']"
expect_eq "renewed: exactly the same SANs" "$(san_list "$C/renew1.crt")" "$(san_list "$C/renewer.crt")"
expect_eq "renewed: the same key" "$(pubkey_of "$C/renew1.crt")" "$(pubkey_of "$C/renewer.crt")"
check "renewed: verifies to the root" openssl verify -CAfile "$H/ca/root.crt" -untrusted "$C/renew1.crt" "$C/renew1.crt"
check "renewed: still a clientAuth certificate" \
  bash -c "openssl x509 -in '$C/renew1.crt' -noout -ext extendedKeyUsage | grep -q 'TLS Web Client Authentication'"
NOW=$(date +%s)
OLD_LEFT=$(($(cert_not_after "$C/renewer.crt") - NOW))
NEW_LEFT=$(($(cert_not_after "$C/renew1.crt") - NOW))
if [[ $NEW_LEFT -ge $((OLD_LEFT - 5)) && $NEW_LEFT -le $((OLD_LEFT + 60)) ]]; then
  pass "renewed: valid for as long from now as the original was when issued (${NEW_LEFT}s vs ${OLD_LEFT}s)"
else
  fail "renewed: valid for as long from now as the original was when issued" \
    "the renewal runs ${NEW_LEFT}s from now, the original ${OLD_LEFT}s (issued moments ago with --ttl 24h = 86400s); notAfter-notBefore: original $(lifetime_of "$C/renewer.crt")s, renewal $(lifetime_of "$C/renew1.crt")s: each renewal adds the backdate"
fi

new_csr "$C/rot.key" "$C/rot.csr" renewer.example.internal renewer-alt.example.internal
python3 -c 'import json,sys; print(json.dumps({"rotate_key": True, "csr": open(sys.argv[1]).read()}))' "$C/rot.csr" >"$C/rot.json"
hreq "$C/renewer.crt" "$C/renewer.key" POST "$(api /api/v1/renew)" "${JSON[@]}" --data-binary "@$C/rot.json"
tally renewer.example.internal renew
expect_http "POST /api/v1/renew {rotate_key, csr} (new key)" 201
save_cert "$HB" "$C/renew2.crt"
expect_eq "rotated: exactly the same SANs" "$(san_list "$C/renew2.crt")" "$(san_list "$C/renewer.crt")"
expect_eq "rotated: the CSR's new key" "$(pubkey_of "$C/renew2.crt")" \
  "$(openssl req -in "$C/rot.csr" -noout -pubkey 2>/dev/null | sha256sum | cut -c1-16)"
hreq "$C/renew2.crt" "$C/rot.key" GET "$(api /health)"
expect_http "the rotated certificate and its new key authenticate" 200

# A renew-self identity cannot obtain other names by putting them in the CSR.
new_csr "$C/evil.key" "$C/evil.csr" evil.example.internal
python3 -c 'import json,sys; print(json.dumps({"rotate_key": True, "csr": open(sys.argv[1]).read()}))' "$C/evil.csr" >"$C/evil.json"
hreq "$C/renewer.crt" "$C/renewer.key" POST "$(api /api/v1/renew)" "${JSON[@]}" --data-binary "@$C/evil.json"
tally renewer.example.internal renew
if [[ $HCODE == 201 ]]; then
  save_cert "$HB" "$C/evil.crt"
  expect_eq "renew with a CSR naming evil.example.internal: only the presented identities" \
    "$(san_list "$C/evil.crt")" "$(san_list "$C/renewer.crt")"
elif [[ $HCODE =~ ^4 ]]; then
  pass "renew with a CSR naming evil.example.internal: refused (HTTP $HCODE)"
else
  fail "renew with a CSR naming evil.example.internal" "HTTP $HCODE"
fi
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' "$C/rot.csr" >"$C/norot.json"
hreq "$C/renewer.crt" "$C/renewer.key" POST "$(api /api/v1/renew)" "${JSON[@]}" --data-binary "@$C/norot.json"
expect_problem "a csr without rotate_key is refused" 400 'badCSR'

section "nobody.example.internal: authenticated, but no rule"
hreq "$C/nobody.crt" "$C/nobody.key" GET "$(api /health)"
expect_http "its handshake succeeds (authentication)" 200
hreq "$C/nobody.crt" "$C/nobody.key" POST "$(api /api/v1/renew)" "${JSON[@]}" --data '{}'
tally nobody.example.internal renew
expect_problem "without a rule it may not even renew itself" 403 'unauthorized'

section "a server certificate renews itself on the acme listener"
hreq "$C/webr.crt" "$C/webr.key" GET "$(api /health)"
expect_no_http "web.r (serverAuth only) cannot even handshake on the api listener"
hreq "$C/webr.crt" "$C/webr.key" POST "$(acme /api/v1/renew)" "${JSON[@]}" --data '{}'
tally web.r.example.internal renew
if [[ $HCODE == 201 ]]; then
  pass "POST https://localhost:ACME/api/v1/renew with the server certificate (HTTP 201)"
  save_cert "$HB" "$C/webr2.crt"
  expect_eq "renewed server certificate: the same SANs" "$(san_list "$C/webr2.crt")" "DNS:web.r.example.internal "
  check "renewed server certificate: serverAuth EKU" \
    bash -c "openssl x509 -in '$C/webr2.crt' -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication'"
else
  fail "POST https://localhost:ACME/api/v1/renew with the server certificate" \
    "expected HTTP 201, got $HCODE (curl exit $HRC: $(tr -d '\n' <"$HE" | cut -c1-140)); server log: $(grep 'listener=acme' "$SERVE_ERR" | grep -m1 refused | cut -d' ' -f3-)"
fi
hreq "" "" POST "$(acme /api/v1/renew)" "${JSON[@]}" --data '{}'
expect_problem "renew on the acme listener without a client certificate" 401 'unauthorized'
hreq "$C/svca.crt" "$C/svca.key" GET "$(acme /api/v1/certificates)"
expect_problem "the acme listener does not serve the admin API" 404 '.'

section "SIGHUP loads a new authorization rule"
check "add a renew-self rule for nobody.example.internal" config_edit "$H" \
  'j["authorization"].append({"identity": "nobody.example.internal", "role": "renew-self"})'
RENEWALS_BEFORE=$(grep -c 'server certificate renewed' "$SERVE_ERR" || true)
kill -HUP "$SERVE_PID"
if wait_for 10 bash -c "[[ \$(grep -c 'server certificate renewed' '$SERVE_ERR') -gt $RENEWALS_BEFORE ]]"; then
  pass "SIGHUP: reloaded (and renewed the server certificate)"
else
  fail "SIGHUP: reloaded (and renewed the server certificate)" "$(tail -3 "$SERVE_ERR" | tr '\n' ';')"
fi
hreq "$C/nobody.crt" "$C/nobody.key" POST "$(api /api/v1/renew)" "${JSON[@]}" --data '{}'
expect_http "after SIGHUP, nobody.example.internal may renew itself" 201

section "every denial is in the audit log"
sqlite3 "$H/sigil.db" "select actor || ' ' || action, count(*) from audit_log where outcome='refused' group by 1 order by 1" \
  >"$WORK/audit.txt" 2>&1 || true
for k in "${!DENIED[@]}"; do echo "$k|${DENIED[$k]}"; done | sort >"$WORK/audit.want"
# The denials this script asked for all came back as 403 (counted above by tally).
MISSING=""
for k in "api:nobody.example.internal renew" "api:renewer.example.internal issue" "api:renewer.example.internal list" \
  "api:svc-a.example.internal list" "api:svc-a.example.internal read" "api:svc-a.example.internal revoke"; do
  [[ -n "${DENIED[$k]:-}" ]] || MISSING+="$k; "
done
[[ ${DENIED["api:svc-a.example.internal issue"]:-0} -ge 5 ]] || MISSING+="svc-a issue: fewer than 5; "
expect_eq "a 403 for every planned denial" "$MISSING" ""
if diff "$WORK/audit.want" "$WORK/audit.txt" >"$WORK/audit.diff"; then
  pass "audit_log refused rows: exactly one per 403 received ($(tr '\n' ' ' <"$WORK/audit.txt"))"
else
  fail "audit_log refused rows: one per 403" "$(tr '\n' ';' <"$WORK/audit.diff")"
fi
sqlite3 "$H/sigil.db" "select count(*) from audit_log where outcome='refused' and (detail is null or detail = '')" \
  >"$WORK/audit.nodetail" 2>&1 || true
expect_eq "every refused row says why" "$(cat "$WORK/audit.nodetail")" 0
scrape_metrics
TOTAL_DENIED=0
for k in "${!DENIED[@]}"; do TOTAL_DENIED=$((TOTAL_DENIED + DENIED[$k])); done
expect_metric "authorization denials are counted (one per 403)" sigil_authorization_denials_total '' '==' "$TOTAL_DENIED"

serve_stop
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0

finish
