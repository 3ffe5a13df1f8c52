#!/usr/bin/env bash
# Issue 16, item 1: the web console in a real browser. Debian's chromium, driven by npm's
# playwright-core (console/console_test.js) with the admin's and a viewer's client certificates:
# /ui/ loads with 200 and no JavaScript or CSP error, shows a certificate issued just before,
# the root and the intermediate and an SVG expiry chart with data; the admin revokes through the
# console (with its confirmation step) and OCSP says revoked (openssl ocsp); a viewer sees the
# inventory but has no revoke button, and its forged POST is 403; browser POSTs without the
# console's header, or not JSON, are 403; without a client certificate the TLS layer refuses.
# curl checks the same refusals and headers from outside a browser. A full-page screenshot is
# kept in $CONSOLE_ARTIFACTS (default build/artifacts).
# Run inside a private network namespace after console/install.sh (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

NODE_DIR="${CONSOLE_NODE_DIR:?set CONSOLE_NODE_DIR to where console/install.sh installed playwright-core}"
ARTIFACTS="${CONSOLE_ARTIFACTS:-$(dirname "$SIGIL")/../artifacts}"
mkdir -p "$ARTIFACTS"
ARTIFACTS="$(cd "$ARTIFACTS" && pwd)"
CHROMIUM="${CHROMIUM:-/usr/lib/chromium/chromium}"
H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
JSON=(-H 'Content-Type: application/json')

section "set-up"
for tool in node "$CHROMIUM"; do
  command -v "$tool" >/dev/null || { fail "needs $tool (ops/install-deps.sh: nodejs, chromium)"; finish; }
done
check "playwright-core is installed in $NODE_DIR" test -f "$NODE_DIR/node_modules/playwright-core/package.json"
check "init the CA" serve_init "$H"
check "authorization: a viewer" config_edit "$H" '
j["authorization"] += [{"identity": "viewer.example.internal", "role": "viewer"}]'
check "CLI: client certificate for viewer.example.internal" cli_cert "$H" "$C/viewer" client "" viewer.example.internal
check "serve" serve_start "$H"

# Two certificates issued just before the browser looks: the admin revokes the first through the
# console; the viewer tries to revoke the second.
issue() {
  new_csr "$C/$1.key" "$C/$1.csr" "$2" "$2"
  issue_body "$C/$1.csr" server 2h >"$C/$1.json"
  admin_req POST "$(api /api/v1/certificates)" "${JSON[@]}" --data-binary "@$C/$1.json"
  [[ "$HCODE" == 201 ]] || return 1
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(j["certificate"]); print(j["serial"])' \
    "$HB" "$C/$1.crt" >"$C/$1.serial"
}
check "REST: issue web.example.internal" issue web web.example.internal
check "REST: issue api.example.internal" issue other api.example.internal
SERIAL="$(cat "$C/web.serial")"
OTHER="$(cat "$C/other.serial")"

section "the console over curl"
hreq "" "" GET "$(api /ui/)"
expect_no_http "GET /ui/ without a client certificate"
admin_req GET "$(api /ui)"
if [[ "$HCODE" == 308 ]] && grep -qi '^location: /ui/' "$HH"; then pass "GET /ui redirects to /ui/ (308)"; else fail "GET /ui redirects to /ui/" "HTTP $HCODE"; fi
admin_req GET "$(api /ui/)"
expect_http "admin: GET /ui/" 200
for h in "content-security-policy: default-src 'self'" "x-content-type-options: nosniff" "content-type: text/html" \
  "cache-control: no-cache"; do
  if grep -qi "^$h" "$HH"; then pass "GET /ui/ sends ${h%%:*}"; else fail "GET /ui/ sends $h" "$(tr -d '\r' <"$HH")"; fi
done
if grep -q '<script' "$HB" && ! grep -Eq '<script>|<script [^>]*>[^<]' "$HB"; then
  pass "index.html has no inline script"
else
  fail "index.html has no inline script"
fi
admin_req GET "$(api /ui/app.js)"
if [[ "$HCODE" == 200 ]] && grep -qi '^content-type: text/javascript' "$HH"; then pass "GET /ui/app.js (text/javascript)"; else fail "GET /ui/app.js" "HTTP $HCODE"; fi
admin_req GET "$(api /ui/../../sigil.json)" --path-as-is
[[ "$HCODE" == 404 ]] && pass "no path outside the console's files (HTTP 404)" || fail "no path outside the console's files" "HTTP $HCODE"
hreq "$C/viewer.crt" "$C/viewer.key" GET "$(api /api/v1/stats)"
expect_http "viewer: GET /api/v1/stats" 200
json_check "stats: counts, rates, 90 days of expiries" "$HB" \
  "j['certificates']['valid'] >= 2 and len(j['expiring_per_day']) == 90 and sum(j['expiring_per_day']) >= 2 and j['rates']['issued']['last_hour'] >= 2"
hreq "$C/viewer.crt" "$C/viewer.key" GET "$(api /api/v1/acme/eab)"
expect_problem "viewer: EAB keys stay the admin's" 403 'unauthorized'
hreq "$C/viewer.crt" "$C/viewer.key" POST "$(api "/api/v1/certificates/$OTHER/revoke")" "${JSON[@]}" --data '{}'
expect_problem "viewer: revoke (curl)" 403 'unauthorized'
admin_req POST "$(api "/api/v1/certificates/$OTHER/revoke")" "${JSON[@]}" -H 'Sec-Fetch-Site: cross-site' \
  -H 'X-Sigil-Console: 1' --data '{}'
