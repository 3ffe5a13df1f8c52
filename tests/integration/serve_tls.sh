#!/usr/bin/env bash
# Issue 3, acceptance 1 and 5: the real `sigil serve` on loopback, driven by curl and openssl
# s_client. With the admin certificate the REST API works (issue, list, show as JSON and PEM,
# revoke, revoke again = 409); the api listener's handshake fails without a client certificate,
# with an expired one, a revoked one (revoked by the CLI while the server runs), one from another
# CA, one with only serverAuth, and with TLS 1.2; 0-RTT data is never answered; resumption works,
# and a resumed session of a certificate revoked in between is refused; /metrics counts it all.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
OTHER="$WORK/other"
C="$WORK/certs"
mkdir -p "$C"
ADMIN_CRT="$H/admin/admin.crt"
ADMIN_KEY="$H/admin/admin.key"

section "set-up"
check "init the CA" serve_init "$H"
check "init another, unrelated CA" serve_init "$OTHER"
check "CLI issues a client certificate (to be revoked while the server runs)" \
  cli_cert "$H" "$C/rev" client "" rev.example.internal
check "CLI issues a client certificate (resumed session, then revoked)" \
  cli_cert "$H" "$C/resrev" client "" resrev.example.internal
check "CLI issues a server-profile certificate (serverAuth only)" \
  cli_cert "$H" "$C/srv" server "" srv.example.internal
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT, public :$PUBLIC_PORT"
if grep -q 'forbidden_ranges allows loopback' "$SERVE_ERR"; then
  fail "the default forbidden_ranges (loopback included) draw no loopback warning" "$(grep -m1 loopback "$SERVE_ERR")"
else
  pass "the default forbidden_ranges (loopback included) draw no loopback warning"
fi

section "the printed URLs work as printed"
# The server certificate names the addresses the TLS listeners bind (here 127.0.0.1), so curl
# verifies each URL exactly as serve printed it: no --resolve, no -k. (Before the baseline scrape.)
printed_url() { awk -v n="$1" '$1 == n { print $2 }' "$SERVE_OUT"; }
for l in api acme public; do
  url="$(printed_url "$l")"
  code=$(curl -sS --max-time 5 --cacert "$H/ca/root.crt" --cert "$H/admin/admin.crt" --key "$H/admin/admin.key" \
    -o /dev/null -w '%{http_code}' "$url/health" 2>"$WORK/url.err" || true)
  expect_eq "$l: $url/health answers 200 as printed" "$code" 200
done
expect_eq "the api URL is the bound address" "$(printed_url api)" "https://127.0.0.1:$API_PORT"
SAN="$(openssl s_client -connect "127.0.0.1:$ACME_PORT" -CAfile "$H/ca/root.crt" </dev/null 2>/dev/null |
  openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"
expect_eq "the server certificate's SANs: its DNS name and the bound address" "$SAN" "DNS:localhost,IPAddress:127.0.0.1"

scrape_metrics "$WORK/metrics.base"
expect_http "baseline /metrics scrape" 200

# Requests this script makes on the api listener after the baseline, by route/method/status.
N_HEALTH=0

section "the admin certificate: every route works"
admin_req GET "$(api /health)"
expect_http "GET /health" 200
N_HEALTH=$((N_HEALTH + 1))
json_check "/health (readiness) says ok and names this node" "$HB" \
  "set(j) == {'status', 'node'} and j['status'] == 'ok' and re.fullmatch('[0-9a-f]{16}', j['node'])"
curl -sS --max-time 5 -o "$WORK/live.json" -w '%{http_code}' "http://localhost:$PUBLIC_PORT/health/live" >"$WORK/live.code" || true
expect_eq "GET /health/live (liveness) answers 200" "$(cat "$WORK/live.code")" 200
json_check "/health/live says ok" "$WORK/live.json" "j == {'status': 'ok'}"

