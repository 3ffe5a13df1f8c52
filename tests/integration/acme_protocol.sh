#!/usr/bin/env bash
# ACME on the wire (RFC 8555, RFC 9773): tests/integration/acme/test_protocol.py drives the
# server with its own JWS client (acme/acme_client.py) through what no installed client
# exercises (key rollover, deactivation, onlyReturnExisting, renewalInfo and `replaces`,
# revocation by the certificate's key, every EAB case, Link/Location/Replay-Nonce/Retry-After
# headers, the account's orders list with its pages, authorization reuse), the negative cases of acceptance 3 (each an exact ACME error type in a problem
# document, and no state changed), and a restart between validation and finalize (acceptance 4).
#
# Set-up: BIND on a loopback port serving example.internal (wildcard A 127.0.0.1; names below
# nx.example.internal are NXDOMAIN, since the explicit `nx` node stops the wildcard;
# forbidden.example.internal is 127.0.0.9, which the server is configured never to contact),
# `sigil serve` validating through it (--dns-resolver) on the test's http-01 port, and a second
# home that requires EAB (keys from `sigil acme eab create --json`, one narrowed with --allow).
#
#   bash tests/integration/acme_protocol.sh build/cli/sigil       (ctest: in a private netns)
#   ACME_TARGET=pebble bash tests/integration/acme_protocol.sh     (Debian's pebble instead, to
#        validate the client and the tests; Pebble 2.4 lacks renewalInfo, profiles, ... so the
#        suite runs with --peer pebble, which turns those checks off)
# By hand, keep it on loopback: unshare -n bash -c "ip link set lo up && bash $0 build/cli/sigil"
# ACME_PROTOCOL_ARGS="--only 'negative*'" passes extra arguments to test_protocol.py.
ACME_TARGET="${ACME_TARGET:-sigil}"
if [[ "$ACME_TARGET" == pebble && $# -eq 0 ]]; then set -- "$(type -P true)"; fi
source "$(dirname "$0")/serve_lib.sh" "$@"
HERE="$(cd "$(dirname "$0")" && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
ZONE=example.internal
FORBIDDEN_ADDR=127.0.0.9

# The server restarted by restart.sh is not a child of this shell: stop it on exit too.
_acme_protocol_cleanup() {
  local p
  p="$(cat "$WORK/acme.pid" 2>/dev/null)" || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}
trap '_serve_rc=$?; set +e; _acme_protocol_cleanup; _serve_cleanup; _serve_set_rc $_serve_rc; _lib_on_exit' EXIT

# Free ports on 127.0.0.1 below the ephemeral range (no outgoing connection can take them first).
read -r HTTP01_PORT DNS_PORT P1 P2 P3 P4 <<<"$(free_ports 6)"

# ------------------------------------------------------------------ BIND
dns_start() {
  local d="$WORK/named"
  mkdir -p "$d"
  cat >"$d/zone" <<EOF
\$TTL 60
@          IN SOA ns.$ZONE. hostmaster.$ZONE. 1 60 60 600 60
@          IN NS  ns.$ZONE.
ns         IN A   127.0.0.1
*          IN A   127.0.0.1
; an explicit node: the wildcard no longer covers names below it (NXDOMAIN), nor it (no A)
nx         IN TXT "no address here"
forbidden  IN A   $FORBIDDEN_ADDR
EOF
  cat >"$d/named.conf" <<EOF
options {
  directory "$d";
  listen-on port $DNS_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  pid-file "$d/named.pid";
  session-keyfile "$d/session.key";
};
controls { };
zone "$ZONE" { type primary; file "$d/zone"; };
EOF
  named -g -c "$d/named.conf" >"$d/named.log" 2>&1 &
  BG_PIDS+=($!)
  # named opens its port before the zone is loaded: wait for an SOA answer.
  if ! wait_for 20 bash -c "dig +short +time=1 +tries=1 @127.0.0.1 -p $DNS_PORT $ZONE SOA | grep -q hostmaster"; then
    sed -n '1,20s/^/        named| /p' "$d/named.log"
    return 1
  fi
}

section "set-up ($ACME_TARGET)"
if dns_start; then
  pass "BIND serves $ZONE on 127.0.0.1:$DNS_PORT"
else
  fail "BIND serves $ZONE on 127.0.0.1:$DNS_PORT"
  finish
fi
nx_status="$(dig +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" "h1.nx.$ZONE" A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')"
expect_eq "h1.nx.$ZONE is NXDOMAIN despite the wildcard" "$nx_status" NXDOMAIN
expect_eq "forbidden.$ZONE is $FORBIDDEN_ADDR" "$(dig +short @127.0.0.1 -p "$DNS_PORT" "forbidden.$ZONE" A)" "$FORBIDDEN_ADDR"

PYARGS=()
if [[ "$ACME_TARGET" == sigil ]]; then
  # ------------------------------------------------------------------ sigil
  H="$WORK/home"
  E="$WORK/eab"
  # No name constraints: the policy gains an IP range after init (a constrained intermediate
  # would need re-signing with --config; tests/integration/name_constraints.sh covers that).
  check "init the CA" serve_init "$H" --no-name-constraints
  check "config: validation never contacts $FORBIDDEN_ADDR/32; ip identifiers 127.0.0.1/32 allowed" config_edit "$H" "
j['acme'] = {'validation': {'forbidden_ranges': ['$FORBIDDEN_ADDR/32']}}
j.setdefault('policy', {})['allowed_ip_ranges'] = ['127.0.0.1/32']"
  check "init a second CA that requires EAB" serve_init "$E"
  check "config: acme.eab_required; validation never contacts $FORBIDDEN_ADDR/32" config_edit "$E" "
j['acme'] = {'eab_required': True, 'validation': {'forbidden_ranges': ['$FORBIDDEN_ADDR/32']}}"
  eab_key() {  # eab_key [create args]: "KID:HMAC" from `sigil acme eab create --json`
    "$SIGIL" --home "$E" --json acme eab create "$@" 2>"$WORK/eab.err" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j["kid"] + ":" + j["hmac_key"])'
  }
  EAB1="$(eab_key --description protocol-test || true)"
  EAB2="$(eab_key --allow "allowed.$ZONE" --description protocol-test-narrowed || true)"
  EAB3="$(eab_key --description protocol-test-cutoff || true)"
  if [[ "$EAB1" == *:* && "$EAB2" == *:* && "$EAB3" == *:* ]]; then
    pass "two EAB keys (one narrowed to allowed.$ZONE)"
  else
    fail "two EAB keys (one narrowed to allowed.$ZONE)" "$(cat "$WORK/eab.err")"
  fi
  SERVE_FLAGS=(--dns-resolver "127.0.0.1:$DNS_PORT" --http01-port "$HTTP01_PORT")
  if serve_start "$E" eab "${SERVE_FLAGS[@]}"; then
    pass "sigil serve (EAB required) starts: acme :$ACME_PORT"
  else
    fail "sigil serve (EAB required) starts"
    sed -n '1,20s/^/        serve| /p' "$SERVE_ERR"
  fi
  EAB_DIR="https://localhost:$ACME_PORT/acme/directory"
  EAB_CA="$E/ca/root.crt"
  if ! serve_start "$H" acme "${SERVE_FLAGS[@]}"; then
    fail "sigil serve starts and answers /health on its three listeners"
    sed -n '1,20s/^/        serve| /p' "$SERVE_ERR"
    finish
  fi
  pass "sigil serve starts: acme :$ACME_PORT, http-01 checked on :$HTTP01_PORT, DNS 127.0.0.1:$DNS_PORT"
  # This home allows loopback validation (its peers run there): serve says so at start.
  if grep -q 'forbidden_ranges allows loopback' "$SERVE_ERR"; then
    pass "serve warns that acme.validation.forbidden_ranges allows loopback"
  else
    fail "serve warns that acme.validation.forbidden_ranges allows loopback" "$(head -5 "$SERVE_ERR")"
  fi
  echo "$SERVE_PID" >"$WORK/acme.pid"
  DIR="https://localhost:$ACME_PORT/acme/directory"
  CA="$H/ca/root.crt"
  # restart.sh: SIGTERM the server (whoever started it), start it again on the same ports.
  cat >"$WORK/restart.sh" <<EOF
#!/usr/bin/env bash
set -u
pid=\$(cat "$WORK/acme.pid")
alive() { [[ -e /proc/\$1 ]] && ! grep -q '^[0-9]* (.*) Z' /proc/\$1/stat 2>/dev/null; }
kill -TERM "\$pid" 2>/dev/null
for _ in \$(seq 100); do alive "\$pid" || break; sleep 0.1; done
if alive "\$pid"; then echo "the server did not stop within 10 s" >&2; kill -KILL "\$pid"; fi
for attempt in 1 2 3 4 5; do
  "$SIGIL" --home "$H" serve --api-listen 127.0.0.1:$API_PORT --acme-listen 127.0.0.1:$ACME_PORT \\
    --public-listen 127.0.0.1:$PUBLIC_PORT ${SERVE_FLAGS[*]} </dev/null >>"$WORK/acme-restarted.out" 2>>"$WORK/acme-restarted.err" &
  echo \$! >"$WORK/acme.pid"
  for _ in \$(seq 150); do
    if curl -s --max-time 2 --cacert "$CA" --resolve "localhost:$ACME_PORT:127.0.0.1" -o /dev/null \\
         -w '%{http_code}' "https://localhost:$ACME_PORT/health" | grep -q '^200\$'; then
      echo "restarted (pid \$(cat "$WORK/acme.pid"), attempt \$attempt)"
      exit 0
    fi
    alive "\$(cat "$WORK/acme.pid")" || break
    sleep 0.1
  done
  echo "attempt \$attempt: no /health; log tail:" >&2
  tail -n 5 "$WORK/acme-restarted.err" >&2
  kill -TERM "\$(cat "$WORK/acme.pid")" 2>/dev/null
  sleep 1
done
exit 1
EOF
  PYARGS=(--peer sigil --restart-cmd "bash $WORK/restart.sh" --forbidden-address "$FORBIDDEN_ADDR"
    --eab-directory "$EAB_DIR" --eab-ca "$EAB_CA" --eab-key="$EAB1" --eab-allow-key="$EAB2:*.allowed.$ZONE"
    --deactivate-cmd "'$SIGIL' --home '$H' acme account deactivate {}"
    --eab-revoke-cmd "'$SIGIL' --home '$E' acme eab revoke --deactivate-account {}" --eab-cutoff-key="$EAB3")
else
  # ------------------------------------------------------------------ pebble
  command -v pebble >/dev/null || { fail "pebble is installed (apt-get install pebble)"; finish; }
  P="$WORK/pebble"
  mkdir -p "$P"
  # A throwaway CA for pebble's HTTPS listener (the package ships no certificate).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" \
    -subj /CN=pebble-https-test-ca -days 2 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/srv.key" -out "$P/srv.csr" \
    -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$P/ext"
  openssl x509 -req -in "$P/srv.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -out "$P/srv.crt" \
    -days 2 -extfile "$P/ext" 2>/dev/null
  EABHMAC="$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')"
  pebble_conf() {  # FILE ACME_PORT MGMT_PORT EAB(true|false)
    python3 - "$@" "$P" "$HTTP01_PORT" "$EABHMAC" <<'PY'
import json, sys
path, port, mport, eab, d, http01, mac = sys.argv[1:]
c = {"listenAddress": f"127.0.0.1:{port}", "managementListenAddress": f"127.0.0.1:{mport}",
     "certificate": f"{d}/srv.crt", "privateKey": f"{d}/srv.key", "httpPort": int(http01), "tlsPort": 5001,
     "ocspResponderURL": "", "externalAccountBindingRequired": eab == "true"}
if eab == "true":
    c["externalAccountMACKeys"] = {"kid-1": mac}
json.dump({"pebble": c}, open(path, "w"), indent=1)
PY
  }
  pebble_start() {  # CONF TAG PORT
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
      pebble -config "$1" -dnsserver "127.0.0.1:$DNS_PORT" -strict >"$P/$2.log" 2>&1 &
    BG_PIDS+=($!)
    wait_for 15 curl -sf --cacert "$P/ca.crt" --resolve "localhost:$3:127.0.0.1" "https://localhost:$3/dir"
  }
  pebble_conf "$P/main.json" "$P1" "$P2" false
  pebble_conf "$P/eab.json" "$P3" "$P4" true
  if pebble_start "$P/main.json" main "$P1" && pebble_start "$P/eab.json" eab "$P3"; then
    pass "pebble (sleeps off, no nonce rejection, no authz reuse) on :$P1 and, requiring EAB, on :$P3"
  else
    fail "pebble starts" "$(tail -n 5 "$P"/*.log)"
    finish
  fi
  DIR="https://localhost:$P1/dir"
  CA="$P/ca.crt"
  PYARGS=(--peer pebble --eab-directory "https://localhost:$P3/dir" --eab-key="kid-1:$EABHMAC")
fi

# ------------------------------------------------------------------ the protocol tests
section "test_protocol.py against $DIR"
EXTRA=()
if [[ -n "${ACME_PROTOCOL_ARGS:-}" ]]; then eval "EXTRA=($ACME_PROTOCOL_ARGS)"; fi
py_rc=0
"$PY" "$HERE/acme/test_protocol.py" "$DIR" "$CA" "$HTTP01_PORT" "${PYARGS[@]}" "${EXTRA[@]}" 2>&1 |
  tee "$WORK/protocol.out" || py_rc=$?
summary="$(tail -n 1 "$WORK/protocol.out")"
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  # Fold the suite's counts into this script's, so that ctest's last line tells the whole story.
  PASSED=$((PASSED + BASH_REMATCH[1]))
  FAILED=$((FAILED + BASH_REMATCH[2]))
  while IFS= read -r line; do FAILURES+=("protocol: ${line#not ok - }"); done < <(grep '^not ok - ' "$WORK/protocol.out")
  if [[ $py_rc -ne 0 && ${BASH_REMATCH[2]} -eq 0 ]]; then fail "test_protocol.py exits 0" "exit $py_rc"; fi
else
  fail "test_protocol.py ran to its summary line" "exit $py_rc; last line: $summary"
fi
if [[ "$ACME_TARGET" == sigil ]]; then
  section "operator commands: sigil acme account list|show|deactivate"
  check "account list: one line per account, the deactivated ones marked" bash -c \
    "'$SIGIL' --home '$H' acme account list | grep -q ' deactivated '"
  check "account list --json: every account, each with id, status and path" bash -c \
    "'$SIGIL' --home '$H' --json acme account list | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j and all(a[\"path\"] == \"/acme/acct/\" + a[\"id\"] and a[\"status\"] for a in j), j'"
  ACCT="$("$SIGIL" --home "$H" --json acme account list | python3 -c 'import json,sys; print([a["id"] for a in json.load(sys.stdin) if a["status"] == "valid"][0])' 2>/dev/null || echo none)"
  section "the same for the admin role: /api/v1/acme/accounts"
  ACCT2="$("$SIGIL" --home "$H" --json acme account list | python3 -c 'import json,sys; print([a["id"] for a in json.load(sys.stdin) if a["status"] == "valid"][1])' 2>/dev/null || echo none)"
  admin_req GET "$(api /api/v1/acme/accounts)"
  expect_http "GET accounts" 200
  json_check "every account listed with its status" "$HB" \
    "any(a['id'] == '$ACCT2' and a['status'] == 'valid' for a in j['items']) and any(a['status'] == 'deactivated' for a in j['items'])"
  admin_req GET "$(api "/api/v1/acme/accounts/$ACCT2")"
  expect_http "GET one account" 200
  json_check "its id, path and status" "$HB" "j['id'] == '$ACCT2' and j['path'] == '/acme/acct/$ACCT2' and j['status'] == 'valid'"
  admin_req GET "$(api /api/v1/acme/accounts/no-such-account)"
  expect_problem "GET an unknown account" 404 '.'
  admin_req POST "$(api "/api/v1/acme/accounts/$ACCT2/deactivate")"
  expect_http "POST deactivate" 200
  json_check "it is deactivated" "$HB" "j['id'] == '$ACCT2' and j['status'] == 'deactivated'"
  check "the CLI sees it deactivated" bash -c "'$SIGIL' --home '$H' acme account show '$ACCT2' | grep -qx 'status: deactivated'"
  admin_req POST "$(api /api/v1/acme/eab/no-such-kid/revoke)" -H 'Content-Type: application/json' \
    -d '{"deactivate_account":"yes"}'
  expect_problem "EAB revoke with a malformed deactivate_account" 400 '.'
  check "account show by its URL" bash -c \
    "'$SIGIL' --home '$H' acme account show 'https://localhost:$ACME_PORT/acme/acct/$ACCT' | grep -qx 'status: valid'"
  expect_fail_with "account show: an unknown id is a one-line error" "sigil: error: .*no ACME account" \
    sigil --home "$H" acme account show no-such-account
  expect_fail_with "account deactivate: not an id or URL is a one-line error" "sigil: error: .*not an ACME account id" \
    sigil --home "$H" acme account deactivate 'bad id!'
  check "account deactivate twice: the second says already deactivated" bash -c \
    "'$SIGIL' --home '$H' acme account deactivate '$ACCT' | grep -qx '$ACCT: deactivated' &&
     '$SIGIL' --home '$H' acme account deactivate '$ACCT' | grep -qx '$ACCT: already deactivated'"
  check "the operator's deactivations are audited" bash -c \
    "sqlite3 '$H/sigil.db' \"SELECT count(*) FROM audit_log WHERE action = 'acme-account-deactivate' AND target = '$ACCT'\" | grep -qx 1"
fi
if [[ "$ACME_TARGET" == sigil && $FAILED -gt 0 ]]; then
  echo "        server log (last 30 lines):"
  tail -n 30 "$WORK/acme.err" "$WORK/acme-restarted.err" 2>/dev/null | sed 's/^/        serve| /'
fi
finish
