#!/usr/bin/env bash
# Issue 12 item 7: `sigil issue|list|show|revoke --server` (cli/remote.cpp, the CLI as a REST
# client of a running `sigil serve`). Issued through --server with the home's admin certificate
# (the default) and, from a client with no home at all, with explicit --cert/--key/--ca; listed
# and shown through the API; revoked through it, after which the store (`sigil show` on the home,
# the audit log), OCSP and the CRL all say revoked with the same reason. Refusals (a bad CSR, a
# caller without the role, a client certificate of another CA, an unknown serial) each give one
# line on stderr, nothing on stdout, the documented exit code, and change nothing. Run inside a
# private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

# The CA and its root; another CA, whose client certificates the api listener must refuse.
H="$WORK/home" ROOT="$WORK/home/ca/root.crt" OTHER="$WORK/other"
C="$WORK/certs"
mkdir -p "$C"

# one_line_refusal DESC EXIT-CODE PATTERN CMD...: CMD exits EXIT-CODE (`any`: any non-zero) with
# exactly one line on stderr matching PATTERN and nothing on stdout (README: errors are one line
# on stderr).
one_line_refusal() {
  local desc="$1" want="$2" pattern="$3" rc=0
  shift 3
  "$@" >"$OUT" 2>"$ERR" || rc=$?
  local lines
  lines="$(wc -l <"$ERR")"
  if [[ $want == any && $rc != 0 ]]; then want=$rc; fi
  if [[ $rc == "$want" && $lines == 1 && ! -s "$OUT" ]] && grep -Eq -- "$pattern" "$ERR"; then
    pass "$desc (exit $rc: $(head -c 120 "$ERR"))"
  else
    fail "$desc" "expected exit $want and one stderr line matching /$pattern/; got exit $rc, $lines line(s)"
    _show_last
  fi
}

db_certificates() { sqlite3 "$H/sigil.db" 'select count(*) from certificates'; }

section "set-up"
check "init the CA" serve_init "$H"
check "init another, unrelated CA" serve_init "$OTHER"
check "CLI issues a client certificate whose identity has no role" \
  cli_cert "$H" "$C/norole" client "" norole.example.internal
check "the other CA issues a client certificate" cli_cert "$OTHER" "$C/foreign" client "" foreign.example.internal
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, acme :$ACME_PORT, public :$PUBLIC_PORT"
SERVER="https://localhost:$API_PORT"

section "issue --server"
new_csr "$C/a.key" "$C/a.csr" a.example.internal a.example.internal
check "issue --csr --server (the home's admin certificate)" \
  sigil --home "$H" --json issue --server "$SERVER" --csr "$C/a.csr" --ttl 48h --out "$C/a.pem"
cp "$OUT" "$C/a.json"
A="$(json_field "$C/a.json" serial)"
json_check "issue --json: serial, profile, validity, chain" "$C/a.json" \
  "re.fullmatch(r'[0-9a-f]+', j['serial']) and j['profile'] == 'server' and ts(j['not_after']) - ts(j['not_before']) >= 48 * 3600 and j['chain'].count('BEGIN CERTIFICATE') == 2"
expect_eq "the chain written to --out is the certificate of that serial" "$(cert_serial "$C/a.pem")" "$A"
check "the chain verifies to the root for a.example.internal" \
  openssl verify -x509_strict -purpose sslserver -verify_hostname a.example.internal -CAfile "$ROOT" \
  -untrusted "$C/a.pem" "$C/a.pem"
check "... and carries the CSR's key" bash -c \
  "[[ \"\$(openssl pkey -in '$C/a.key' -pubout)\" == \"\$(openssl x509 -in '$C/a.pem' -noout -pubkey)\" ]]"

# A client with no home: every credential named on the command line.
check "issue --name --server from a client without a home (--cert/--key/--ca)" \
  sigil --home "$WORK/no-such-home" issue --server "$SERVER" --cert "$H/admin/admin.crt" \
  --key "$H/admin/admin.key" --ca "$ROOT" --name b.example.internal --profile client --key-out "$C/b.key" \
  --out "$C/b.pem"