# GET / on the public listener: an HTML index whose every link answers (roots, intermediates, CRLs).
curl -sS --max-time 5 -D "$WORK/index.h" -o "$WORK/index.html" "http://localhost:$PUBLIC_PORT/" || true
check "GET / on the public listener answers 200 text/html" grep -qi '^content-type: text/html' "$WORK/index.h"
links=$(grep -o 'href="/[^"]*"' "$WORK/index.html" | sed 's/^href="//; s/"$//' | sort -u)
check "the index links the roots, the intermediate and its CRL" \
  bash -c "grep -qx /ca/root.crt <<<'$links' && grep -qx /ca/roots.pem <<<'$links' && grep -q '^/ca/.*\.crt\$' <<<'$links' && grep -q '^/crl/' <<<'$links'"
bad=""
for l in $links; do
  code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://localhost:$PUBLIC_PORT$l" || true)
  [[ $code == 200 ]] || bad+=" $l=$code"
done
expect_eq "every link of the index answers 200" "${bad:-none}" none

new_csr "$C/web1.key" "$C/web1.csr" web1.example.internal
issue_body "$C/web1.csr" server 24h >"$C/web1.json"
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' --data-binary "@$C/web1.json"
expect_http "POST /api/v1/certificates" 201
cp "$HB" "$C/web1.resp"
json_check "201 body has serial, certificate, chain, not_before, not_after" "$C/web1.resp" \
  "set(j) >= {'serial','certificate','chain','not_before','not_after'} and RFC3339.match(j['not_before']) and RFC3339.match(j['not_after'])"
json_check "not_after is 24h from now" "$C/web1.resp" "abs(ts(j['not_after']) - $(date +%s) - 86400) < 120"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(j["certificate"]); open(sys.argv[3],"w").write(j["chain"])' \
  "$C/web1.resp" "$C/web1.crt" "$C/web1.chain" 2>/dev/null || true
SERIAL="$(json_field "$C/web1.resp" serial)"
expect_eq "the certificate's serial is the JSON serial" "$(cert_serial "$C/web1.crt")" "$SERIAL"
expect_eq "the chain has the leaf and the intermediate" "$(grep -c 'BEGIN CERTIFICATE' "$C/web1.chain")" 2
check "openssl verify: chain -> root" openssl verify -CAfile "$H/ca/root.crt" -untrusted "$C/web1.chain" "$C/web1.crt"
expect_eq "the certificate carries the CSR's key" \
  "$(openssl x509 -in "$C/web1.crt" -noout -pubkey 2>/dev/null | sha256sum)" \
  "$(openssl req -in "$C/web1.csr" -noout -pubkey 2>/dev/null | sha256sum)"
expect_eq "Location header names the certificate" \
  "$(grep -i '^location:' "$HH" | tr -d '\r' | cut -d' ' -f2)" "/api/v1/certificates/$SERIAL"

admin_req GET "$(api "/api/v1/certificates?status=valid&profile=server")"
expect_http "GET /api/v1/certificates?status=valid&profile=server" 200
json_check "the list holds the new certificate, all valid server ones" "$HB" \
  "'$SERIAL' in [i['serial'] for i in j['items']] and all(i['status'] == 'valid' and i['profile'] == 'server' for i in j['items'])"

admin_req GET "$(api "/api/v1/certificates/$SERIAL")"
expect_http "GET /api/v1/certificates/{serial} (JSON)" 200
json_check "JSON: serial, status valid, SANs, the same certificate" "$HB" \
  "j['serial'] == '$SERIAL' and j['status'] == 'valid' and j['sans'] == ['dns:web1.example.internal'] and j['certificate'] == open('$C/web1.crt').read()"
admin_req GET "$(api "/api/v1/certificates/$SERIAL")" -H 'Accept: application/pem-certificate-chain'
expect_http "GET /api/v1/certificates/{serial} (Accept: application/pem-certificate-chain)" 200
expect_eq "PEM: Content-Type" "$(grep -i '^content-type:' "$HH" | tr -d '\r' | cut -d' ' -f2-)" \
  "application/pem-certificate-chain"
cp "$HB" "$C/web1.pem-chain"
expect_eq "PEM: leaf then intermediate" "$(grep -c 'BEGIN CERTIFICATE' "$C/web1.pem-chain")" 2
expect_eq "PEM: the leaf is the certificate" "$(cert_serial "$C/web1.pem-chain")" "$SERIAL"
check "PEM chain verifies" openssl verify -CAfile "$H/ca/root.crt" -untrusted "$C/web1.pem-chain" "$C/web1.pem-chain"

