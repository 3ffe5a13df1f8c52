#!/usr/bin/env bash
# Issue 2, acceptance 5: only `sigil root ...` reads the root directory. After `init` the root
# directory is moved away (into a directory made unreadable) and every other command runs; when
# strace works here, each of them is also traced and must not even try to open a path in the old
# or the new place of the root directory. Then the intermediate rotation ceremony (root back,
# sign, root away, install) and the root's CRL with a revoked intermediate.
source "$(dirname "$0")/lib.sh" "$@"

PASS_FILE="$WORK/passphrase"
printf 'integration-root-passphrase\n' >"$PASS_FILE"
H="$WORK/home"
R="$WORK/offline-root"     # where init puts the root
VAULT="$WORK/vault"        # where it lives between ceremonies
AWAY="$VAULT/offline-root"
PUBLIC_URL="http://ca.example.test:8080"
mkdir -p "$VAULT"

root_away() { chmod 700 "$VAULT" && mv "$R" "$AWAY" && chmod 000 "$VAULT"; }
root_back() { chmod 700 "$VAULT" && mv "$AWAY" "$R"; }

STRACE=0
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then STRACE=1; fi

# offline DESC CMD... : CMD must succeed with the root away, and (under strace) touch no path
# of the root directory, wherever it is.
offline() {
  local desc="$1"
  shift
  if [[ -e "$R" ]]; then fail "$desc" "test bug: the root is not away"; return 0; fi
  local rc=0
  if [[ $STRACE == 1 ]]; then
    resolve_cmd "$@"
    strace -f -qq -e trace=%file,%desc -o "$WORK/strace.log" "${RESOLVED[@]}" >"$OUT" 2>"$ERR" || rc=$?
  else
    "$@" >"$OUT" 2>"$ERR" || rc=$?
  fi
  if [[ $rc -ne 0 ]]; then
    fail "$desc (root away)" "exit $rc from: $*"
    _show_last
  elif [[ $STRACE == 1 ]] && grep -E 'offline-root|/vault' "$WORK/strace.log" >"$WORK/strace.hits"; then
    fail "$desc (root away)" "touched the root directory: $(head -2 "$WORK/strace.hits" | tr '\n' ' ')"
  else
    pass "$desc (root away$([[ $STRACE == 1 ]] && echo ', traced: no root path opened'))"
  fi
  return 0
}

# A leaf's chain verifies through the given intermediate to the root.
verifies_via() {  # leaf-or-chain intermediate
  # At a second before the leaf's notAfter: the chain is what is checked, and e (a 1 s
  # certificate, expired on purpose for the list checks) may have expired by now on a busy machine.
  local out at
  at=$(($(date -d "$(first_cert "$1" | openssl x509 -noout -enddate | cut -d= -f2)" +%s) - 1))
  out="$(openssl verify -x509_strict -attime "$at" -CAfile "$ROOT" -untrusted "$2" <(first_cert "$1") 2>&1)" ||
    { echo "$out"; return 1; }
}

section "init, then the root goes away"
check "init" sigil --home "$H" init --root-dir "$R" --root-passphrase-file "$PASS_FILE" \
  --allow-domain example.test --public-url "$PUBLIC_URL"
[[ -f "$R/root.crt" ]] || { fail "init failed; nothing else can run"; finish; }
cp "$R/root.crt" "$WORK/root.crt"
ROOT="$WORK/root.crt"
OLD_INTER="$WORK/old-intermediate.crt"
cp "$H/ca/intermediate.crt" "$OLD_INTER"
OLD_SERIAL="$(cert_serial "$OLD_INTER")"
if grep -rqs 'offline-root' "$H"; then fail "the home does not mention the root directory"
else pass "the home does not mention the root directory"; fi
check "the root directory moves away (into an unreadable directory)" root_away
if [[ $STRACE == 0 ]]; then echo "  note: strace unusable here; commands are checked without tracing"; fi
expect_fail_with "root crl with the root away fails and says where it looked" 'no root key' \
  env SIGIL_ROOT_PASSPHRASE=x "$SIGIL" root crl --root-dir "$R"

