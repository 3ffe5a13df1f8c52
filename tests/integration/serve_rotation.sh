#!/usr/bin/env bash
# Issue 3, acceptance 3: the server's own certificate is replaced while clients keep working.
# tls.server_cert_ttl is 15s, so the server must renew it at two thirds (about every 10 s).
# For ~33 s a client loop makes requests on new connections (GET /health and POST issuance with
# the admin certificate, curl trusting only the root) while a second client keeps one
# keep-alive connection open and sends a request every second: zero failed requests, new
# connections see new certificate serials, the long-lived connection is never dropped, and the
# renewals happen at the configured pace (not earlier, not in a loop). SIGHUP renews at once.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
LOOP_SECS=33
TTL=15

section "set-up"
check "init the CA" serve_init "$H"
check "tls.server_cert_ttl = ${TTL}s" config_edit "$H" "j['tls']['server_cert_ttl'] = '${TTL}s'"
new_csr "$WORK/loop.key" "$WORK/loop.csr" loop.example.internal
issue_body "$WORK/loop.csr" server 1h >"$WORK/loop.json"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT"
S0="$(server_serial "$ACME_PORT")"
# logged SERIAL: the server logged this serial as its certificate (at start or renewed).
logged() { [[ -n "$1" ]] && grep -Eq "(server_cert|serial)=$1( |\$)" "$SERVE_ERR"; }
if [[ -n "$S0" ]] && wait_for 2 logged "$S0"; then
  pass "a new connection sees the server's own certificate ($S0)"
else
  fail "a new connection sees the server's own certificate" "serial '$S0' is not in the server's log"
fi
T_START=$(date +%s)

# A keep-alive client: one TLS connection, one request a second, reports what it saw.
"$PY" - "$H/ca/root.crt" "$H/admin/admin.crt" "$H/admin/admin.key" "$API_PORT" "$LOOP_SECS" \
  >"$WORK/keepalive.json" 2>"$WORK/keepalive.err" <<'PY' &
import http.client, json, ssl, sys, time
root, cert, key, port, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
ctx = ssl.create_default_context(cafile=root)
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
conn.connect()
sock = conn.sock
serial = format(int(conn.sock.getpeercert()["serialNumber"], 16), "x")
ok, failed, reconnects, errors = 0, 0, 0, []
deadline = time.time() + secs
while time.time() < deadline:
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            ok += 1
        else:
            failed += 1
            errors.append("HTTP %d" % r.status)
    except Exception as e:  # a dropped connection shows up here
        failed += 1
        errors.append(repr(e))
        conn.close()
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    if conn.sock is not sock:
        reconnects += 1
        sock = conn.sock
    time.sleep(1)
print(json.dumps({"ok": ok, "failed": failed, "reconnects": reconnects, "serial": serial, "errors": errors[:5]}))
PY
KEEPALIVE_PID=$!
BG_PIDS+=("$KEEPALIVE_PID")

section "client loop on new connections for ${LOOP_SECS}s while the certificate rotates"
OK=0
FAILED=0
declare -A SEEN=()
: >"$WORK/loop.err"
curl_loop() {  # METHOD URL [args]: one request on a new connection; records the server's serial
  local method="$1" url="$2"
  shift 2
  local out code serial
  out=$(curl -sS --max-time 10 --cacert "$H/ca/root.crt" --resolve "localhost:$API_PORT:127.0.0.1" \
    --cert "$H/admin/admin.crt" --key "$H/admin/admin.key" -X "$method" -o /dev/null \
    -w '%{http_code}\n%{certs}' "$@" "$url" 2>>"$WORK/loop.err") || true
  code="$(head -1 <<<"$out")"
  serial="$(grep -m1 '^Serial Number:' <<<"$out" | cut -d: -f2 | tr 'A-F' 'a-f')"
  [[ -n "$serial" ]] && SEEN[$serial]=1
  if [[ "$code" =~ ^20[01]$ ]]; then
    OK=$((OK + 1))
  else
    FAILED=$((FAILED + 1))
    echo "$(date +%T) $method $url -> '${code:-none}'" >>"$WORK/loop.err"
  fi
}
deadline=$((SECONDS + LOOP_SECS))
while [[ $SECONDS -lt $deadline ]]; do
  curl_loop GET "$(api /health)"
  curl_loop POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' --data-binary "@$WORK/loop.json"
done
T_END=$(date +%s)
if [[ $FAILED -eq 0 && $OK -gt 20 ]]; then
  pass "$OK requests on new connections, 0 failed"
else
  fail "zero failed requests on new connections" "$OK ok, $FAILED failed; $(tail -3 "$WORK/loop.err" | tr '\n' ';')"
