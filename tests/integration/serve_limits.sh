#!/usr/bin/env bash
# Issue 3, acceptance 4: bad requests get the right status and cannot hurt the server.
# Malformed JSON, unknown fields, a body that is not an object, a CSR in the wrong format: 400
# problem documents; a 10 MB body: 413 (or a closed connection) at limits.max_body (1 MiB);
# oversized headers: 431; a request that dribbles one byte a second, and a connection that
# never speaks: closed by the server at limits.request_timeout (3s); limits.
# max_connections_per_address (4): the 5th connection is refused, and once the 4 are gone new
# ones work. During and after each, a normal client keeps getting /health. SIGTERM: exit 0,
# promptly, even with a connection open.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
TIMEOUT=3
JSON=(-H 'Content-Type: application/json')

section "set-up"
check "init the CA" serve_init "$H"
check "limits: max_body 1 MiB, request_timeout ${TIMEOUT}s, max_connections_per_address 4" config_edit "$H" "
j['limits']['max_body'] = 1048576
j['limits']['request_timeout'] = '${TIMEOUT}s'
j['limits']['max_connections_per_address'] = 4"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT, public :$PUBLIC_PORT"

# still_serving DESC: a normal client gets /health on the api listener, promptly.
still_serving() {
  local t0=$SECONDS
  admin_req GET "$(api /health)" --max-time 5
  if [[ $HCODE == 200 ]]; then
    pass "$1: /health still answers (HTTP 200)"
  else
    fail "$1: /health still answers" "HTTP $HCODE after $((SECONDS - t0))s (curl exit $HRC: $(head -c 150 "$HE"))"
  fi
}

new_csr "$WORK/ok.key" "$WORK/ok.csr" ok.example.internal
post_json() {  # BODY-FILE: POST /api/v1/certificates as the admin
  admin_req POST "$(api /api/v1/certificates)" "${JSON[@]}" --data-binary "@$1"
}

section "malformed requests: 400 problem documents"
printf '{"csr": "-----BEGIN CERTIFICATE REQUEST-----\\n' >"$WORK/truncated.json"
post_json "$WORK/truncated.json"
expect_problem "truncated JSON" 400 'malformed'
printf '{"csr": "x",, "profile": "server"}' >"$WORK/commas.json"
post_json "$WORK/commas.json"
expect_problem "JSON syntax error" 400 'malformed'
printf '["not", "an", "object"]' >"$WORK/array.json"
post_json "$WORK/array.json"
expect_problem "JSON that is not an object" 400 'malformed'
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "server", "colour": "blue"}))' \
  "$WORK/ok.csr" >"$WORK/unknown.json"
post_json "$WORK/unknown.json"
expect_problem "unknown JSON field 'colour'" 400 'malformed'
grep -q colour "$HB" && pass "the problem names the unknown field" || fail "the problem names the unknown field" "$(cat "$HB")"
python3 -c 'import json,sys; print(json.dumps({"csr": 42, "profile": "server"}))' >"$WORK/type.json"
post_json "$WORK/type.json"
expect_problem "csr of the wrong JSON type" 400 'malformed'
# The same CSR as base64 DER without PEM armour.
openssl req -in "$WORK/ok.csr" -outform DER 2>/dev/null | base64 -w0 >"$WORK/ok.b64"
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "server"}))' \
  "$WORK/ok.b64" >"$WORK/der.json"
post_json "$WORK/der.json"
expect_problem "CSR as base64 DER without PEM armour" 400 'badCSR'
python3 -c 'import json; print(json.dumps({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n", "profile": "server"}))' \
  >"$WORK/garbage.json"
post_json "$WORK/garbage.json"
expect_problem "PEM armour around garbage" 400 'badCSR|malformed'
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "server"}))' \
  "$WORK/ok.csr" >"$WORK/ok.json"
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: text/plain' --data-binary "@$WORK/ok.json"
expect_problem "Content-Type text/plain" 400 'malformed'
admin_req POST "$(api /api/v1/certificates/zz-not-hex/revoke)" "${JSON[@]}" --data '{}'
expect_problem "a serial that is not hex" 400 '.'
admin_req GET "$(api "/api/v1/certificates?colour=blue")"
expect_problem "unknown query parameter" 400 'malformed'
post_json "$WORK/ok.json"
expect_http "and the well-formed request is accepted" 201
still_serving "after the malformed requests"

section "a 10 MB body (max_body 1 MiB)"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$WORK/big.body"
T0=$(date +%s.%N)
admin_req POST "$(api /api/v1/certificates)" "${JSON[@]}" --data-binary "@$WORK/big.body"
ELAPSED=$(python3 -c "print(round($(date +%s.%N) - $T0, 2))")
if [[ $HCODE == 413 ]]; then
  expect_problem "10 MB body (${ELAPSED}s)" 413 '.'
elif [[ $HCODE == 000 && $HRC -ne 0 ]]; then
  pass "10 MB body: connection closed by the server without an answer (${ELAPSED}s; curl: $(tr -d '\n' <"$HE" | cut -c1-80))"