section "every other command with the root away"
offline "version" sigil version
offline "version --json" sigil --json version
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/a.key" -subj "/CN=a.example.test" \
  -addext "subjectAltName=DNS:a.example.test" -out "$WORK/a.csr" 2>/dev/null
offline "issue --csr" sigil --home "$H" issue --csr "$WORK/a.csr" --out "$WORK/a.pem"
offline "issue --name" sigil --home "$H" issue --name b.example.test --key-out "$WORK/b.key" --out "$WORK/b.pem"
if [[ $STRACE == 1 ]]; then
  # The tracing itself works: it saw the intermediate's key being read.
  if grep -q 'ca/intermediate.key' "$WORK/strace.log"; then pass "strace saw issue open ca/intermediate.key"
  else fail "strace saw issue open ca/intermediate.key"; fi
fi
offline "issue --name --profile client" \
  sigil --home "$H" issue --profile client --name c.example.test --key-out "$WORK/c.key" --out "$WORK/c.pem"
offline "issue to stdout (no --out)" sigil --home "$H" issue --name d.example.test --key-out "$WORK/d.key"
first_cert "$OUT" >"$WORK/d.pem" 2>/dev/null || true
offline "issue --ttl 1s (soon expired)" \
  sigil --home "$H" issue --name e.example.test --ttl 1s --key-out "$WORK/e.key" --out "$WORK/e.pem"
for f in a b c d e; do
  check "$f: chain verifies through the intermediate" verifies_via "$WORK/$f.pem" "$OLD_INTER"
done
A="$(cert_serial "$WORK/a.pem")"
B="$(cert_serial "$WORK/b.pem")"
Cs="$(cert_serial "$WORK/c.pem")"
E="$(cert_serial "$WORK/e.pem")"
ADMIN="$(cert_serial "$H/admin/admin.crt")"
TOTAL="$(sqlite3 "$H/sigil.db" 'select count(*) from certificates')"
expect_eq "the database holds the admin certificate and the 5 issued" "$TOTAL" 6

offline "list" sigil --home "$H" list
cp "$OUT" "$WORK/list.txt"
expect_eq "list: summary line counts every certificate" "$(tail -1 "$WORK/list.txt")" "$TOTAL certificates"
for s in "$A" "$B" "$Cs" "$ADMIN"; do
  if grep -q "^$s " "$WORK/list.txt"; then pass "list: shows $s"; else fail "list: shows $s"; fi
done
offline "list --json" sigil --home "$H" list --json
cp "$OUT" "$WORK/list.json"
json_check "list --json: every certificate, each once" "$WORK/list.json" \
  "len(j) == $TOTAL and len({c['serial'] for c in j}) == $TOTAL"
offline "list --profile client --json" sigil --home "$H" list --profile client --json
cp "$OUT" "$WORK/list-client.json"
json_check "list --profile client: the admin and c, nothing else" "$WORK/list-client.json" \
  "sorted(c['serial'] for c in j) == sorted(['$ADMIN', '$Cs']) and all(c['profile'] == 'client' for c in j)"
offline "list --expiring-within 2d --json" sigil --home "$H" list --expiring-within 2d --json
cp "$OUT" "$WORK/list-exp.json"
json_check "list --expiring-within 2d: the 24h certificates, not the 90-day admin" "$WORK/list-exp.json" \
  "{'$A', '$B', '$Cs'} <= {c['serial'] for c in j} and '$ADMIN' not in {c['serial'] for c in j}"
sleep 2  # e's 1 s lifetime ends
offline "list --status expired --json" sigil --home "$H" list --status expired --json
cp "$OUT" "$WORK/list-expired.json"
json_check "list --status expired: exactly the 1 s certificate" "$WORK/list-expired.json" \
  "[c['serial'] for c in j] == ['$E'] and j[0]['status'] == 'expired'"
offline "list --expiring-within 2d --json (after expiry)" sigil --home "$H" list --expiring-within 2d --json
cp "$OUT" "$WORK/list-exp2.json"
json_check "list --expiring-within: an expired certificate is not 'expiring'" "$WORK/list-exp2.json" \
  "'$E' not in {c['serial'] for c in j}"