admin_req POST "$(api "/api/v1/certificates/$SERIAL/revoke")" -H 'Content-Type: application/json' \
  --data '{"reason":"keyCompromise"}'
expect_http "POST /api/v1/certificates/{serial}/revoke" 200
json_check "revoke answer: revoked, keyCompromise" "$HB" \
  "j['serial'] == '$SERIAL' and j['status'] == 'revoked' and j['reason'] == 'keyCompromise' and RFC3339.match(j['revoked_at'])"
admin_req POST "$(api "/api/v1/certificates/$SERIAL/revoke")" -H 'Content-Type: application/json' \
  --data '{"reason":"keyCompromise"}'
expect_problem "revoke the same certificate again" 409 '.'
admin_req GET "$(api "/api/v1/certificates/$SERIAL")"
json_check "GET after revocation says revoked (keyCompromise)" "$HB" \
  "j['status'] == 'revoked' and j.get('revocation_reason') == 'keyCompromise'"
admin_req GET "$(api /api/v1/certificates/0123456789abcdef)"
expect_problem "GET an unknown serial" 404 '.'

section "TLS properties of the api listener"
sclient "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" -showcerts -alpn http/1.1 || true
N_HEALTH=$((N_HEALTH + 1))
expect_eq "the server sends its certificate and the intermediate" "$(grep -c 'BEGIN CERTIFICATE' "$SO")" 2
if grep -aq 'New, TLSv1.3' "$SO" && grep -aq 'ALPN protocol: http/1.1' "$SO" && grep -aq 'HTTP/1.1 200' "$SO"; then
  pass "admin via s_client: TLS 1.3, ALPN http/1.1, HTTP 200"
else
  fail "admin via s_client: TLS 1.3, ALPN http/1.1, HTTP 200" "$(grep -aE 'New,|ALPN|HTTP/1' "$SO" | tr '\n' ';')"
fi
expect_sclient_refused "-tls1_2 against the api listener" "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" -tls1_2
hreq "$ADMIN_CRT" "$ADMIN_KEY" GET "$(api /health)" --tls-max 1.2
expect_no_http "curl --tls-max 1.2 against the api listener"
expect_sclient_refused "-tls1_2 against the acme listener (acme_allow_tls12 is false)" "$ACME_PORT" "" "" -tls1_2
expect_sclient_refused "ALPN h2 only (the server speaks http/1.1)" "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" -alpn h2

section "refused at the handshake: no client certificate"
hreq "" "" GET "$(api /health)"
expect_no_http "curl without a client certificate"
expect_sclient_refused "s_client without a client certificate" "$API_PORT" "" ""

section "refused at the handshake: a certificate from another CA"
hreq "$OTHER/admin/admin.crt" "$OTHER/admin/admin.key" GET "$(api /health)"
expect_no_http "curl with the other CA's admin certificate"
expect_sclient_refused "s_client with the other CA's admin certificate" "$API_PORT" "$OTHER/admin/admin.crt" "$OTHER/admin/admin.key"

section "refused at the handshake: serverAuth only (profile server)"
hreq "$C/srv.crt" "$C/srv.key" GET "$(api /health)"
expect_no_http "curl with a server-profile certificate"
expect_sclient_refused "s_client with a server-profile certificate" "$API_PORT" "$C/srv.crt" "$C/srv.key"

section "refused at the handshake: an expired client certificate"
check "CLI issues a client certificate valid for 4 s" cli_cert "$H" "$C/short" client 4s short.example.internal
hreq "$C/short.crt" "$C/short.key" GET "$(api /health)"
expect_http "while it is valid, it works" 200
N_HEALTH=$((N_HEALTH + 1))
SHORT_END="$(cert_not_after "$C/short.crt")"
# Bounded: the certificate ends within seconds (or SHORT_END is 0 when it could not be read).
while [[ $(date +%s) -le $SHORT_END && $SHORT_END -lt $(($(date +%s) + 10)) ]]; do sleep 0.2; done
hreq "$C/short.crt" "$C/short.key" GET "$(api /health)"
expect_no_http "curl with the expired certificate"
expect_sclient_refused "s_client with the expired certificate" "$API_PORT" "$C/short.crt" "$C/short.key"