else
  fail "10 MB body gets 413 or a closed connection" "HTTP $HCODE, curl exit $HRC"
fi
# Without Content-Length (chunked), so that the server has to count.
admin_req POST "$(api /api/v1/certificates)" "${JSON[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/big.body"
if [[ $HCODE == 413 || ($HCODE == 000 && $HRC -ne 0) ]]; then
  pass "10 MB chunked body: 413 or closed (HTTP $HCODE)"
else
  fail "10 MB chunked body gets 413 or a closed connection" "HTTP $HCODE, curl exit $HRC"
fi
head -c $((1024 * 1024 - 4096)) /dev/zero | tr '\0' 'a' >"$WORK/under.body"
admin_req POST "$(api /api/v1/certificates)" "${JSON[@]}" --data-binary "@$WORK/under.body"
expect_problem "a body just under max_body is read (and refused as JSON)" 400 'malformed'
still_serving "after the large bodies"

section "oversized headers (max_header 16 KiB)"
BIGH="X-Filler: $(head -c 20000 /dev/zero | tr '\0' 'b')"
admin_req GET "$(api /health)" -H "$BIGH"
if [[ $HCODE == 431 || ($HCODE == 000 && $HRC -ne 0) ]]; then
  pass "a 20 KB header: 431 or closed (HTTP $HCODE)"
else
  fail "a 20 KB header gets 431 or a closed connection" "HTTP $HCODE"
fi
still_serving "after the oversized header"

# dribble MODE PORT RATE-SECONDS MAX-SECONDS: sends a request one byte at a time (TLS with the
# admin certificate, or plain); prints JSON {closed_after, answered, sent, how}.
dribble() {
  "$PY" - "$1" "$2" "$3" "$4" "$H/ca/root.crt" "$H/admin/admin.crt" "$H/admin/admin.key" <<'PY'
import json, select, socket, ssl, sys, time
mode, port, rate, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
root, cert, key = sys.argv[5:8]
s = socket.create_connection(("127.0.0.1", port), timeout=limit)
if mode == "tls":
    ctx = ssl.create_default_context(cafile=root)
    ctx.load_cert_chain(cert, key)
    s = ctx.wrap_socket(s, server_hostname="localhost")
t0 = time.time()
req = b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n" + b"{" * 200
if mode == "silent":
    req = b""
s.setblocking(False)
sent, answered, how = 0, False, "still open at the limit"
next_send = t0
while time.time() - t0 < limit:
    if sent < len(req) and time.time() >= next_send:
        try:
            sent += s.send(req[sent:sent + 1])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            pass
        except (ssl.SSLError, OSError) as e:
            how = "send failed: " + type(e).__name__
            break
        next_send += rate
    select.select([s], [], [], max(0.0, min(next_send - time.time(), 0.2)))
    try:
        data = s.recv(4096)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        continue  # nothing yet (or only TLS records such as session tickets)
    except (ssl.SSLError, OSError) as e:
        how = "error: " + type(e).__name__
        break
    if not data:
        how = "closed (EOF)"
        break
    if data.startswith(b"HTTP/"):
        answered = True
        how = "answered: " + data.split(b"\r\n")[0].decode()
        break
print(json.dumps({"closed_after": round(time.time() - t0, 2), "answered": answered, "sent": sent, "how": how}))
PY
}

section "a request that dribbles one byte a second (request_timeout ${TIMEOUT}s)"
dribble tls "$API_PORT" 1 $((TIMEOUT + 8)) >"$WORK/dribble1.json" 2>"$WORK/dribble1.err" &
D1=$!
BG_PIDS+=("$D1")
dribble tls "$API_PORT" 1 $((TIMEOUT + 8)) >"$WORK/dribble2.json" 2>/dev/null &
D2=$!
BG_PIDS+=("$D2")
sleep 1
still_serving "while two clients dribble"
wait "$D1" "$D2" || true
json_check "TLS dribbler closed by the server after ~${TIMEOUT}s, unanswered" "$WORK/dribble1.json" \
  "not j['answered'] and j['sent'] >= 2 and j['how'] != 'still open at the limit' and $((TIMEOUT - 1)) <= j['closed_after'] <= $((TIMEOUT + 3))"
sed -n '1s/^/        dribble| /p' "$WORK/dribble1.json"
json_check "second TLS dribbler closed too" "$WORK/dribble2.json" \
  "not j['answered'] and j['closed_after'] <= $((TIMEOUT + 3))"
dribble plain "$PUBLIC_PORT" 1 $((TIMEOUT + 8)) >"$WORK/dribble3.json" 2>&1 || true
json_check "plain-HTTP dribbler (public listener) closed after ~${TIMEOUT}s" "$WORK/dribble3.json" \
  "not j['answered'] and j['how'] != 'still open at the limit' and j['closed_after'] <= $((TIMEOUT + 3))"
dribble silent "$API_PORT" 1 $((TIMEOUT + 8)) >"$WORK/silent.json" 2>&1 || true
json_check "a TLS connection that never sends a request is closed after ~${TIMEOUT}s" "$WORK/silent.json" \
  "not j['answered'] and j['how'] != 'still open at the limit' and j['closed_after'] <= $((TIMEOUT + 3))"
# A raw TCP connection that never even sends a ClientHello.
"$PY" - "$API_PORT" $((TIMEOUT + 8)) >"$WORK/raw.json" 2>&1 <<'PY' || true
import json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
t0 = time.time()
try:
    data = s.recv(100)
    how = "closed (EOF)" if not data else "data"
except socket.timeout:
    how = "still open at the limit"
except OSError as e:
    how = "error: " + type(e).__name__
print(json.dumps({"closed_after": round(time.time() - t0, 2), "how": how}))
PY
json_check "a TCP connection that never starts TLS is closed after ~${TIMEOUT}s" "$WORK/raw.json" \
  "j['how'] != 'still open at the limit' and j['closed_after'] <= $((TIMEOUT + 3))"
still_serving "after the slow clients"

section "max_connections_per_address = 4"
established() {  # connections accepted by the api listener from 127.0.0.1
  ss -Htn state established "( sport = :$API_PORT )" 2>/dev/null | wc -l
}
wait_for 5 bash -c "[[ \$(ss -Htn state established '( sport = :$API_PORT )' | wc -l) -eq 0 ]]" || true
T_OPEN=$(date +%s.%N)
IDLE=()
for i in 1 2 3 4; do
  openssl s_client -connect "127.0.0.1:$API_PORT" -servername localhost -CAfile "$H/ca/root.crt" \
    -cert "$H/admin/admin.crt" -key "$H/admin/admin.key" -ign_eof </dev/null >"$WORK/idle$i.out" 2>&1 &
  IDLE+=($!)
  BG_PIDS+=($!)
done
if wait_for 2 bash -c "[[ \$(ss -Htn state established '( sport = :$API_PORT )' | wc -l) -ge 4 ]]"; then
  pass "4 idle TLS connections open ($(established) established on the api port)"
else
  fail "4 idle TLS connections open" "$(established) established"
fi
T5=$(date +%s.%N)
sclient "$API_PORT" "$H/admin/admin.crt" "$H/admin/admin.key" || true
AGE=$(python3 -c "print(round($(date +%s.%N) - $T_OPEN, 2))")
if grep -aq 'HTTP/1.1 [0-9]' "$SO"; then
  fail "the 5th connection is refused" "it was answered: $(grep -ao 'HTTP/1.1 [0-9]*' "$SO" | head -1)"
elif python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $T5 < 2 else 1)"; then
  pass "the 5th connection is refused at once, no handshake ($(grep -aEm1 'errno|error|alert' "$SO" | cut -c1-80))"