expect_problem "admin: a cross-site browser POST is refused" 403 'unauthorized'
admin_req POST "$(api "/api/v1/certificates/$OTHER/revoke")" "${JSON[@]}" -H "Origin: https://evil.example" \
  -H 'X-Sigil-Console: 1' --data '{}'
expect_problem "admin: a POST from another Origin is refused" 403 'unauthorized'
admin_req GET "$(api "/api/v1/certificates/$OTHER")"
json_check "neither refused POST revoked anything" "$HB" "j['status'] == 'valid'"

section "the console in chromium"
ROOT_CN="$(openssl x509 -in "$H/ca/root.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')"
INTER_CN="$(openssl x509 -in "$H/ca/intermediate.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')"
SHOT="$ARTIFACTS/console.png"
rm -f "$SHOT"
CONSOLE_BASE="https://localhost:$API_PORT" CONSOLE_SERIAL="$SERIAL" CONSOLE_OTHER_SERIAL="$OTHER" \
  CONSOLE_NAME=web.example.internal CONSOLE_OTHER_NAME=api.example.internal CONSOLE_CSR="$C/other.csr" \
  CONSOLE_ROOT_CN="$ROOT_CN" CONSOLE_INTERMEDIATE_CN="$INTER_CN" CONSOLE_SCREENSHOT="$SHOT" \
  ADMIN_CERT="$H/admin/admin.crt" ADMIN_KEY="$H/admin/admin.key" VIEWER_CERT="$C/viewer.crt" VIEWER_KEY="$C/viewer.key" \
  NODE_EXTRA_CA_CERTS="$H/ca/root.crt" NODE_PATH="$NODE_DIR/node_modules" CHROMIUM="$CHROMIUM" HOME="$WORK" \
  timeout 180 node "$(dirname "$0")/console/console_test.js" >"$WORK/browser.out" 2>&1 || true
while IFS= read -r line; do
  case "$line" in
    "PASS "*) pass "${line#PASS }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
  esac
done <"$WORK/browser.out"
grep -q '^PASS ' "$WORK/browser.out" || { fail "the browser test ran" "$(head -c 600 "$WORK/browser.out")"; }
[[ -s "$SHOT" ]] && echo "  screenshot: $SHOT"

section "the console's revocation, seen by relying parties"
split_chain "$C/web.crt" "$C/web.leaf" "$C/unused"
check "the revoked certificate's OCSP URL" test -n "$(cert_ocsp_url "$C/web.leaf")"
poll_until $(($(now_us) + 5000000)) bash -c "
  timeout 15 openssl ocsp -timeout 10 -issuer '$H/ca/intermediate.crt' -cert '$C/web.leaf' \
    -url '$(on_public "$(cert_ocsp_url "$C/web.leaf")")' -CAfile '$H/ca/root.crt' >'$WORK/ocsp.out' 2>&1
  grep -q ': revoked' '$WORK/ocsp.out'" || true
ossl_ocsp "$WORK/ocsp.out" -issuer "$H/ca/intermediate.crt" -cert "$C/web.leaf" \
  -url "$(on_public "$(cert_ocsp_url "$C/web.leaf")")" -CAfile "$H/ca/root.crt"
expect_ocsp "openssl ocsp: the certificate revoked in the console is revoked" "$WORK/ocsp.out" "$C/web.leaf" revoked
ossl_ocsp "$WORK/ocsp2.out" -issuer "$H/ca/intermediate.crt" -cert "$C/other.crt" \
  -url "$(on_public "$(cert_ocsp_url "$C/other.crt")")" -CAfile "$H/ca/root.crt"
expect_ocsp "openssl ocsp: the one the viewer tried to revoke is good" "$WORK/ocsp2.out" "$C/other.crt" good

section "sigil audit list"
check "local: the console's revocation, by the admin" bash -c "
  '$SIGIL' --home '$H' audit list --action revoke --since 1h >'$WORK/audit.txt' &&
  grep -q '$SERIAL' '$WORK/audit.txt' && grep -q 'api:sigil-admin' '$WORK/audit.txt'"
check "local --json: the viewer's refused revocation" bash -c "
  '$SIGIL' --home '$H' --json audit list --actor api:viewer.example.internal --action revoke >'$WORK/audit.json'"
json_check "the refusal row names the serial" "$WORK/audit.json" \
  "any(e['outcome'] == 'refused' and e['target'] == '$OTHER' for e in j['items'])"
check "remote (--server): the same rows as REST" bash -c "
  '$SIGIL' --home '$H' --json audit list --server https://localhost:$API_PORT --action revoke --limit 1 \
    --ca '$H/ca/root.crt' >'$WORK/audit-remote.json'"
json_check "remote: one row and a next page token" "$WORK/audit-remote.json" \
  "len(j['items']) == 1 and j['next_page_token'].isdigit()"
expect_fail "a --since that is neither a duration nor a time" "$SIGIL" --home "$H" audit list --since yesterday
cp "$ERR" "$WORK/since.err"
check "it said why on one line" bash -c "[[ \$(wc -l <'$WORK/since.err') == 1 ]] && grep -q 'since' '$WORK/since.err'"

finish
