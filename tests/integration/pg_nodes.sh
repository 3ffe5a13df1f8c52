#!/usr/bin/env bash
# Issue 13: two `sigil serve` nodes on one PostgreSQL database, behind haproxy (round-robin, mode
# tcp: TLS goes through to the nodes). Node B is a copy of node A's home (same intermediate key,
# same ca/acme-nonce.key) with other listener ports, and reaches the database through a TCP relay
# this script can cut. Checked: REST issuance through haproxy lands on both nodes (each node's
# sigil_certificates_issued_total); lego and certbot through haproxy get certificates, their
# connections spread over both nodes; a nonce node A handed out is accepted by node B, once; a
# revocation made on A is in B's OCSP answers and B's CRL within 1 s (measured); B losing the
# database turns its /health into 503, haproxy takes it out and traffic continues on A, and B
# comes back; A SIGKILLed in the middle of a bounded REST load: every certificate a client
# received is in the database with the same DER, no serial twice.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/acme_lib.sh" "$@"

H="$WORK/a" HOME_B="$WORK/b" C="$WORK/certs" ACME_PY="$(cd "$(dirname "$0")/acme" && pwd)"
mkdir -p "$C"

section "set-up: PostgreSQL, BIND, two nodes, haproxy"
pg_start "$WORK/pgdb" >/dev/null || bail "PostgreSQL must start for anything else to"
pg_createdb "$WORK/pgdb" sigil >/dev/null
DB="$PG_URL" PG_PORT="$(cat "$WORK/pgdb/port")"
pass "PostgreSQL 15 on 127.0.0.1:$PG_PORT ($DB)"
acme_ports
dns_start || bail "BIND must run for anything else to"
read -r A_API A_ACME A_PUB B_API B_ACME B_PUB HA_API HA_ACME HA_PUB RELAY <<<"$(free_ports 10 "$HTTP01_PORT" \
  "$TLSALPN_PORT" "$DNS_PORT" "$PUBLIC_FIXED")"

# The certificates' OCSP and CRL URLs, and the ACME directory's, are haproxy's.
check "sigil init --database (PostgreSQL), public_url on haproxy" \
  serve_init "$H" --database "$DB" --public-url "http://localhost:$HA_PUB"
allow_loopback_validation "$H"
cp -a "$H" "$HOME_B"
listeners() { config_edit "$1" "j['listeners'] = {'api': '127.0.0.1:$2', 'acme': '127.0.0.1:$3', 'public': '127.0.0.1:$4'}"; }
listeners "$H" "$A_API" "$A_ACME" "$A_PUB"
listeners "$HOME_B" "$B_API" "$B_ACME" "$B_PUB"
config_edit "$HOME_B" "j['database'] = 'postgresql://postgres@127.0.0.1:$RELAY/sigil'"
expect_eq "node B has node A's nonce key" "$(sha256sum <"$HOME_B/ca/acme-nonce.key")" "$(sha256sum <"$H/ca/acme-nonce.key")"

# relay_start: node B's way to the database, a TCP relay; killing it cuts B off (and only B).
relay_start() {
  "$PY" - "$RELAY" "$PG_PORT" >"$WORK/relay.log" 2>&1 <<'PY' &
import socket, sys, threading
src, dst = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", src))
ls.listen(64)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", dst))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
  RELAY_PID=$!
  BG_PIDS+=("$RELAY_PID")
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RELAY"
}
relay_start || bail "the relay to PostgreSQL must run"

NODE_ARGS=(--dns-resolver "127.0.0.1:$DNS_PORT" --http01-port "$HTTP01_PORT" --tlsalpn01-port "$TLSALPN_PORT")
node_start a "$H" "${NODE_ARGS[@]}" || bail "node A must start"
A_PID=$NODE_PID
node_start b "$HOME_B" "${NODE_ARGS[@]}" || bail "node B must start"
B_PID=$NODE_PID
pass "node A (pid $A_PID: api :$A_API, acme :$A_ACME, public :$A_PUB), node B (pid $B_PID: :$B_API, :$B_ACME, :$B_PUB)"

# haproxy: mode tcp, round-robin per connection. The acme backend is checked by GET /health over
# TLS (check-ssl verify none: the check only needs the status); the api listener asks every client
# for a certificate, so its backend is checked on the same node's public listener (plain HTTP).
cat >"$WORK/haproxy.cfg" <<EOF
global
  maxconn 256
  stats socket $WORK/haproxy.sock mode 600 level admin
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout check 2s
  retries 3
  option redispatch
  balance roundrobin
  option httpchk
  http-check send meth GET uri /health ver HTTP/1.1 hdr Host localhost
  http-check expect status 200
  default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 2
