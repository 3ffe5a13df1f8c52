#!/usr/bin/env bash
# sigil admin renew: the home's admin certificate (identity sigil-admin, which the identifier
# policy never allows, so it cannot renew itself through the API) is re-issued on the CA host.
# Not due: says so, changes nothing, exit 0. --force: a new serial for the same key (or a new key
# with --rotate-key), installed as a matching 0600 pair, accepted by a running `sigil serve`,
# while the previous certificate (admin.crt.prev) keeps working: it is not revoked. Due without
# --force inside the renewal window and after expiry (certificates forged with the home's
# intermediate to look old: the CLI has no fake clock), which `sigil status` reports first. A
# failure (installer blocked, admin directory read-only) leaves the old pair and exits non-zero
# with one line.
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
A="$H/admin"
serve_init "$H"

# The SHA-256 of a certificate's or a key's public key (DER SubjectPublicKeyInfo).
cert_spki() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
key_spki() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
pair_matches() { [[ -n "$(cert_spki "$1")" && "$(cert_spki "$1")" == "$(key_spki "$2")" ]]; }
# Mode of what a path resolves to (admin.key becomes a symlink).
target_mode() { stat -L -c '%a' "$1" 2>/dev/null || echo missing; }
# What a reader of the pair sees: both files' contents.
pair_digest() { cat "$1/admin.crt" "$1/admin.key" 2>/dev/null | sha256sum | cut -d' ' -f1; }
# said DESC REGEX: the last command's stdout matches (check would overwrite $OUT while grep reads it).
said() {
  cp "$OUT" "$WORK/said.out"
  check "$1" grep -Eq -- "$2" "$WORK/said.out"
}
db_of() { echo "$1/$(json_field "$1/sigil.json" database)"; }

# forge HOME NOT_BEFORE_DAYS_AGO NOT_AFTER_DAYS_FROM_NOW: replaces HOME/admin/admin.crt by a
# certificate for the current admin key and identity, signed by the home's intermediate, with
# those dates (negative: in the past). Not in the CA's database; only its dates matter here.
forge() {
  local h="$1"
  forge_admin_cert "$h" "$WORK/forged.pem" "$((-$2))" "$3"
  # A new file in place of the path (never through the installer's symlink into a version).
  rm -f "$h/admin/admin.crt"
  cp "$WORK/forged.pem" "$h/admin/admin.crt"
}

section "not yet due: nothing changes"
S0="$(cert_serial "$A/admin.crt")"
K0="$(key_spki "$A/admin.key")"
D0="$(tree_digest "$A")"
check "sigil admin renew exits 0" sigil --home "$H" admin renew
said "it says the certificate is not due, and when it will be" "^admin certificate $S0 is not due for renewal until [0-9T:-]+Z"
expect_eq "HOME/admin is unchanged (names, modes, contents)" "$(tree_digest "$A")" "$D0"
check "sigil admin renew --json exits 0" sigil --home "$H" admin renew --json
cp "$OUT" "$WORK/notdue.json"
json_check "--json: renewed false, 'not yet due', the serial, renew_after two thirds into 90 days" "$WORK/notdue.json" \
  "j['renewed'] is False and j['decision'] == 'not yet due' and j['serial'] == '$S0' and \
   abs(ts(j['renew_after']) - ts(j['not_after']) + 30*86400) <= 600"
expect_eq "still unchanged" "$(tree_digest "$A")" "$D0"
sigil --home "$H" status --json >"$WORK/st0.json" 2>/dev/null || true
json_check "sigil status: admin_certificate ok, with its expiry" "$WORK/st0.json" \
  "j['checks']['admin_certificate']['level'] == 'ok' and j['checks']['admin_certificate']['serial'] == '$S0' and \
   j['checks']['admin_certificate']['seconds_left'] > 80*86400"

