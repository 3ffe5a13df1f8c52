#!/usr/bin/env bash
# Long CLI operations (issue 16 item 4): `sigil revoke --serials-file` revokes every serial a file
# names (looked up first: a bad line or an unknown serial revokes nothing; those already revoked
# are skipped, so the same file can be given again); `sigil backup` and bulk revocation draw a
# progress bar on a terminal (a pseudo-terminal from `script`) and nothing through a pipe.
source "$(dirname "$0")/lib.sh" "$@"

PASS_FILE="$WORK/passphrase"
printf 'integration-root-passphrase\n' >"$PASS_FILE"
H="$WORK/home"
check "init" sigil --home "$H" init --root-dir "$WORK/root" --root-passphrase-file "$PASS_FILE" \
  --allow-domain example.internal
serials=()
for i in 1 2 3 4 5; do
  check "issue c$i" sigil --home "$H" issue --name "c$i.example.internal" --key-out "$WORK/c$i.key" --out "$WORK/c$i.crt"
  serials+=("$(cert_serial "$WORK/c$i.crt")")
done
status_of() { sigil --home "$H" --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
statuses() { local s out=""; for s in "${serials[@]}"; do out+="$(status_of "$s") "; done; echo "$out"; }

section "bad input revokes nothing"
printf '%s\nnot-a-serial!\n' "${serials[0]}" >"$WORK/bad.txt"
expect_fail_with "a bad line: named with its line number" "bad.txt line 2" \
  sigil --home "$H" revoke --serials-file "$WORK/bad.txt"
printf '%s\n%s\n' "${serials[0]}" "0badc0ffee0badc0ffee" >"$WORK/unknown.txt"
expect_fail_with "an unknown serial: named, nothing revoked" "no certificate with serial 0badc0ffee0badc0ffee; nothing was revoked" \
  sigil --home "$H" revoke --serials-file "$WORK/unknown.txt"
expect_fail_with "a serial and --serials-file together are refused" "excludes|give a serial" \
  sigil --home "$H" revoke "${serials[0]}" --serials-file "$WORK/bad.txt"
printf '# nothing\n\n' >"$WORK/empty.txt"
expect_fail_with "a file naming no serial" "names no serial" sigil --home "$H" revoke --serials-file "$WORK/empty.txt"
expect_eq "every certificate still valid" "$(statuses)" "valid valid valid valid valid "

section "bulk revocation"
check "revoke c1 alone first" sigil --home "$H" revoke "${serials[0]}"
{
  echo "# decommissioned hosts"
  printf '%s\n' "${serials[0]}" "${serials[1]}" "  ${serials[2]}  " "${serials[2]}"
  printf '\n%s\n' "$(tr 'a-f' 'A-F' <<<"${serials[3]}")"
} >"$WORK/serials.txt"
sigil --home "$H" --json revoke --serials-file "$WORK/serials.txt" --reason superseded >"$WORK/bulk.json" 2>"$WORK/bulk.err"
json_check "c2..c4 revoked, c1 reported as already revoked (duplicates and case folded)" "$WORK/bulk.json" \
  "sorted(j['revoked']) == sorted(['${serials[1]}', '${serials[2]}', '${serials[3]}']) and j['already_revoked'] == ['${serials[0]}'] and j['reason'] == 'superseded'"
expect_eq "statuses after" "$(statuses)" "revoked revoked revoked revoked valid "
expect_eq "no progress output when stderr is not a terminal" "$(cat "$WORK/bulk.err")" ""
check "the same file again: nothing left to revoke, exit 0" sigil --home "$H" revoke --serials-file "$WORK/serials.txt"
expect_eq "... says so" "$(cat "$OUT")" "revoked 0 certificate(s) (unspecified), 4 already revoked"
check "the audit log has one revoke row per certificate" \
  test "$(sqlite3 "$H/sigil.db" "select count(*) from audit_log where action = 'revoke'")" -eq 4

section "progress bars on a terminal only"
printf '%s\n' "${serials[4]}" >"$WORK/last.txt"
script -qec "'$SIGIL' --home '$H' revoke --serials-file '$WORK/last.txt'" /dev/null >"$WORK/tty-revoke.txt" 2>&1 || true
check "on a terminal: a bar for bulk revocation" grep -q 'revoking \[#*' "$WORK/tty-revoke.txt"
check "... and the result line after it" grep -q 'revoked 1 certificate(s)' "$WORK/tty-revoke.txt"
script -qec "'$SIGIL' --home '$H' backup --out '$WORK/tty.db'" /dev/null >"$WORK/tty-backup.txt" 2>&1 || true
check "on a terminal: a bar for backup, to 100%" grep -q 'backup (pages) \[#*\] 100%' "$WORK/tty-backup.txt"
sigil --home "$H" backup --out "$WORK/pipe.db" >"$WORK/pipe.out" 2>"$WORK/pipe.err"
expect_eq "through a pipe: no bar" "$(cat "$WORK/pipe.err")" ""
check "the backup is a sound database" test "$(sqlite3 "$WORK/tty.db" 'pragma integrity_check')" = ok
TERM=dumb script -qec "'$SIGIL' --home '$H' backup --out '$WORK/dumb.db'" /dev/null >"$WORK/dumb.txt" 2>&1 || true
if grep -q 'backup (pages)' "$WORK/dumb.txt"; then fail "TERM=dumb: no bar" "$(head -2 "$WORK/dumb.txt")"; else pass "TERM=dumb: no bar"; fi

finish