offline "show SERIAL" sigil --home "$H" show "$B"
if grep -q "^serial: *$B" "$OUT" && grep -q '^status: *valid' "$OUT" && grep -q 'b.example.test' "$OUT"; then
  pass "show: serial, status valid, names"
else fail "show: serial, status valid, names"; _show_last; fi
offline "show SERIAL --json" sigil --home "$H" --json show "$B"
cp "$OUT" "$WORK/show.json"
json_check "show --json: the record and the certificate" "$WORK/show.json" \
  "j['serial'] == '$B' and j['status'] == 'valid' and j['certificate'].startswith('-----BEGIN CERTIFICATE-----')"
offline "show SERIAL --pem" sigil --home "$H" show --pem "$B"
cp "$OUT" "$WORK/show.pem"
check "show --pem: byte for byte the issued leaf" cmp "$WORK/show.pem" <(first_cert "$WORK/b.pem")
COLON="$(cert_serial "$WORK/b.pem" | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//')"
offline "show with an upper-case, colon-separated serial ($COLON)" sigil --home "$H" show --pem "$COLON"
cp "$OUT" "$WORK/show-colon.pem"
check "... finds the same certificate" cmp "$WORK/show-colon.pem" "$WORK/show.pem"

# A serial whose first byte is below 0x10, written without that leading zero (as Python's hex()
# or a hand-typed serial would): issue until one shows up (about one in nine does).
odd=""
for i in $(seq 1 100); do
  sigil --home "$H" issue --name "z$i.example.test" --key-out "$WORK/z$i.key" --out "$WORK/z$i.pem" >/dev/null 2>&1 || break
  s="$(cert_serial "$WORK/z$i.pem")"
  if [[ "$s" == 0* ]]; then odd="${s#0}"; ODD_PEM="$WORK/z$i.pem"; break; fi
done
if [[ -n "$odd" ]]; then
  offline "show with a serial missing its leading zero ($odd)" sigil --home "$H" show --pem "$odd"
  cp "$OUT" "$WORK/show-odd.pem"
  check "... finds that certificate" cmp "$WORK/show-odd.pem" <(first_cert "$ODD_PEM")
else
  fail "found a certificate with a serial starting with a zero nibble in 100 issuances"
fi
TOTAL="$(sqlite3 "$H/sigil.db" 'select count(*) from certificates')"

AUDIT_BEFORE="$(sqlite3 "$H/sigil.db" 'select count(*) from audit_log')"
offline "revoke --reason keyCompromise" sigil --home "$H" revoke "$A" --reason keyCompromise
offline "list --status revoked --json" sigil --home "$H" list --status revoked --json
cp "$OUT" "$WORK/list-revoked.json"
json_check "list --status revoked: exactly the revoked one, with its reason" "$WORK/list-revoked.json" \
  "[c['serial'] for c in j] == ['$A'] and j[0]['status'] == 'revoked' and j[0]['revocation_reason'] == 'keyCompromise' and 'revoked_at' in j[0]"
offline "list --status valid --json" sigil --home "$H" list --status valid --json
cp "$OUT" "$WORK/list-valid.json"
json_check "list --status valid: neither the revoked nor the expired one" "$WORK/list-valid.json" \
  "'$A' not in {c['serial'] for c in j} and '$E' not in {c['serial'] for c in j} and '$B' in {c['serial'] for c in j}"
offline "show of the revoked certificate" sigil --home "$H" show "$A"
if grep -q '^status: *revoked' "$OUT" && grep -q 'keyCompromise' "$OUT"; then pass "show: revoked (keyCompromise)"
else fail "show: revoked (keyCompromise)"; _show_last; fi
expect_eq "revocation wrote one audit row" "$(sqlite3 "$H/sigil.db" 'select count(*) from audit_log')" $((AUDIT_BEFORE + 1))
expect_fail_with "revoking twice fails" 'already|revoked' sigil --home "$H" revoke "$A" --reason superseded
expect_eq "the second revocation changed nothing" \
  "$(sqlite3 "$H/sigil.db" "select count(*) from audit_log; select revocation_reason is not null from certificates where serial = '$A'" | tr '\n' ' ')" \
  "$((AUDIT_BEFORE + 1)) 1 "