section "--force: a new serial for the same key, installed as a matching pair"
check "sigil admin renew --force --json" sigil --home "$H" admin renew --force --json
cp "$OUT" "$WORK/force.json"
S1="$(cert_serial "$A/admin.crt")"
check "a new serial ($S0 -> $S1)" test -n "$S1" -a "$S1" != "$S0" -a "$S1" != none
json_check "--json: renewed, forced, new_serial, same key" "$WORK/force.json" \
  "j['renewed'] is True and j['decision'] == 'forced' and j['serial'] == '$S0' and j['new_serial'] == '$S1' and \
   j['rotated_key'] is False"
expect_eq "the key is kept" "$(key_spki "$A/admin.key")" "$K0"
check "certificate and key match" pair_matches "$A/admin.crt" "$A/admin.key"
expect_eq "the key is 0600" "$(target_mode "$A/admin.key")" 600
check "the certificate is for sigil-admin with clientAuth, ~90 days" bash -c \
  "openssl x509 -in '$A/admin.crt' -noout -ext subjectAltName,extendedKeyUsage | grep -q 'DNS:sigil-admin' && \
   openssl x509 -in '$A/admin.crt' -noout -ext extendedKeyUsage | grep -q 'TLS Web Client Authentication' && \
   test \$(( $(cert_not_after "$A/admin.crt") - $(cert_not_before "$A/admin.crt") )) -ge $((89 * 86400))"
check "the chain verifies to the root" openssl verify -CAfile "$H/ca/root.crt" -untrusted "$A/admin.crt" "$A/admin.crt"
check "admin.crt and admin.key are symlinks into .sigil-renew/live" bash -c \
  "[[ -L '$A/admin.crt' && -L '$A/admin.key' && \$(readlink '$A/admin.crt') == .sigil-renew/live/cert.pem ]]"
expect_eq "the previous certificate stays as admin.crt.prev" "$(cert_serial "$A/admin.crt.prev")" "$S0"
expect_eq "admin.key.prev is 0600" "$(target_mode "$A/admin.key.prev")" 600
DB="$(db_of "$H")"
expect_eq "the audit log records admin.renew for $S1" \
  "$(sqlite3 "$DB" "select count(*) from audit_log where action = 'admin.renew' and target = '$S1' and outcome = 'ok'")" 1
expect_eq "and its issuance, like any other" \
  "$(sqlite3 "$DB" "select count(*) from audit_log where action = 'issue' and target = '$S1'")" 1
check "sigil show $S0 --json" sigil --home "$H" show "$S0" --json
cp "$OUT" "$WORK/show0.json"
json_check "the old certificate is still valid (not revoked)" "$WORK/show0.json" "j['status'] == 'valid'"

section "the renewed certificate works against sigil serve; the old one still does"
serve_start "$H" serve
admin_req GET "$(api '/api/v1/certificates?limit=5')"
expect_http "list certificates with the renewed admin certificate $S1" 200
hreq "$A/admin.crt.prev" "$A/admin.key.prev" GET "$(api '/api/v1/certificates?limit=5')"
expect_http "list certificates with the previous one ($S0)" 200

section "--force --rotate-key: a new key"
check "sigil admin renew --force --rotate-key" sigil --home "$H" admin renew --force --rotate-key
said "it says renewed, with a new key" "^admin certificate renewed \(forced\): serial .*, new key"
S2="$(cert_serial "$A/admin.crt")"
check "a new serial ($S1 -> $S2)" test -n "$S2" -a "$S2" != "$S1" -a "$S2" != none
check "a new key" test "$(key_spki "$A/admin.key")" != "$K0"
check "certificate and new key match" pair_matches "$A/admin.crt" "$A/admin.key"
expect_eq "the new key is 0600" "$(target_mode "$A/admin.key")" 600
check "the previous pair ($S1 with the old key) matches too" pair_matches "$A/admin.crt.prev" "$A/admin.key.prev"
admin_req GET "$(api '/api/v1/certificates?limit=5')"
expect_http "list certificates with the rotated admin certificate $S2" 200
hreq "$A/admin.crt.prev" "$A/admin.key.prev" GET "$(api '/api/v1/certificates?limit=5')"
expect_http "list certificates with the previous one ($S1)" 200