else
  fail "the 5th connection is refused quickly" "took $(python3 -c "print(round($(date +%s.%N) - $T5, 2))")s"
fi
if python3 -c "import sys; sys.exit(0 if $AGE < $TIMEOUT else 1)"; then
  pass "(the 4 were still open when the 5th was tried: ${AGE}s < request_timeout)"
else
  fail "the 5th was tried while the 4 were open" "${AGE}s after opening them, request_timeout is ${TIMEOUT}s: inconclusive"
fi
admin_req GET "$(api /health)" --max-time 3
expect_no_http "curl while 4 connections are open: refused too"
for p in "${IDLE[@]}"; do kill "$p" 2>/dev/null || true; done
if wait_for 5 _api_health_ok; then
  pass "after the 4 are closed, new connections work again"
else
  fail "after the 4 are closed, new connections work again" "$(established) still established"
fi
scrape_metrics
expect_metric "refused connections are counted" sigil_connections_refused_total 'reason="per_address_limit"' '>=' 2

section "the server kept count"
expect_metric "413 counted" sigil_http_requests_total 'status="413"' '>=' 1
expect_metric "400s counted" sigil_http_requests_total 'listener="api",route="/api/v1/certificates",method="POST",status="400"' '>=' 8
expect_metric "timeouts counted as handshake failures or closed requests" sigil_tls_handshake_failures_total 'reason="timeout"' '>=' 1

section "SIGTERM with a connection open"
openssl s_client -connect "127.0.0.1:$API_PORT" -servername localhost -CAfile "$H/ca/root.crt" \
  -cert "$H/admin/admin.crt" -key "$H/admin/admin.key" -ign_eof </dev/null >"$WORK/open.out" 2>&1 &
BG_PIDS+=($!)
wait_for 2 bash -c "[[ \$(ss -Htn state established '( sport = :$API_PORT )' | wc -l) -ge 1 ]]" || true
serve_stop "$SERVE_PID" 10
expect_eq "SIGTERM: exit code 0" "$STOP_RC" 0
if python3 -c "import sys; sys.exit(0 if $STOP_SECS <= 6 else 1)"; then
  pass "SIGTERM: exited in ${STOP_SECS}s (drain bound 5 s)"
else
  fail "SIGTERM: exits within a few seconds" "took ${STOP_SECS}s"
fi
grep -q 'msg=stopped' "$SERVE_ERR" && pass "the server logged 'stopped'" || fail "the server logged 'stopped'" "$(tail -2 "$SERVE_ERR")"

finish