offline "backup --out" sigil --home "$H" backup --out "$WORK/backup.db"
expect_eq "backup: PRAGMA integrity_check is ok" "$(sqlite3 "$WORK/backup.db" 'PRAGMA integrity_check' 2>&1)" ok
expect_eq "backup: same certificate count" "$(sqlite3 "$WORK/backup.db" 'select count(*) from certificates')" "$TOTAL"
expect_eq "backup: same serials, statuses and DER" \
  "$(sqlite3 "$WORK/backup.db" 'select serial, status, hex(der) from certificates order by serial' | sha256sum)" \
  "$(sqlite3 "$H/sigil.db" 'select serial, status, hex(der) from certificates order by serial' | sha256sum)"
expect_eq "backup: same audit log" "$(sqlite3 "$WORK/backup.db" 'select count(*) from audit_log')" \
  "$(sqlite3 "$H/sigil.db" 'select count(*) from audit_log')"

offline "intermediate csr" sigil --home "$H" intermediate csr
PENDING_CSR="$H/ca/pending/intermediate.csr"
check "the pending CSR is a valid, self-signed CSR" bash -c "openssl req -in '$PENDING_CSR' -noout -verify 2>&1 | grep -q 'verify OK'"
expect_eq "the pending key is mode 0600" "$(mode_of "$H/ca/pending/intermediate.key")" 600
expect_fail_with "a second intermediate csr refuses while one is pending" 'pending|exists' \
  sigil --home "$H" intermediate csr

section "several CLI processes at once share the database"
before="$(sqlite3 "$H/sigil.db" 'select count(*) from certificates')"
pids=()
for i in $(seq 1 8); do
  "$SIGIL" --home "$H" issue --name "p$i.example.test" --key-out "$WORK/p$i.key" --out "$WORK/p$i.pem" \
    >"$WORK/p$i.out" 2>"$WORK/p$i.err" &
  pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
expect_eq "8 concurrent issuances all succeed" "$bad" 0
expect_eq "... with 8 new rows and 8 distinct serials" \
  "$(sqlite3 "$H/sigil.db" "select count(*), count(distinct serial) from certificates")" "$((before + 8))|$((before + 8))"
expect_eq "... and PRAGMA integrity_check is ok" "$(sqlite3 "$H/sigil.db" 'PRAGMA integrity_check')" ok
TOTAL="$(sqlite3 "$H/sigil.db" 'select count(*) from certificates')"

section "ceremony: sign the new intermediate offline, install it online"
check "the root comes back" root_back
check "root sign-intermediate" sigil root sign-intermediate --root-dir "$R" --root-passphrase-file "$PASS_FILE" \
  --csr "$PENDING_CSR" --out "$WORK/new.crt"
check "the root goes away again" root_away
NEW_SERIAL="$(cert_serial "$WORK/new.crt")"
check "the new intermediate verifies against the root" \
  openssl verify -x509_strict -CAfile "$ROOT" <(first_cert "$WORK/new.crt")
check "the new intermediate certifies the pending key" bash -c \
  "[[ \"\$(openssl req -in '$PENDING_CSR' -noout -pubkey)\" == \"\$(openssl x509 -in '$WORK/new.crt' -noout -pubkey)\" ]]"
offline "intermediate install" sigil --home "$H" intermediate install --cert "$WORK/new.crt"
expect_eq "ca/intermediate.crt is the new intermediate" "$(cert_serial "$H/ca/intermediate.crt")" "$NEW_SERIAL"
check "the old intermediate is archived" cmp "$H/ca/archive/$OLD_SERIAL.crt" "$OLD_INTER"
expect_eq "the archived old key is mode 0600" "$(mode_of "$H/ca/archive/$OLD_SERIAL.key")" 600
expect_eq "ca/intermediate.key is mode 0600" "$(mode_of "$H/ca/intermediate.key")" 600
if [[ ! -e "$H/ca/pending/intermediate.key" ]]; then pass "the pending key is gone (installed)"
else fail "the pending key is gone (installed)"; fi
check "ca/intermediate.key matches the new certificate" bash -c \
  "[[ \"\$(openssl pkey -in '$H/ca/intermediate.key' -pubout)\" == \"\$(openssl x509 -in '$H/ca/intermediate.crt' -noout -pubkey)\" ]]"