fi
if [[ ${#SEEN[@]} -ge 3 ]]; then
  pass "new connections saw ${#SEEN[@]} different server certificates"
else
  fail "new connections see new server certificates (at least 3 over ${LOOP_SECS}s)" "saw ${#SEEN[@]}: ${!SEEN[*]}"
fi

wait_for 10 bash -c "! kill -0 $KEEPALIVE_PID" || true
json_check "keep-alive connection: a request every second, none failed, never reconnected" "$WORK/keepalive.json" \
  "j['ok'] >= $((LOOP_SECS / 2)) and j['failed'] == 0 and j['reconnects'] == 0"
sed -n '1,3s/^/        keepalive| /p' "$WORK/keepalive.err"

section "renewals: how many, and when"
grep 'msg="server certificate renewed"' "$SERVE_ERR" >"$WORK/renewals.log" || true
# Renewals inside the loop's window, and the gaps between consecutive ones.
python3 - "$WORK/renewals.log" "$T_START" "$T_END" "$TTL" >"$WORK/cadence.txt" <<'PY' || true
import calendar, re, sys, time
path, t0, t1, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ts = []
for line in open(path):
    m = re.match(r"ts=(\S+)Z ", line)
    if m:
        ts.append(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")))
inside = [t for t in ts if t0 <= t <= t1]
gaps = [b - a for a, b in zip(inside, inside[1:])]
print(len(inside), min(gaps) if gaps else -1, max(gaps) if gaps else -1)
PY
read -r N_INSIDE MIN_GAP MAX_GAP <"$WORK/cadence.txt" || true
WINDOW=$((T_END - T_START))
if [[ ${N_INSIDE:-0} -ge 2 ]]; then
  pass "the server certificate was replaced $N_INSIDE times in ${WINDOW}s"
else
  fail "the server certificate is replaced at least twice in ${WINDOW}s" "renewed ${N_INSIDE:-0} times"
fi
# At two thirds of a ${TTL}s lifetime: about every $((TTL * 2 / 3))s, so at most WINDOW/5 + 1 times.
MAX_EXPECTED=$((WINDOW / 5 + 1))
if [[ ${N_INSIDE:-0} -le $MAX_EXPECTED && ${MIN_GAP:--1} -ge 5 ]]; then
  pass "renewals follow the lifetime: $N_INSIDE in ${WINDOW}s, gaps ${MIN_GAP}-${MAX_GAP}s (expected ~$((TTL * 2 / 3))s)"
else
  fail "renewals at two thirds of the ${TTL}s lifetime (about every $((TTL * 2 / 3))s, at most $MAX_EXPECTED in ${WINDOW}s)" \
    "$N_INSIDE renewals in ${WINDOW}s, smallest gap ${MIN_GAP}s (log resolution 1 s); $(sqlite3 "$H/sigil.db" \
    "select count(*) from certificates where requester='sigil-serve'" 2>&1) server certificates in the database; \
the first ran $(sqlite3 "$H/sigil.db" "select datetime(not_before,'unixepoch') || ' .. ' || datetime(not_after,'unixepoch') \
|| ', issued ' || datetime(created_at,'unixepoch') from certificates where requester='sigil-serve' order by created_at limit 1" 2>&1) \
(notBefore is backdated by issuance.backdate: two thirds of notAfter - notBefore may already be past at issuance)"
fi
S1="$(server_serial "$ACME_PORT")"
if [[ -n "$S1" && "$S1" != "$S0" ]] && wait_for 2 grep -q "serial=$S1" "$SERVE_ERR"; then
  pass "a new connection now sees a renewed certificate ($S0 -> $S1)"
else
  fail "a new connection sees a renewed certificate" "before $S0, now '$S1'"
fi
S1_API="$(server_serial "$API_PORT" "$H/admin/admin.crt" "$H/admin/admin.key")"
if [[ -n "$S1_API" ]] && wait_for 2 grep -q "serial=$S1_API" "$SERVE_ERR"; then
  pass "the api listener serves a renewed certificate too ($S1_API)"
else
  fail "the api listener serves a renewed certificate" "api serves '$S1_API'"
fi

section "SIGHUP renews at once"
# Right after a scheduled renewal, so that the next scheduled one is ~10 s away.
N=$(grep -c 'msg="server certificate renewed"' "$SERVE_ERR" || true)
wait_for 12 bash -c "[[ \$(grep -c 'msg=\"server certificate renewed\"' '$SERVE_ERR') -gt $N ]]" || true
N=$(grep -c 'msg="server certificate renewed"' "$SERVE_ERR" || true)
BEFORE_HUP="$(server_serial "$ACME_PORT")"
T_HUP=$(date +%s.%N)
kill -HUP "$SERVE_PID"
if wait_for 3 bash -c "[[ \$(grep -c 'msg=\"server certificate renewed\"' '$SERVE_ERR') -gt $N ]]"; then
  pass "SIGHUP: renewed within $(python3 -c "print(round($(date +%s.%N) - $T_HUP, 2))")s"
else
  fail "SIGHUP renews the server certificate at once (within 3 s)" "$(tail -2 "$SERVE_ERR" | tr '\n' ';')"
fi
AFTER_HUP="$(server_serial "$ACME_PORT")"
if [[ -n "$AFTER_HUP" && "$AFTER_HUP" != "$BEFORE_HUP" ]]; then
  pass "after SIGHUP new connections see a new certificate ($BEFORE_HUP -> $AFTER_HUP)"
else
  fail "after SIGHUP new connections see a new certificate" "before '$BEFORE_HUP', after '$AFTER_HUP'"
fi
admin_req GET "$(api /health)"
expect_http "the api listener still answers" 200

scrape_metrics
expect_metric "renewals are counted" sigil_server_certificate_renewals_total '' '>=' "$((N_INSIDE + 1))"
serve_stop
expect_eq "serve exits 0 on SIGTERM (took ${STOP_SECS}s)" "$STOP_RC" 0
RENEWED=$(grep -c 'msg="server certificate renewed"' "$SERVE_ERR" || true)
SERVE_CERTS=$(sqlite3 "$H/sigil.db" "select count(*) from certificates where requester='sigil-serve'" 2>&1 || true)
expect_eq "every server certificate is stored in the database (1 + $RENEWED renewals)" "$SERVE_CERTS" "$((RENEWED + 1))"
expect_eq "every server certificate is in the audit log" \
  "$(sqlite3 "$H/sigil.db" "select count(*) from audit_log where actor='sigil-serve' and action='issue' and outcome='ok'" 2>&1)" "$SERVE_CERTS"

finish