frontend api
  bind 127.0.0.1:$HA_API
  default_backend api
backend api
  server a 127.0.0.1:$A_API check port $A_PUB
  server b 127.0.0.1:$B_API check port $B_PUB
frontend acme
  bind 127.0.0.1:$HA_ACME
  default_backend acme
backend acme
  server a 127.0.0.1:$A_ACME check check-ssl verify none check-sni localhost
  server b 127.0.0.1:$B_ACME check check-ssl verify none check-sni localhost
frontend public
  bind 127.0.0.1:$HA_PUB
  default_backend public
backend public
  server a 127.0.0.1:$A_PUB check
  server b 127.0.0.1:$B_PUB check
EOF
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
BG_PIDS+=("$!")

# ha_state BACKEND SERVER: UP, DOWN, ... from haproxy's runtime API.
ha_state() {
  python3 - "$WORK/haproxy.sock" "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while (d := s.recv(65536)):
    data += d
rows = [l.split(",") for l in data.decode().splitlines() if l and not l.startswith("#")]
print(next((r[17] for r in rows if r[0] == sys.argv[2] and r[1] == sys.argv[3]), "absent"))
PY
}
all_up() { local b s; for b in api acme public; do for s in a b; do [[ "$(ha_state $b $s)" == UP ]] || return 1; done; done; }
if wait_for 20 all_up; then pass "haproxy: api :$HA_API, acme :$HA_ACME, public :$HA_PUB; both nodes UP in every backend"
else
  fail "haproxy sees both nodes UP in every backend" "$(for b in api acme public; do echo -n "$b: $(ha_state $b a)/$(ha_state $b b) "; done)"
  sed -n '1,15s/^/        haproxy| /p' "$WORK/haproxy.log"
  bail "haproxy must balance for anything else to"
fi

# The clients below see only haproxy.
SERVE_HOME="$H" API_PORT="$HA_API" ACME_PORT="$HA_ACME" PUBLIC_PORT="$HA_PUB" ROOT="$H/ca/root.crt" ACME_CA="$ROOT"
ACME_DIR="https://localhost:$HA_ACME/acme/directory" INTER="$H/ca/intermediate.crt"
SERVE_ERR="$WORK/a.err"

# node_metrics NODE FILE: GET /metrics straight from node a or b.
node_metrics() {
  local port=$A_API
  [[ $1 == b ]] && port=$B_API
  API_PORT=$port scrape_metrics "$2"
}
issued() { metric sigil_certificates_issued_total '' "$1"; }
acme_reqs() { metric sigil_http_requests_total 'listener="acme"' "$1"; }
# issue_via PORT NAME: POST /api/v1/certificates for NAME (a fresh key in $C/NAME.key) to the api
# listener on PORT (haproxy's or a node's); the answer in HCODE and $HB.
issue_via() {
  new_csr "$C/$2.key" "$C/$2.csr" "$2.example.internal" "$2.example.internal"
  API_PORT=$1 admin_req POST "https://localhost:$1/api/v1/certificates" -H 'Content-Type: application/json' \
    --data "$(issue_body "$C/$2.csr" server "")"
}
# issue_n N PREFIX: N issuances through haproxy; OK counts the 201s.
issue_n() {
  local i
  OK=0
  for i in $(seq 1 "$1"); do
    issue_via "$HA_API" "$2$i"
    if [[ $HCODE == 201 ]]; then OK=$((OK + 1)); fi
  done
}

section "REST issuance through haproxy spreads over both nodes"
node_metrics a "$WORK/m.a0"
node_metrics b "$WORK/m.b0"
issue_n 10 r
expect_eq "10 POST /api/v1/certificates through haproxy: all 201" "$OK" 10
node_metrics a "$WORK/m.a1"
node_metrics b "$WORK/m.b1"
DA=$(($(issued "$WORK/m.a1") - $(issued "$WORK/m.a0"))) NB=$(($(issued "$WORK/m.b1") - $(issued "$WORK/m.b0")))
if [[ $DA -gt 0 && $NB -gt 0 && $((DA + NB)) == 10 ]]; then
  pass "issued per node (sigil_certificates_issued_total): A $DA, B $NB"