offline "issue after the rotation" sigil --home "$H" issue --name f.example.test --key-out "$WORK/f.key" --out "$WORK/f.pem"
check "the new leaf chains through the new intermediate (openssl verify)" \
  openssl verify -x509_strict -purpose sslserver -verify_hostname f.example.test -CAfile "$ROOT" \
  -untrusted "$WORK/f.pem" "$WORK/f.pem"
awk '/BEGIN CERTIFICATE/ {n++} n == 2' "$WORK/f.pem" >"$WORK/f-second.pem" 2>/dev/null || true
expect_eq "the new chain file carries the new intermediate" "$(cert_serial "$WORK/f-second.pem")" "$NEW_SERIAL"
expect_fail "the new leaf does not verify through the old intermediate" verifies_via "$WORK/f.pem" "$OLD_INTER"
check "certificates issued before still verify through the archived old intermediate" \
  verifies_via "$WORK/b.pem" "$H/ca/archive/$OLD_SERIAL.crt"
check "... and their own chain files still verify" \
  openssl verify -x509_strict -purpose sslserver -CAfile "$ROOT" -untrusted "$WORK/b.pem" "$WORK/b.pem"
expect_fail "... but not through the new intermediate" verifies_via "$WORK/b.pem" "$H/ca/intermediate.crt"
offline "list after the rotation" sigil --home "$H" list --json
cp "$OUT" "$WORK/list-after.json"
json_check "list after the rotation: old and new certificates, two issuers" "$WORK/list-after.json" \
  "len(j) == $TOTAL + 1 and len({c['issuer_id'] for c in j}) == 2"
offline "revoke an old-intermediate certificate after the rotation" sigil --home "$H" revoke "$B" --reason superseded
offline "intermediate csr after the rotation" sigil --home "$H" intermediate csr

section "install refuses a certificate from another CA"
O2="$WORK/other"
check "init a second, unrelated CA" sigil --home "$O2/home" init --root-dir "$O2/root" --root-passphrase-file "$PASS_FILE"
check "its root signs our pending CSR" sigil root sign-intermediate --root-dir "$O2/root" \
  --root-passphrase-file "$PASS_FILE" --csr "$PENDING_CSR" --out "$WORK/foreign.crt"
ca_before="$(tree_digest "$H/ca")"
rows_before="$(db_counts "$H/sigil.db")"
expect_fail_with "intermediate install of a certificate from another root is refused" 'root|chain|issu|sign' \
  sigil --home "$H" intermediate install --cert "$WORK/foreign.crt"
expect_fail "intermediate install of the other CA's own intermediate is refused" \
  sigil --home "$H" intermediate install --cert "$O2/home/ca/intermediate.crt"
expect_fail "intermediate install of a leaf certificate is refused" \
  sigil --home "$H" intermediate install --cert "$WORK/f.pem"
expect_eq "the refused installs changed nothing in ca/" "$(tree_digest "$H/ca")" "$ca_before"
expect_eq "the refused installs wrote no row" "$(db_counts "$H/sigil.db")" "$rows_before"
offline "issuing still works with the installed intermediate" \
  sigil --home "$H" issue --name g.example.test --key-out "$WORK/g.key" --out "$WORK/g.pem"
check "... through the new intermediate" verifies_via "$WORK/g.pem" "$WORK/new.crt"