section "refused at the handshake: revoked by the CLI while the server runs"
hreq "$C/rev.crt" "$C/rev.key" GET "$(api /health)"
expect_http "before revocation, it works" 200
N_HEALTH=$((N_HEALTH + 1))
check "sigil revoke (CLI, same home, server running)" \
  sigil --home "$H" revoke "$(cert_serial "$C/rev.crt")" --reason keyCompromise
hreq "$C/rev.crt" "$C/rev.key" GET "$(api /health)"
expect_no_http "curl with the revoked certificate (next handshake)"
expect_sclient_refused "s_client with the revoked certificate" "$API_PORT" "$C/rev.crt" "$C/rev.key"

section "session resumption"
sclient "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" -sess_out "$C/admin.sess" || true
N_HEALTH=$((N_HEALTH + 1))
if grep -aq 'HTTP/1.1 200' "$SO" && [[ -s "$C/admin.sess" ]]; then
  pass "full handshake with the admin certificate; session ticket saved"
else
  fail "full handshake with the admin certificate; session ticket saved" "$(grep -aE 'HTTP/1|error' "$SO" | head -3 | tr '\n' ';')"
fi
expect_eq "the ticket allows no early data" \
  "$(openssl sess_id -in "$C/admin.sess" -noout -text 2>/dev/null | grep -o 'Max Early Data: [0-9]*')" "Max Early Data: 0"
# Its fresh ticket (tickets are single use) is the 0-RTT section's.
sclient "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" -sess_in "$C/admin.sess" -sess_out "$C/admin2.sess" || true
N_HEALTH=$((N_HEALTH + 1))
if grep -aq 'Reused, TLSv1.3' "$SO" && grep -aq 'HTTP/1.1 200' "$SO"; then
  pass "resumed session (Reused, TLSv1.3) answers HTTP 200"
else
  fail "resumed session (Reused, TLSv1.3) answers HTTP 200" "$(grep -aE 'New,|Reused|HTTP/1|error' "$SO" | head -3 | tr '\n' ';')"
fi

sclient "$API_PORT" "$C/resrev.crt" "$C/resrev.key" -sess_out "$C/resrev.sess" || true
N_HEALTH=$((N_HEALTH + 1))
# A ticket is used once (RFC 8446 C.4): the resumed connection's fresh one is kept for later.
sclient "$API_PORT" "$C/resrev.crt" "$C/resrev.key" -sess_in "$C/resrev.sess" -sess_out "$C/resrev2.sess" || true
N_HEALTH=$((N_HEALTH + 1))
if grep -aq 'Reused, TLSv1.3' "$SO" && grep -aq 'HTTP/1.1 200' "$SO"; then
  pass "a second client resumes its session (HTTP 200)"
else
  fail "a second client resumes its session (HTTP 200)" "$(grep -aE 'New,|Reused|HTTP/1|error' "$SO" | head -3 | tr '\n' ';')"
fi
check "sigil revoke that client's certificate (CLI, server running)" \
  sigil --home "$H" revoke "$(cert_serial "$C/resrev.crt")" --reason keyCompromise
sclient "$API_PORT" "$C/resrev.crt" "$C/resrev.key" -sess_in "$C/resrev2.sess" || true
if grep -aq 'HTTP/1.1 [0-9]' "$SO"; then
  fail "resuming the revoked certificate's session is refused" "the server answered: $(grep -ao 'HTTP/1.1 [0-9]*.*' "$SO" | head -1)"
elif grep -aq 'Reused, TLSv1.3' "$SO"; then
  pass "resuming the revoked certificate's session: resumed at the TLS layer, then closed without an answer"
else
  pass "resuming the revoked certificate's session: refused ($(grep -aE 'New,|error' "$SO" | head -2 | tr '\n' ' ' | cut -c1-120))"
fi