B="$(cert_serial "$C/b.pem")"
if grep -q "^serial $B\$" "$OUT"; then pass "issue prints the serial ($B)"; else fail "issue prints the serial"; _show_last; fi
expect_eq "the new key is 0600" "$(mode_of "$C/b.key")" 600
if [[ ! -e "$WORK/no-such-home" ]]; then pass "no home was created on the client"
else fail "no home was created on the client"; fi
expect_eq "the store holds the admin certificate, the server's and the two issued" \
  "$(sqlite3 "$H/sigil.db" "select count(*) from certificates where serial in ('$A', '$B')")" 2

section "list and show --server"
check "list --server --json" sigil --home "$H" --json list --server "$SERVER"
cp "$OUT" "$C/list.json"
json_check "list: both certificates, valid, once each" "$C/list.json" \
  "sum(c['serial'] in ('$A', '$B') for c in j) == 2 and all(c['status'] == 'valid' for c in j if c['serial'] in ('$A', '$B'))"
json_check "list: the same certificates as the store" "$C/list.json" "len(j) == $(db_certificates)"
check "list --server --profile client --json" sigil --home "$H" --json list --server "$SERVER" --profile client
cp "$OUT" "$C/list-client.json"
json_check "list --profile client: b, not a" "$C/list-client.json" \
  "'$B' in {c['serial'] for c in j} and '$A' not in {c['serial'] for c in j} and all(c['profile'] == 'client' for c in j)"
check "list --server (text)" sigil --home "$H" list --server "$SERVER"
expect_eq "list (text): the summary line counts every certificate" "$(tail -1 "$OUT")" "$(db_certificates) certificates"
check "show --server --json" sigil --home "$H" --json show --server "$SERVER" "$A"
cp "$OUT" "$C/show.json"
json_check "show: serial, valid, names, requester is the admin through the API" "$C/show.json" \
  "j['serial'] == '$A' and j['status'] == 'valid' and j['sans'] == ['dns:a.example.internal'] and j['requester'] == 'api:sigil-admin'"
check "show --server --pem" sigil --home "$H" show --server "$SERVER" "$A" --pem
expect_eq "show --pem is the issued leaf" "$(openssl x509 -in "$OUT" -noout -fingerprint 2>&1)" \
  "$(openssl x509 -in "$C/a.pem" -noout -fingerprint 2>&1)"

section "revoke --server"
check "revoke --server SERIAL --reason keyCompromise" \
  sigil --home "$H" revoke --server "$SERVER" "$A" --reason keyCompromise
expect_eq "revoke prints what it did" "$(cat "$OUT")" "revoked $A (keyCompromise)"
check "show --server after the revocation" sigil --home "$H" --json show --server "$SERVER" "$A"
json_check "the API says revoked (keyCompromise)" "$OUT" \
  "j['status'] == 'revoked' and j['revocation_reason'] == 'keyCompromise'"
check "the store, read by the CLI on the home" sigil --home "$H" --json show "$A"
json_check "the store says revoked (keyCompromise)" "$OUT" \
  "j['status'] == 'revoked' and j['revocation_reason'] == 'keyCompromise'"
expect_eq "the audit log holds the API's revocation" \
  "$(sqlite3 "$H/sigil.db" "select count(*) from audit_log where action = 'revoke' and target = '$A' and actor like 'api:%' and outcome = 'ok'")" 1