section "the root's CRL, and revoking the old intermediate"
check "the root comes back" root_back
crl_number() {  # decimal
  local hex
  hex="$(openssl crl -in "$1" -noout -crlnumber 2>/dev/null | cut -d= -f2 || true)"
  hex="${hex#0x}"
  [[ "$hex" =~ ^[0-9A-Fa-f]+$ ]] && echo $((16#$hex)) || echo "none"
}
check "root crl" sigil root crl --root-dir "$R" --root-passphrase-file "$PASS_FILE"
check "the CRL parses (openssl crl -inform PEM -text)" openssl crl -inform PEM -in "$R/root.crl" -noout -text
check "the CRL's signature verifies against the root" bash -c \
  "openssl crl -in '$R/root.crl' -CAfile '$ROOT' -noout 2>&1 | grep -q 'verify OK'"
expect_eq "the CRL is issued by the root" "$(openssl crl -in "$R/root.crl" -noout -issuer)" \
  "$(openssl x509 -in "$ROOT" -noout -subject | sed 's/^subject/issuer/')"
crl_span() {  # nextUpdate - lastUpdate, in seconds
  echo $(( $(epoch_of "$(openssl crl -in "$1" -noout -nextupdate 2>/dev/null | cut -d= -f2)") - \
           $(epoch_of "$(openssl crl -in "$1" -noout -lastupdate 2>/dev/null | cut -d= -f2)") ))
}
crl1_text="$(openssl crl -in "$R/root.crl" -noout -text 2>&1 || true)"
if grep -q 'Version 2 (0x1)' <<<"$crl1_text"; then pass "the CRL is v2"; else fail "the CRL is v2"; fi
expect_eq "the CRL's authorityKeyIdentifier is the root's SKI" \
  "$(grep -A1 'X509v3 Authority Key Identifier' <<<"$crl1_text" | sed -n '2{s/^ *//;s/^keyid://;p}')" \
  "$(openssl x509 -in "$ROOT" -noout -ext subjectKeyIdentifier | sed -n '2s/^ *//p')"
expect_eq "nextUpdate is 30 days after lastUpdate by default" "$(crl_span "$R/root.crl")" $((30 * 86400))
N1="$(crl_number "$R/root.crl")"
if [[ "$N1" =~ ^[0-9]+$ ]]; then pass "the CRL has a CRL number ($N1)"; else fail "the CRL has a CRL number"; N1=0; fi
check "root crl again (--out, --next-update 7d)" sigil root crl --root-dir "$R" --root-passphrase-file "$PASS_FILE" \
  --out "$WORK/crl2.pem" --next-update 7d
expect_eq "--next-update 7d: nextUpdate is 7 days after lastUpdate" "$(crl_span "$R/root.crl")" $((7 * 86400))
N2="$(crl_number "$R/root.crl")"
expect_eq "the CRL number increments across runs" "$N2" "$((N1 + 1))"
check "--out gets the same CRL" cmp "$R/root.crl" "$WORK/crl2.pem"
if openssl crl -in "$R/root.crl" -noout -text | grep -q 'No Revoked Certificates'; then
  pass "nothing is revoked yet"
else fail "nothing is revoked yet"; fi
check "before revocation: the old intermediate passes -crl_check" \
  openssl verify -crl_check -CAfile "$ROOT" -CRLfile "$R/root.crl" "$OLD_INTER"

check "root revoke-intermediate (the old one, keyCompromise)" sigil root revoke-intermediate --root-dir "$R" \
  --root-passphrase-file "$PASS_FILE" --cert "$H/ca/archive/$OLD_SERIAL.crt" --reason keyCompromise
expect_fail_with "revoking it twice is refused" 'already' sigil root revoke-intermediate --root-dir "$R" \
  --root-passphrase-file "$PASS_FILE" --cert "$OLD_INTER"
expect_fail_with "revoking another root's intermediate is refused" 'not issued|root' sigil root revoke-intermediate \
  --root-dir "$R" --root-passphrase-file "$PASS_FILE" --cert "$O2/home/ca/intermediate.crt"
check "root crl after the revocation" sigil root crl --root-dir "$R" --root-passphrase-file "$PASS_FILE"
N3="$(crl_number "$R/root.crl")"
expect_eq "the CRL number increments again" "$N3" "$((N2 + 1))"
check "the new CRL parses and verifies" bash -c \
  "openssl crl -inform PEM -in '$R/root.crl' -noout -text >/dev/null && openssl crl -in '$R/root.crl' -CAfile '$ROOT' -noout 2>&1 | grep -q 'verify OK'"
crl_text="$(openssl crl -in "$R/root.crl" -noout -text 2>&1 || true)"
if grep -qi "Serial Number: *$OLD_SERIAL\$" <<<"$crl_text"; then pass "the CRL lists the old intermediate's serial"
else fail "the CRL lists the old intermediate's serial" "$(grep -i 'Serial Number' <<<"$crl_text" | head -3)"; fi
if grep -q 'Key Compromise' <<<"$crl_text"; then pass "with reason keyCompromise"
else fail "with reason keyCompromise"; fi
expect_eq "and nothing else" "$(grep -c 'Serial Number' <<<"$crl_text")" 1
expect_fail_with "after revocation: the old intermediate FAILS -crl_check" 'revoked' \
  openssl verify -crl_check -CAfile "$ROOT" -CRLfile "$R/root.crl" "$OLD_INTER"
check "the new intermediate still passes -crl_check" \
  openssl verify -crl_check -CAfile "$ROOT" -CRLfile "$R/root.crl" <(first_cert "$WORK/new.crt")
check "the root goes away again" root_away
offline "the online CA keeps working after the root ceremony" sigil --home "$H" list --status valid

section "the root key at rest (issue 11 item 14): PBKDF2-HMAC-SHA256, 600,000 iterations; change-passphrase"
# kdf_of FILE: "KDF PRF CIPHER ITERATIONS" of an encrypted PKCS#8 PEM, as openssl asn1parse reads it.
kdf_of() {
  local a iter
  a="$(openssl asn1parse -in "$1" 2>/dev/null)" || { echo "unparseable"; return 0; }
  iter="$(grep -A3 ':PBKDF2' <<<"$a" | grep -m1 'INTEGER' | sed 's/.*://')"
  echo "$(grep -m1 -o ':PBKDF2\|:scrypt' <<<"$a" | tr -d :) $(grep -m1 -o 'hmacWith[A-Z0-9]*' <<<"$a") \
$(grep -m1 -o 'aes-[0-9]*-cbc' <<<"$a") $((16#${iter:-0}))"
}
pubkey_of_key() { openssl pkey -in "$1" -passin "file:$2" -pubout 2>/dev/null || echo none; }
check "the root comes back" root_back
expect_eq "root.key from init: PBES2 with PBKDF2-HMAC-SHA256 at 600,000 iterations, AES-256-CBC" \
  "$(kdf_of "$R/root.key")" "PBKDF2 hmacWithSHA256 aes-256-cbc 600000"
check "root.key opens with the stock openssl and matches root.crt" bash -c \
  "[[ \"\$(openssl pkey -in '$R/root.key' -passin file:'$PASS_FILE' -pubout)\" == \"\$(openssl x509 -in '$ROOT' -noout -pubkey)\" ]]"

printf 'eleven-char\n' >"$WORK/pass11"
rc=0
sigil --home "$WORK/h11" init --root-dir "$WORK/r11" --root-passphrase-file "$WORK/pass11" >/dev/null \
  2>"$WORK/init11.err" || rc=$?
expect_eq "init with an 11-character passphrase: exit 3, one line on stderr" "$rc $(wc -l <"$WORK/init11.err")" "3 1"
if grep -q 'at least 12 characters' "$WORK/init11.err"; then pass "... saying it needs at least 12 characters"
else fail "... saying it needs at least 12 characters" "$(cat "$WORK/init11.err")"; fi
[[ ! -e "$WORK/h11" && ! -e "$WORK/r11" ]] && pass "... and creates neither directory" \
  || fail "... and creates neither directory"

# A root key from before: OpenSSL's default PBKDF2 (2,048 iterations) under an 8-character passphrase.
printf 'old-pass\n' >"$WORK/old-pass"
openssl pkey -in "$R/root.key" -passin "file:$PASS_FILE" 2>/dev/null |
  openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 -passout "file:$WORK/old-pass" \
    -out "$WORK/legacy.key" 2>/dev/null
cp "$WORK/legacy.key" "$R/root.key"
chmod 600 "$R/root.key"
expect_eq "the legacy root key: 2,048 iterations" "$(kdf_of "$R/root.key")" "PBKDF2 hmacWithSHA256 aes-256-cbc 2048"
check "a legacy root key (2,048 iterations, 8-character passphrase) still opens: root crl" \
  sigil root crl --root-dir "$R" --root-passphrase-file "$WORK/old-pass" --out "$WORK/legacy.crl"

key_before="$(sha256sum <"$R/root.key")"
files_before="$(ls -A "$R" | sort | tr '\n' ' ')"
printf 'eleven-char\n' >"$WORK/new11"
rc=0
sigil root change-passphrase --root-dir "$R" --root-passphrase-file "$WORK/old-pass" \
  --new-passphrase-file "$WORK/new11" >/dev/null 2>"$WORK/ch11.err" || rc=$?
expect_eq "change-passphrase to 11 characters: exit 3, one line" "$rc $(wc -l <"$WORK/ch11.err")" "3 1"
expect_eq "... root.key unchanged" "$(sha256sum <"$R/root.key")" "$key_before"
printf 'twelve-chars\n' >"$WORK/new12"
rc=0
sigil root change-passphrase --root-dir "$R" --root-passphrase-file "$WORK/new12" \
  --new-passphrase-file "$WORK/new12" >/dev/null 2>"$WORK/chwrong.err" || rc=$?
expect_eq "change-passphrase with a wrong current passphrase: exit 5, one line" \
  "$rc $(wc -l <"$WORK/chwrong.err")" "5 1"
expect_eq "... root.key unchanged" "$(sha256sum <"$R/root.key")" "$key_before"

inode_before="$(stat -c %i "$R/root.key")"
check "change-passphrase (8-character legacy -> 12 characters)" sigil root change-passphrase --root-dir "$R" \
  --root-passphrase-file "$WORK/old-pass" --new-passphrase-file "$WORK/new12"
expect_eq "root.key re-encrypted: PBKDF2-HMAC-SHA256 at 600,000 iterations" \
  "$(kdf_of "$R/root.key")" "PBKDF2 hmacWithSHA256 aes-256-cbc 600000"
expect_eq "root.key is mode 0600" "$(mode_of "$R/root.key")" 600
if [[ "$(stat -c %i "$R/root.key")" != "$inode_before" ]]; then pass "root.key was replaced by a rename (new inode)"
else fail "root.key was replaced by a rename (new inode)"; fi
expect_eq "no stray file left in the root directory" "$(ls -A "$R" | sort | tr '\n' ' ')" "$files_before"
expect_eq "the key itself is unchanged: same public key as root.crt" \
  "$(pubkey_of_key "$R/root.key" "$WORK/new12")" "$(openssl x509 -in "$ROOT" -noout -pubkey)"
expect_fail "the old passphrase no longer opens root.key (openssl)" \
  openssl pkey -in "$R/root.key" -passin "file:$WORK/old-pass" -noout
expect_fail_with "the old passphrase no longer opens root.key (sigil root crl)" 'passphrase' \
  sigil root crl --root-dir "$R" --root-passphrase-file "$WORK/old-pass" --out "$WORK/x.crl"
check "the new passphrase does (sigil root crl)" \
  sigil root crl --root-dir "$R" --root-passphrase-file "$WORK/new12" --out "$WORK/new.crl"
check "... and root crl's CRL verifies against the root" bash -c \
  "openssl crl -in '$WORK/new.crl' -CAfile '$ROOT' -noout 2>&1 | grep -q 'verify OK'"
check "change-passphrase through the environment (SIGIL_ROOT_PASSPHRASE, SIGIL_ROOT_NEW_PASSPHRASE)" \
  env SIGIL_ROOT_PASSPHRASE=twelve-chars SIGIL_ROOT_NEW_PASSPHRASE=integration-root-passphrase \
  "$SIGIL" root change-passphrase --root-dir "$R"
if grep -rqs -- 'PRIVATE KEY-----' "$OUT" "$ERR"; then fail "change-passphrase prints no key"
else pass "change-passphrase prints no key"; fi
check "... the original passphrase opens it again" \
  sigil root crl --root-dir "$R" --root-passphrase-file "$PASS_FILE" --out "$WORK/back.crl"
check "the root goes away again" root_away

finish