else
  fail "both nodes issued, 10 in all" "A $DA, B $NB"
fi

section "ACME through haproxy: lego and certbot"
node_metrics a "$WORK/m.a2"
node_metrics b "$WORK/m.b2"
LEGO=(env "LEGO_CA_CERTIFICATES=$ACME_CA" lego --server "$ACME_DIR" --accept-tos --email it@example.internal
  --path "$WORK/lego" --http --http.port "127.0.0.1:$HTTP01_PORT")
client_check "lego run -d lego.example.internal (http-01)" "$WORK/lego.log" "${LEGO[@]}" -d lego.example.internal run
L_CERT="$WORK/lego/certificates/lego.example.internal"
openssl x509 -in "$L_CERT.crt" -out "$C/lego.pem" 2>/dev/null || : >"$C/lego.pem"
expect_chain "lego's certificate" "$C/lego.pem" "$L_CERT.issuer.crt" lego.example.internal
expect_revocation_urls "lego's certificate" "$C/lego.pem"
CB="$WORK/certbot"
CERTBOT=(env "REQUESTS_CA_BUNDLE=$ACME_CA" certbot --config-dir "$CB/config" --work-dir "$CB/work" --logs-dir "$CB/logs"
  --non-interactive --server "$ACME_DIR")
CERTBOT_DIR="$CB"
client_check "certbot register" "$WORK/certbot.register.log" \
  "${CERTBOT[@]}" register --agree-tos --no-eff-email -m it@example.internal
client_check "certbot certonly --standalone -d cb.example.internal" "$WORK/certbot.issue.log" \
  "${CERTBOT[@]}" certonly --standalone --preferred-challenges http-01 --http-01-port "$HTTP01_PORT" \
  --http-01-address 127.0.0.1 --cert-name cb -d cb.example.internal
expect_chain "certbot's certificate" "$CB/config/live/cb/cert.pem" "$CB/config/live/cb/chain.pem" cb.example.internal
for f in "$C/lego.pem" "$CB/config/live/cb/cert.pem"; do
  s="$(cert_serial "$f")"
  check "serial $s is in the database (sigil show on the PostgreSQL home)" sigil --home "$H" show "$s"
done
node_metrics a "$WORK/m.a3"
node_metrics b "$WORK/m.b3"
DA=$(($(acme_reqs "$WORK/m.a3") - $(acme_reqs "$WORK/m.a2"))) NB=$(($(acme_reqs "$WORK/m.b3") - $(acme_reqs "$WORK/m.b2")))
if [[ $DA -gt 0 && $NB -gt 0 ]]; then pass "ACME requests per node: A $DA, B $NB"
else fail "the ACME clients' requests reached both nodes" "A $DA, B $NB"; fi

section "a nonce from node A is accepted by node B, once"
python3 - "$ACME_PY" "$A_ACME" "$B_ACME" "$ROOT" >"$WORK/nonce.out" 2>&1 <<'PY' || true
import sys
sys.path.insert(0, sys.argv[1])
from acme_client import AcmeClient
a, b = (f"https://localhost:{p}/acme/directory" for p in sys.argv[2:4])
nonce = AcmeClient(a, ca_file=sys.argv[4]).new_nonce()
r = AcmeClient(b, ca_file=sys.argv[4]).new_account(contact=["mailto:n@example.internal"], nonce=nonce, retry_bad_nonce=False)
print("B", r.status, r.error)
r = AcmeClient(a, ca_file=sys.argv[4]).new_account(contact=["mailto:m@example.internal"], nonce=nonce, retry_bad_nonce=False)
print("A-replay", r.status, r.error)
PY
expect_eq "newAccount on B with A's nonce: 201" "$(grep '^B ' "$WORK/nonce.out" || cat "$WORK/nonce.out")" "B 201 None"
expect_eq "the same nonce again, on A: badNonce (spent once across nodes)" \
  "$(grep '^A-replay ' "$WORK/nonce.out" || tail -3 "$WORK/nonce.out")" "A-replay 400 badNonce"