section "0-RTT early data is never accepted"
printf '%s' "$HEALTH_REQUEST" >"$C/early.req"
timeout 15 openssl s_client -connect "127.0.0.1:$API_PORT" -servername localhost -CAfile "$H/ca/root.crt" \
  -cert "$ADMIN_CRT" -key "$ADMIN_KEY" -sess_in "$C/admin2.sess" -early_data "$C/early.req" </dev/null >"$SO" 2>&1 || true
if grep -aq 'Early data was not sent' "$SO" && ! grep -aq 'HTTP/1.1 [0-9]' "$SO"; then
  pass "with the server's ticket (max_early_data 0), s_client does not send early data; no answer"
else
  fail "with the server's ticket, early data is not sent" "$(grep -aE 'Early data|HTTP/1|error' "$SO" | head -3 | tr '\n' ';')"
fi
# A client that sends 0-RTT anyway (its saved session claims early data is allowed; the ticket
# itself is the server's): the server must reject the early data (or abort the handshake) and
# never answer the early request.
forge_early_data_session "$C/admin.sess" "$C/forged.sess"
expect_eq "forged session claims max_early_data 16384" \
  "$(openssl sess_id -in "$C/forged.sess" -noout -text 2>/dev/null | grep -o 'Max Early Data: [0-9]*')" "Max Early Data: 16384"
timeout 15 openssl s_client -connect "127.0.0.1:$API_PORT" -servername localhost -CAfile "$H/ca/root.crt" \
  -cert "$ADMIN_CRT" -key "$ADMIN_KEY" -sess_in "$C/forged.sess" -early_data "$C/early.req" -ign_eof \
  </dev/null >"$SO" 2>&1 || true
if grep -aq 'Early data was accepted' "$SO" || grep -aq 'HTTP/1.1 [0-9]' "$SO"; then
  fail "0-RTT sent anyway is not accepted" "$(grep -aE 'Early data|HTTP/1' "$SO" | head -3 | tr '\n' ';')"
elif grep -aq 'Early data was rejected' "$SO"; then
  pass "0-RTT sent anyway: 'Early data was rejected', and the early request got no answer ($(grep -aom1 'alert [a-z ]*' "$SO" || echo 'no alert'))"
else
  pass "0-RTT sent anyway: handshake refused, no answer ($(grep -aom1 'alert [a-z ]*' "$SO" || echo "$(grep -aEm1 'error' "$SO" | cut -c1-80)"))"
fi

section "/metrics counts what this script did"
scrape_metrics
expect_http "GET /metrics (admin)" 200
expect_eq "/metrics Content-Type is Prometheus text" \
  "$(grep -i '^content-type:' "$HH" | tr -d '\r' | cut -d' ' -f2- | cut -d';' -f1)" "text/plain"
if python3 - "$WORK/metrics" >"$WORK/prom.err" <<'PY'
import re, sys
ok = True
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    if not re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (\+Inf|NaN)$', line):
        print("bad line:", line); ok = False