section "an expired admin certificate (forged to look expired) is renewed without --force"
forge "$H" 100 -10
SX="$(cert_serial "$A/admin.crt")"
check "the forged certificate chains to the root and has expired" bash -c \
  "openssl verify -CAfile '$H/ca/root.crt' -untrusted '$A/admin.crt' -no_check_time '$A/admin.crt' >/dev/null && \
   ! openssl x509 -in '$A/admin.crt' -noout -checkend 0 >/dev/null"
sigil --home "$H" status --json >"$WORK/stx.json" 2>/dev/null || true
json_check "sigil status: admin_certificate is an error (EXPIRED)" "$WORK/stx.json" \
  "j['status'] == 'error' and j['checks']['admin_certificate']['level'] == 'error' and \
   'EXPIRED' in j['checks']['admin_certificate']['summary'] and j['checks']['admin_certificate']['seconds_left'] < 0"
KX="$(key_spki "$A/admin.key")"
check "sigil admin renew --json (no --force)" sigil --home "$H" admin renew --json
cp "$OUT" "$WORK/expired.json"
json_check "--json: renewed, decision 'expired'" "$WORK/expired.json" \
  "j['renewed'] is True and j['decision'] == 'expired' and j['serial'] == '$SX'"
S3="$(cert_serial "$A/admin.crt")"
check "a new, valid certificate ($S3) for the same key" bash -c \
  "[[ '$S3' != '$SX' && '$(key_spki "$A/admin.key")' == '$KX' ]] && openssl x509 -in '$A/admin.crt' -noout -checkend 86400 >/dev/null"
check "certificate and key match" pair_matches "$A/admin.crt" "$A/admin.key"
admin_req GET "$(api '/api/v1/certificates?limit=5')"
expect_http "the renewed certificate works against sigil serve" 200
sigil --home "$H" status --json >"$WORK/st3.json" 2>/dev/null || true
json_check "sigil status: admin_certificate ok again" "$WORK/st3.json" \
  "j['checks']['admin_certificate']['level'] == 'ok' and j['checks']['admin_certificate']['serial'] == '$S3'"
serve_stop

section "inside the renewal window (a fresh home, plain files): status warns, renew acts"
H2="$WORK/home2"
serve_init "$H2"
forge "$H2" 70 20
SW="$(cert_serial "$H2/admin/admin.crt")"
sigil --home "$H2" status --json >"$WORK/stw.json" 2>/dev/null || true
json_check "sigil status: admin_certificate warns (in its renewal window, 20 days left)" "$WORK/stw.json" \
  "j['checks']['admin_certificate']['level'] == 'warn' and 'sigil admin renew' in j['checks']['admin_certificate']['summary'] \
   and ts(j['checks']['admin_certificate']['renew_after']) < __import__('time').time()"
forge "$H2" 85 5
sigil --home "$H2" status --json >"$WORK/st5.json" 2>/dev/null || true
json_check "sigil status: admin_certificate is an error with 5 days left" "$WORK/st5.json" \
  "j['checks']['admin_certificate']['level'] == 'error' and 0 < j['checks']['admin_certificate']['seconds_left'] <= 7*86400"
forge "$H2" 70 20
SW="$(cert_serial "$H2/admin/admin.crt")"
check "sigil admin renew (no --force)" sigil --home "$H2" admin renew
said "it says renewed (window opened), same key" "^admin certificate renewed \(window opened\): serial .*, same key"
check "a new certificate, matching the key" bash -c \
  "[[ '$(cert_serial "$H2/admin/admin.crt")' != '$SW' ]] && openssl x509 -in '$H2/admin/admin.crt' -noout -checkend $((80 * 86400)) >/dev/null"