section "revoked on node A: node B's OCSP and CRL say so within 1 s"
issue_via "$A_API" rv
expect_http "issued on node A" 201
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificate"])' "$HB" >"$C/rv.pem" 2>/dev/null || true
RV="$(cert_serial "$C/rv.pem")"
B_OCSP="http://127.0.0.1:$B_PUB/ocsp"
B_CRL="http://127.0.0.1:$B_PUB/$(cert_cdp_url "$C/rv.pem" | cut -d/ -f4-)"
b_ocsp_says() {
  ossl_ocsp "$C/rv.ocsp" -issuer "$INTER" -cert "$C/rv.pem" -url "$B_OCSP" -CAfile "$ROOT" -no_nonce
  [[ -z "$(ocsp_verdict "$C/rv.ocsp" "$C/rv.pem" "$1" "${2:-}")" ]]
}
b_crl_lists() { fetch "$B_CRL" "$C/rv.crl" && [[ $FCODE == 200 ]] && crl_has "$C/rv.crl" "$RV"; }
check "before: node B's OCSP says good" b_ocsp_says good
API_PORT=$A_API admin_req POST "https://localhost:$A_API/api/v1/certificates/$RV/revoke" \
  -H 'Content-Type: application/json' --data '{"reason":"keyCompromise"}'
T0=$(now_us)
expect_http "POST .../$RV/revoke on node A" 200
expect_within "node B's OCSP: revoked, keyCompromise" "$T0" 1000 b_ocsp_says revoked keyCompromise ||
  sed -n '1,8s/^/        openssl| /p' "$C/rv.ocsp"
expect_within "node B's CRL ($B_CRL) lists $RV" "$T0" 1000 b_crl_lists || true

section "node B loses the database: /health 503, haproxy takes it out, traffic continues on A"
disown "$RELAY_PID"  # (no "Killed" notice from bash)
kill -KILL "$RELAY_PID"
b_health() { curl -s --max-time 2 -o "$WORK/b.health" -w '%{http_code}' "http://127.0.0.1:$B_PUB/health"; }
T0=$(now_us)
if wait_for 10 bash -c "[[ \$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:$B_PUB/health) == 503 ]]"; then
  b_health >/dev/null || true
  pass "node B's /health: 503 after $(ms_since "$T0") ms ($(head -c 150 "$WORK/b.health"))"
else
  fail "node B's /health turns 503 without its database" "HTTP $(b_health)"
fi
json_check "the 503 names the database" "$WORK/b.health" "'database' in j.get('failing', [])"
b_down() { [[ "$(ha_state api b)" == DOWN && "$(ha_state acme b)" == DOWN && "$(ha_state public b)" == DOWN ]]; }
if wait_for 10 b_down; then pass "haproxy marks node B DOWN in the api, acme and public backends"
else fail "haproxy marks node B DOWN" "api $(ha_state api b), acme $(ha_state acme b), public $(ha_state public b)"; fi
issue_n 6 d
expect_eq "6 issuances through haproxy while B is out: all 201 (served by A)" "$OK" 6
relay_start || fail "the relay restarts"
if wait_for 15 all_up; then pass "node B back: its database reachable again, haproxy marks it UP"
else fail "node B comes back UP" "api $(ha_state api b), acme $(ha_state acme b), public $(ha_state public b)"; fi

section "node A SIGKILLed in the middle of a bounded REST load through haproxy"
load_run "$WORK/load" 8 3 "https://localhost:$HA_API/api/v1/certificates" &
LOAD=$!
sleep 3
disown "$A_PID"
kill -KILL "$A_PID"
KILLED_AT="$(date +%s.%N)"
wait "$LOAD" || true
echo "  load: $(load_summary "$WORK/load")"
AFTER=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["t0"] > float(sys.argv[2]) + 1 and json.loads(l)["code"] == 201))' \
  "$WORK/load" "$KILLED_AT")
if [[ $AFTER -gt 0 ]]; then pass "issuance continued on node B after the kill ($AFTER certificates)"
else fail "issuance continued on node B after the kill" "$(load_summary "$WORK/load")"; fi
a_down() { [[ "$(ha_state api a)" == DOWN ]]; }
if wait_for 5 a_down; then pass "haproxy marks the killed node A DOWN"; else fail "haproxy marks node A DOWN" "$(ha_state api a)"; fi
expect_received_in_db "every certificate a client received is in the database" "$WORK/load" "$DB"
if [[ -z "$(pg_sql "$DB" "SELECT serial FROM certificates GROUP BY serial HAVING count(*) > 1")" ]]; then
  pass "psql: no serial twice in certificates"
else fail "psql: no serial twice in certificates"; fi

finish