sys.exit(0 if ok else 1)
PY
then pass "every /metrics line is a Prometheus sample or HELP/TYPE comment"; else fail "/metrics is Prometheus text" "$(head -3 "$WORK/prom.err" | tr '\n' ';')"; fi
R='listener="api",route='
expect_metric_delta "GET /health 200 on api" sigil_http_requests_total "${R}\"/health\",method=\"GET\",status=\"200\"" "$N_HEALTH"
expect_metric_delta "POST /api/v1/certificates 201" sigil_http_requests_total "${R}\"/api/v1/certificates\",method=\"POST\",status=\"201\"" 1
expect_metric_delta "GET /api/v1/certificates 200" sigil_http_requests_total "${R}\"/api/v1/certificates\",method=\"GET\",status=\"200\"" 1
expect_metric_delta "GET /api/v1/certificates/{serial} 200 (JSON, PEM, after revoke)" sigil_http_requests_total "${R}\"/api/v1/certificates/\{serial\}\",method=\"GET\",status=\"200\"" 3
expect_metric_delta "GET /api/v1/certificates/{serial} 404" sigil_http_requests_total "${R}\"/api/v1/certificates/\{serial\}\",method=\"GET\",status=\"404\"" 1
expect_metric_delta "POST .../revoke 200" sigil_http_requests_total "${R}\"/api/v1/certificates/\{serial\}/revoke\",method=\"POST\",status=\"200\"" 1
expect_metric_delta "POST .../revoke 409" sigil_http_requests_total "${R}\"/api/v1/certificates/\{serial\}/revoke\",method=\"POST\",status=\"409\"" 1
expect_metric_delta "GET /metrics 200 (the baseline scrape)" sigil_http_requests_total "${R}\"/metrics\",method=\"GET\",status=\"200\"" 1
expect_metric_delta "request latency histogram counts the issuance" sigil_http_request_duration_seconds_count "${R}\"/api/v1/certificates\"" 2
expect_metric_delta "certificates issued (server profile)" sigil_certificates_issued_total 'profile="server"' 1
expect_metric_delta "certificates revoked through the API (keyCompromise)" sigil_certificates_revoked_total 'reason="keyCompromise"' 1
F=sigil_tls_handshake_failures_total
expect_metric_delta "handshake failures: no certificate (curl, s_client)" $F 'listener="api",reason="peer did not return a certificate"' 2
expect_metric_delta "handshake failures: other CA" $F 'listener="api",reason="unable to get local issuer certificate"' 2
expect_metric_delta "handshake failures: serverAuth only" $F 'listener="api",reason="unsuitable certificate purpose"' 2
expect_metric_delta "handshake failures: expired" $F 'listener="api",reason="certificate has expired"' 2
expect_metric_delta "handshake failures: revoked" $F 'listener="api",reason="certificate revoked"' 2
expect_metric_delta "handshake failures: TLS 1.2 on api" $F 'listener="api",reason="unsupported protocol"' 2
expect_metric_delta "handshake failures: revoked, on resumption" $F 'listener="api",reason="resumed session: certificate revoked"' 1
expect_metric "handshake failures: TLS 1.2 on acme" $F 'listener="acme"' '>=' 1
expect_metric "resumed handshakes are counted" sigil_tls_handshakes_total 'listener="api",resumed="yes"' '>=' 2
expect_metric "expiring-within-7d gauge is present" sigil_certificates_expiring_7d '' '>=' 0
if grep -q 'reason="certificate revoked"' "$SERVE_ERR" || grep -q 'client certificate refused.*revoked' "$SERVE_ERR"; then
  pass "the server logs the refusal reason (revoked)"
else
  fail "the server logs the refusal reason (revoked)" "$(grep -m3 refused "$SERVE_ERR")"
fi

section "SIGTERM"
serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0

section "an address the intermediate does not permit: the URL names the DNS name"
# The intermediate was made for 127.0.0.1; ::1 is outside its name constraints. serve still starts,
# its certificate names localhost only, and the printed api URL uses that name.
SERVE_OUT="$WORK/serve6.out" SERVE_ERR="$WORK/serve6.err"
"$SIGIL" --home "$H" serve --api-listen '[::1]:0' --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
  >"$SERVE_OUT" 2>"$SERVE_ERR" &
SERVE_PID=$!
SERVE_PIDS+=("$SERVE_PID")
if wait_for 15 grep -q '^public http://' "$SERVE_OUT"; then
  url="$(printed_url api)"
  expect_eq "printed api URL uses localhost" "$url" "https://localhost:$(_listener_port api "$SERVE_OUT")"
  code=$(curl -sS --max-time 5 --cacert "$H/ca/root.crt" --cert "$H/admin/admin.crt" --key "$H/admin/admin.key" \
    -o /dev/null -w '%{http_code}' "$url/health" 2>"$WORK/url.err" || true)
  expect_eq "$url/health answers 200 as printed" "$code" 200
  if grep -q 'names no IP address' "$SERVE_ERR"; then pass "serve says why the certificate names no address"
  else fail "serve says why the certificate names no address" "$(head -3 "$SERVE_ERR")"; fi
  serve_stop "$SERVE_PID" 10
else
  fail "serve starts with the api on [::1]" "$(head -5 "$SERVE_ERR")"
fi

finish