check "certificate and key match" pair_matches "$H2/admin/admin.crt" "$H2/admin/admin.key"
expect_eq "the forged one is admin.crt.prev" "$(cert_serial "$H2/admin/admin.crt.prev")" "$SW"
expect_eq "the key is 0600" "$(target_mode "$H2/admin/admin.key")" 600
check "now it is not due" bash -c "\"$SIGIL\" --home '$H2' admin renew | grep -q 'is not due'"

section "failures leave the old pair and say why in one line"
# expect_intact DESC HOME DIGEST SERIAL: a failed run's exit, one-line stderr, the pair unchanged.
expect_intact() {
  local desc="$1" h="$2" digest="$3" serial="$4" rc=0
  "$SIGIL" --home "$h" admin renew --force >"$OUT" 2>"$ERR" || rc=$?
  if [[ $rc -ne 0 && $(wc -l <"$ERR") -eq 1 ]] && grep -q '^sigil: error: ' "$ERR"; then
    pass "$desc: exit $rc, one line: $(cut -c1-150 "$ERR")"
  else
    fail "$desc" "exit $rc, stderr: $(head -c 300 "$ERR")"
  fi
  expect_eq "$desc: the pair is unchanged" "$(pair_digest "$h/admin")" "$digest"
  expect_eq "$desc: the serial is unchanged" "$(cert_serial "$h/admin/admin.crt")" "$serial"
  check "$desc: certificate and key still match" pair_matches "$h/admin/admin.crt" "$h/admin/admin.key"
}
# A home whose pair was never installed by the agent: plain files, the installer's directory
# blocked by a file of that name.
H3="$WORK/home3"
serve_init "$H3"
P3="$(pair_digest "$H3/admin")"
S3a="$(cert_serial "$H3/admin/admin.crt")"
echo blocked >"$H3/admin/.sigil-renew"
expect_intact "installer directory blocked (first run)" "$H3" "$P3" "$S3a"
rm -f "$H3/admin/.sigil-renew"
# An installed pair: the installer's lock cannot be taken (a directory in its place).
P2="$(pair_digest "$H2/admin")"
S2a="$(cert_serial "$H2/admin/admin.crt")"
rm -f "$H2/admin/.sigil-renew/lock"
mkdir "$H2/admin/.sigil-renew/lock"
expect_intact "installer lock blocked (installed pair)" "$H2" "$P2" "$S2a"
rmdir "$H2/admin/.sigil-renew/lock"
# The admin directory read-only: by its mode for an ordinary user; root ignores modes, so as root
# a read-only bind mount (the test runs in a private mount namespace, see CMakeLists.txt).
if [[ $EUID -ne 0 ]]; then
  chmod 0500 "$H2/admin"
  expect_intact "admin directory not writable (mode 0500)" "$H2" "$P2" "$S2a"
  chmod 0700 "$H2/admin"
elif mount --bind "$H2/admin" "$H2/admin" 2>/dev/null && mount -o remount,bind,ro "$H2/admin" 2>/dev/null; then
  expect_intact "admin directory read-only (bind mount)" "$H2" "$P2" "$S2a"
  umount "$H2/admin"
else
  umount "$H2/admin" 2>/dev/null || true
  echo "  skip  admin directory read-only: cannot bind-mount here (needs root in a private mount namespace)"
fi
check "unblocked, the same home renews" sigil --home "$H2" admin renew --force
check "certificate and key match" pair_matches "$H2/admin/admin.crt" "$H2/admin/admin.key"
expect_fail_with "no home: one-line error" "sigil: error: .*sigil.json" sigil --home "$WORK/nohome" admin renew
rm -f "$H3/admin/admin.crt"
expect_fail_with "no admin certificate: one-line error naming it" "sigil: error: the admin certificate" \
  sigil --home "$H3" admin renew
expect_fail_with "admin without a subcommand is a usage error" "admin|subcommand" sigil --home "$H" admin

finish
