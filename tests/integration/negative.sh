#!/usr/bin/env bash
# Issue 11, the negative suite: one table (tests/integration/negative/negative.py) of malformed
# and hostile requests over each listener of `sigil serve` (public: plain HTTP; acme: TLS; api:
# mTLS with the admin certificate): oversized headers and bodies, pipelined garbage, invalid
# UTF-8 and deeply nested JSON, huge integers, traversal and SQL metacharacters in every path
# parameter and string field, CSRs with thousands of SANs, duplicate extensions or a signature by
# a key of the wrong type, JWS with the wrong key type or algorithm. Each case names its expected
# status (and problem type); every refusal is an RFC 7807 document. Afterwards the server still
# answers /health on every listener and an authorized issuance, nothing was written by the
# refused requests, and `PRAGMA integrity_check` says ok. Run inside a private network namespace
# (see CMakeLists.txt). NEGATIVE_ARGS="--only 'api:*'" passes arguments to negative.py.
source "$(dirname "$0")/serve_lib.sh" "$@"
HERE="$(cd "$(dirname "$0")" && pwd)"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
DB="$H/sigil.db"

section "set-up"
# No nameConstraints in the intermediate: the finalize rows order 127.0.0.1 (as acme_protocol.sh).
check "init the CA (--no-name-constraints)" serve_init "$H" --no-name-constraints
# The finalize rows validate 127.0.0.1 over http-01: the VA may contact loopback here (an explicit
# forbidden_ranges replaces the default list, which has 127.0.0.0/8).
check "config: ip identifier 127.0.0.1 allowed, and validated on loopback" config_edit "$H" "
j.setdefault('policy', {})['allowed_ip_ranges'] = ['127.0.0.1/32']
j.setdefault('acme', {})['validation'] = {'forbidden_ranges': ['127.0.0.9/32']}"
# A free port below the ephemeral range for the http-01 responder of negative.py.
HTTP01_PORT="$(free_ports 1)"
check "CLI issues a certificate (the revoke rows name it)" cli_cert "$H" "$C/target" server "" target.example.internal
SERIAL="$(cert_serial "$C/target.crt")"
if ! serve_start "$H" negative --http01-port "$HTTP01_PORT"; then
  fail "sigil serve starts and answers /health on its three listeners"
  sed -n '1,20s/^/        serve| /p' "$SERVE_ERR"
  finish
fi
pass "sigil serve starts: public :$PUBLIC_PORT, acme :$ACME_PORT, api :$API_PORT"
rows() { sqlite3 "$DB" "select (select count(*) from certificates), (select count(*) from certificates where status = 'revoked')"; }
BEFORE="$(rows)"

section "negative.py: the table"
EXTRA=()
if [[ -n "${NEGATIVE_ARGS:-}" ]]; then eval "EXTRA=($NEGATIVE_ARGS)"; fi
py_rc=0
"$PY" "$HERE/negative/negative.py" --public "$PUBLIC_PORT" --acme "$ACME_PORT" --api "$API_PORT" \
  --ca "$H/ca/root.crt" --admin-cert "$H/admin/admin.crt" --admin-key "$H/admin/admin.key" --serial "$SERIAL" \
  --http01-port "$HTTP01_PORT" "${EXTRA[@]}" 2>&1 | tee "$WORK/negative.out" || py_rc=$?
summary="$(tail -n 1 "$WORK/negative.out")"
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  # Fold the table's counts into this script's, so that ctest's last line tells the whole story.
  PASSED=$((PASSED + BASH_REMATCH[1]))
  FAILED=$((FAILED + BASH_REMATCH[2]))
  while IFS= read -r line; do FAILURES+=("negative: ${line#not ok - }"); done < <(grep '^not ok - ' "$WORK/negative.out")
  if [[ $py_rc -ne 0 && ${BASH_REMATCH[2]} -eq 0 ]]; then fail "negative.py exits 0" "exit $py_rc"; fi
else
  fail "negative.py ran to its summary line" "exit $py_rc; last line: $summary"
fi

section "after all cases"
if kill -0 "$SERVE_PID" 2>/dev/null; then pass "the server process is alive"; else fail "the server process is alive"; fi
check "public /health answers 200" _health_ok "$PUBLIC_PORT" http
check "acme /health answers 200" _health_ok "$ACME_PORT" https
check "api /health answers 200 (admin certificate)" _api_health_ok
expect_eq "the refused requests wrote nothing (certificates, revoked)" "$(rows)" "$BEFORE"
new_csr "$C/after.key" "$C/after.csr" after.example.internal
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' --data "$(issue_body "$C/after.csr" server)"
expect_http "an authorized issuance still succeeds" 201
json_check "the answer carries the chain" "$HB" "open(os.environ['WORK'] + '/after.pem', 'w').write(j['chain']) > 0"
if openssl verify -CAfile "$H/ca/root.crt" -untrusted "$WORK/after.pem" "$WORK/after.pem" >"$WORK/verify.out" 2>&1; then
  pass "openssl verify: the new certificate chains to the root"
else
  fail "openssl verify" "$(cat "$WORK/verify.out")"
fi
serve_stop "$SERVE_PID" 10
expect_eq "the server exits 0 on SIGTERM" "$STOP_RC" 0
expect_eq "PRAGMA integrity_check" "$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)" ok
if grep -Eiq 'BEGIN (EC |RSA |ENCRYPTED )?PRIVATE KEY' "$SERVE_ERR" "$SERVE_OUT" "$WORK/negative.out"; then
  fail "no private key in the server's output"
else
  pass "no private key in the server's output"
fi
finish