split_chain "$C/a.pem" "$C/a.leaf" "$C/inter.pem"
OCSP_URL="$(on_public "$(cert_ocsp_url "$C/a.leaf")")"
ocsp_revoked() {
  ossl_ocsp "$C/ocsp" -issuer "$C/inter.pem" -cert "$C/a.leaf" -url "$OCSP_URL" -CAfile "$ROOT" -no_nonce
  [[ -z "$(ocsp_verdict "$C/ocsp" "$C/a.leaf" revoked keyCompromise)" ]]
}
if poll_until $(($(now_us) + 5000000)) ocsp_revoked; then pass "OCSP says revoked (keyCompromise), signature verified"
else fail "OCSP says revoked (keyCompromise)" "$(ocsp_verdict "$C/ocsp" "$C/a.leaf" revoked keyCompromise)"; fi
CRL_URL="$(on_public "$(cert_cdp_url "$C/a.leaf")")"
crl_lists_a() { fetch "$CRL_URL" "$C/crl" && [[ $FCODE == 200 ]] && crl_has "$C/crl" "$A"; }
if poll_until $(($(now_us) + 5000000)) crl_lists_a; then pass "the CRL lists the certificate"
else fail "the CRL lists the certificate" "HTTP $FCODE from $CRL_URL"; fi
check "the CRL verifies against the intermediate" \
  bash -c "openssl crl -inform DER -in '$C/crl' -CAfile '$C/inter.pem' -noout 2>&1 | grep -q 'verify OK'"
check "... with reason keyCompromise" \
  bash -c "openssl crl -inform DER -in '$C/crl' -noout -text | grep -A6 -i '$(tr 'a-f' 'A-F' <<<"$A")' | grep -q 'Key Compromise'"
check "list --server --status revoked --json" sigil --home "$H" --json list --server "$SERVER" --status revoked
json_check "list --status revoked: exactly a" "$OUT" "[c['serial'] for c in j] == ['$A']"

section "refusals: one line, the documented exit code, nothing changed"
BEFORE="$(db_counts "$H/sigil.db")"
printf 'not a certificate request\n' >"$C/bad.csr"
one_line_refusal "a malformed CSR: input refused (3)" 3 '^[^ ].*(HTTP 400)' \
  sigil --home "$H" issue --server "$SERVER" --csr "$C/bad.csr"
new_csr "$C/n.key" "$C/n.csr" n.example.internal n.example.internal
one_line_refusal "issue by a caller without a role: forbidden (5)" 5 'HTTP 403' \
  sigil --home "$H" issue --server "$SERVER" --cert "$C/norole.crt" --key "$C/norole.key" --csr "$C/n.csr"
one_line_refusal "revoke by a caller without a role: forbidden (5)" 5 'HTTP 403' \
  sigil --home "$H" revoke --server "$SERVER" --cert "$C/norole.crt" --key "$C/norole.key" "$B"
one_line_refusal "list by a caller without a role: forbidden (5)" 5 'HTTP 403' \
  sigil --home "$H" list --server "$SERVER" --cert "$C/norole.crt" --key "$C/norole.key"
one_line_refusal "a client certificate of another CA: refused at the handshake" any '.' \
  sigil --home "$H" show --server "$SERVER" --cert "$C/foreign.crt" --key "$C/foreign.key" "$B"
one_line_refusal "show of an unknown serial: not found (4)" 4 'HTTP 404' \
  sigil --home "$H" show --server "$SERVER" 0123456789abcdef0123
one_line_refusal "revoke of an unknown serial: not found (4)" 4 'HTTP 404' \
  sigil --home "$H" revoke --server "$SERVER" 0123456789abcdef0123 --reason superseded
one_line_refusal "a reason refused for a leaf: input refused (3), before any request" 3 'not accepted for a leaf' \
  sigil --home "$H" revoke --server "$SERVER" "$B" --reason cACompromise
expect_eq "nothing was issued or audited as done by the refusals" \
  "$(sqlite3 "$H/sigil.db" "select count(*) from certificates")" "$(cut -d' ' -f1 <<<"$BEFORE")"
check "show b: still valid" sigil --home "$H" --json show "$B"
json_check "b is still valid after the refused revocations" "$OUT" "j['status'] == 'valid'"
check "the server still serves" _api_health_ok

serve_stop
expect_eq "sigil serve stops cleanly" "$STOP_RC" 0
finish
