#!/usr/bin/env bash
# Issue 2, "The sigil binary": `--json` output of every command is one JSON document on stdout
# (python3 -m json.tool parses it) with the fields the commands document, consistent with the
# certificates themselves; `--home` falls back to $SIGIL_HOME, then ./sigil-data.
source "$(dirname "$0")/lib.sh" "$@"

PASS_FILE="$WORK/passphrase"
printf 'integration-root-passphrase\n' >"$PASS_FILE"
H="$WORK/home"
R="$WORK/root"
J="$WORK/json"
mkdir -p "$J"

# json_cmd DESC FILE CMD... : CMD succeeds and its whole stdout is one JSON document.
json_cmd() {
  local desc="$1" file="$2"
  shift 2
  local rc=0
  "$@" >"$file" 2>"$ERR" || rc=$?
  cp "$file" "$OUT"
  if [[ $rc -ne 0 ]]; then
    fail "$desc" "exit $rc from: $*"
    _show_last
  elif ! python3 -m json.tool "$file" >/dev/null 2>"$WORK/json.err"; then
    fail "$desc: stdout is one JSON document (python3 -m json.tool)" "$(head -1 "$WORK/json.err")"
    _show_last
  else
    pass "$desc: stdout parses with python3 -m json.tool"
  fi
}

section "init --json"
json_cmd "init --json" "$J/init.json" sigil --home "$H" --json init --root-dir "$R" --root-passphrase-file "$PASS_FILE" \
  --allow-domain example.test --spiffe-trust-domain td.example.test --key-type ec-p384
[[ -f "$H/sigil.json" ]] || { fail "init failed; nothing else can run"; finish; }
json_check "init: home, root_dir, certificates, admin_serial, key_type" "$J/init.json" \
  "set(j) >= {'home', 'root_dir', 'root_certificate', 'intermediate_certificate', 'admin_certificate', 'admin_serial', 'key_type'}"
json_check "init: absolute paths to files that exist" "$J/init.json" \
  "j['home'] == '$H' and j['root_dir'] == '$R' and all(os.path.isabs(j[k]) and os.path.isfile(j[k]) for k in ('root_certificate', 'intermediate_certificate', 'admin_certificate'))"
json_check "init: root_certificate is in the root dir, the others in the home" "$J/init.json" \
  "j['root_certificate'] == '$R/root.crt' and j['intermediate_certificate'] == '$H/ca/intermediate.crt' and j['admin_certificate'] == '$H/admin/admin.crt'"
json_check "init: admin_serial is the admin certificate's serial; key_type as asked" "$J/init.json" \
  "j['admin_serial'] == '$(cert_serial "$H/admin/admin.crt")' and j['key_type'] == 'ec-p384'"

section "issue --json"
t0=$(date +%s)
json_cmd "issue --name --key-out --out --json" "$J/issue.json" \
  sigil --home "$H" issue --name www.example.test --key-out "$WORK/www.key" --out "$WORK/www.pem" --json
t1=$(date +%s)
WWW="$(cert_serial "$WORK/www.pem")"
json_check "issue: serial, profile, not_before, not_after, chain, out, key_out" "$J/issue.json" \
  "set(j) >= {'serial', 'profile', 'not_before', 'not_after', 'chain', 'out', 'key_out'}"
json_check "issue: serial is the leaf's, in lower-case hex" "$J/issue.json" \
  "j['serial'] == '$WWW' and re.fullmatch('[0-9a-f]+', j['serial'])"
json_check "issue: profile server, out and key_out as given" "$J/issue.json" \
  "j['profile'] == 'server' and j['out'] == '$WORK/www.pem' and j['key_out'] == '$WORK/www.key'"
json_check "issue: not_before/not_after are RFC 3339 and match the certificate" "$J/issue.json" \
  "ts(j['not_before']) == $(cert_not_before "$WORK/www.pem") and ts(j['not_after']) == $(cert_not_after "$WORK/www.pem")"
json_check "issue: not_after is 24 h out (the server default)" "$J/issue.json" \
  "$t0 + 86400 <= ts(j['not_after']) <= $t1 + 86400"
json_check "issue: chain is the file written to --out" "$J/issue.json" "j['chain'] == open('$WORK/www.pem').read()"

json_cmd "issue without --out, --json before the command" "$J/issue-stdout.json" \
  sigil --home "$H" --json issue --profile client --name client.example.test --key-out "$WORK/client.key"
json_check "issue to stdout: the chain (leaf + intermediate) is in the JSON; no out field" "$J/issue-stdout.json" \
  "j['chain'].count('-----BEGIN CERTIFICATE-----') == 2 and 'out' not in j and j['profile'] == 'client'"
CLIENT="$(json_field "$J/issue-stdout.json" serial)"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/api.key" -subj "/CN=api.example.test" \
  -out "$WORK/api.csr" 2>/dev/null
json_cmd "issue --csr --json" "$J/issue-csr.json" \
  sigil --home "$H" issue --csr "$WORK/api.csr" --profile server --ttl 48h --json
json_check "issue --csr: no key_out; 48h validity" "$J/issue-csr.json" \
  "'key_out' not in j and 47 * 3600 < ts(j['not_after']) - ts(j['not_before']) - 300 <= 48 * 3600"
API="$(json_field "$J/issue-csr.json" serial)"

section "list --json and show --json"
json_cmd "list --json" "$J/list.json" sigil --home "$H" list --json
json_cmd "--json list (flag before the command)" "$J/list2.json" sigil --home "$H" --json list
check "both placements of --json give the same document" cmp "$J/list.json" "$J/list2.json"
RECORD_FIELDS="{'serial', 'status', 'profile', 'subject', 'sans', 'not_before', 'not_after', 'requester', 'issuer_id', 'created_at'}"
json_check "list: an array of the 4 certificates (admin + 3)" "$J/list.json" \
  "isinstance(j, list) and len(j) == 4 and len({c['serial'] for c in j}) == 4"
json_check "list: every record has $RECORD_FIELDS" "$J/list.json" "all(set(c) >= $RECORD_FIELDS for c in j)"
json_check "list: timestamps are RFC 3339, sans are lists of strings" "$J/list.json" \
  "all(RFC3339.match(c[k]) for c in j for k in ('not_before', 'not_after', 'created_at')) and all(isinstance(c['sans'], list) and all(isinstance(s, str) for s in c['sans']) for c in j)"
json_check "list: the www record is right" "$J/list.json" \
  "[(c['status'], c['profile'], c['subject'], c['sans']) for c in j if c['serial'] == '$WWW'] == [('valid', 'server', 'CN=www.example.test', ['dns:www.example.test'])]"
json_check "list: one issuer, the intermediate" "$J/list.json" "len({c['issuer_id'] for c in j}) == 1"
json_check "list: the requester is recorded" "$J/list.json" "all(c['requester'].startswith('cli:') for c in j)"
json_cmd "list --status valid --profile client --expiring-within 100d --json" "$J/list-f.json" \
  sigil --home "$H" list --status valid --profile client --expiring-within 100d --json
json_check "list with filters: the admin and client certificates" "$J/list-f.json" \
  "sorted(c['serial'] for c in j) == sorted(['$CLIENT', '$(cert_serial "$H/admin/admin.crt")'])"
json_cmd "list --name www.example.test --json" "$J/list-name.json" sigil --home "$H" list --name www.example.test --json
json_check "list --name: the one certificate naming it (a bare name is a DNS name)" "$J/list-name.json" \
  "[c['serial'] for c in j] == ['$WWW']"
json_cmd "list --limit 3 --json" "$J/list-p1.json" sigil --home "$H" list --limit 3 --json
json_check "list --limit 3: one page of three and a next page token" "$J/list-p1.json" \
  "len(j['items']) == 3 and j['next_page_token'] != ''"
TOKEN=$(python3 -c "import json; print(json.load(open('$J/list-p1.json'))['next_page_token'])")
json_cmd "list --limit 3 --page-token (the next page)" "$J/list-p2.json" \
  sigil --home "$H" list --limit 3 --page-token "$TOKEN" --json
json_check "list pages: the last one, without a token; both pages make the whole list" "$J/list-p2.json" \
  "'next_page_token' not in j and [c['serial'] for c in __import__('json').load(open('$J/list-p1.json'))['items'] + j['items']] == [c['serial'] for c in __import__('json').load(open('$J/list.json'))]"
json_cmd "list --status revoked --json (none yet)" "$J/list-none.json" sigil --home "$H" list --status revoked --json
json_check "list with no match is an empty array" "$J/list-none.json" "j == []"

json_cmd "show --json" "$J/show.json" sigil --home "$H" show "$WWW" --json
json_check "show: the record's fields and the certificate" "$J/show.json" \
  "set(j) >= $RECORD_FIELDS | {'certificate'} and j['serial'] == '$WWW' and 'revoked_at' not in j"
json_check "show: certificate is the leaf" "$J/show.json" \
  "j['certificate'] == open('$WORK/www.pem').read().split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n'"
json_check "show and list agree" "$J/show.json" \
  "{k: v for k, v in j.items() if k != 'certificate'} == [c for c in __import__('json').load(open('$J/list.json')) if c['serial'] == '$WWW'][0]"

section "revoke --json"
json_cmd "revoke --json" "$J/revoke.json" sigil --home "$H" --json revoke "$API" --reason superseded
json_check "revoke: serial, status, reason, revoked_at" "$J/revoke.json" \
  "j['serial'] == '$API' and j['status'] == 'revoked' and j['reason'] == 'superseded' and RFC3339.match(j['revoked_at'])"
json_cmd "show --json of the revoked certificate" "$J/show-revoked.json" sigil --home "$H" --json show "$API"
json_check "show: revoked, with revoked_at and revocation_reason" "$J/show-revoked.json" \
  "j['status'] == 'revoked' and j['revocation_reason'] == 'superseded' and j['revoked_at'] == __import__('json').load(open('$J/revoke.json'))['revoked_at']"

section "backup, version, intermediate and root commands --json"
json_cmd "backup --json" "$J/backup.json" sigil --home "$H" --json backup --out "$WORK/backup.db"
json_check "backup: out and certificates (the count)" "$J/backup.json" \
  "j['out'] == '$WORK/backup.db' and j['certificates'] == 4 and isinstance(j['certificates'], int)"
expect_eq "backup: the copy holds that many" "$(sqlite3 "$WORK/backup.db" 'select count(*) from certificates')" 4
json_cmd "version --json" "$J/version.json" sigil --json version
json_check "version: a version string like the human output" "$J/version.json" \
  "'sigil ' + j['version'] == '$(sigil version)' and re.fullmatch(r'\d+\.\d+\.\d+.*', j['version'])"
expect_eq "sigil --version says what sigil version says" "$(sigil --version)" "$(sigil version)"
json_cmd "intermediate csr --json" "$J/icsr.json" sigil --home "$H" --json intermediate csr
json_check "intermediate csr: csr and key paths that exist" "$J/icsr.json" \
  "os.path.isfile(j['csr']) and os.path.isfile(j['key'])"
ICSR="$(json_field "$J/icsr.json" csr)"
json_cmd "root sign-intermediate --json" "$J/sign.json" sigil --json root sign-intermediate --root-dir "$R" \
  --root-passphrase-file "$PASS_FILE" --csr "$ICSR" --out "$WORK/new.crt"
json_check "root sign-intermediate: serial, subject, out, not_after" "$J/sign.json" \
  "j['serial'] == '$(cert_serial "$WORK/new.crt")' and j['out'] == '$WORK/new.crt' and 'Intermediate' in j['subject'] and ts(j['not_after']) == $(cert_not_after "$WORK/new.crt")"
cp "$H/ca/intermediate.crt" "$WORK/old-inter.crt"
json_cmd "intermediate install --json" "$J/install.json" sigil --home "$H" --json intermediate install --cert "$WORK/new.crt"
json_check "intermediate install: serial and not_after" "$J/install.json" \
  "j['serial'] == '$(cert_serial "$WORK/new.crt")' and RFC3339.match(j['not_after'])"
json_cmd "root revoke-intermediate --json" "$J/rrev.json" sigil --json root revoke-intermediate --root-dir "$R" \
  --root-passphrase-file "$PASS_FILE" --cert "$WORK/old-inter.crt" --reason superseded
json_check "root revoke-intermediate: serial, status, reason" "$J/rrev.json" \
  "j['status'] == 'revoked' and j['reason'] == 'superseded' and j['serial'] == '$(cert_serial "$WORK/old-inter.crt")'"
json_cmd "root crl --json" "$J/crl.json" sigil --json root crl --root-dir "$R" --root-passphrase-file "$PASS_FILE"
json_check "root crl: crl_number, entries, out, next_update" "$J/crl.json" \
  "j['crl_number'] == 1 and j['entries'] == 1 and j['out'] == '$R/root.crl' and RFC3339.match(j['next_update'])"

section "errors stay on stderr with --json"
rc=0
sigil --home "$H" --json show 00112233445566778899 >"$WORK/err.out" 2>"$WORK/err.err" || rc=$?
if [[ $rc -ne 0 && ! -s "$WORK/err.out" && $(wc -l <"$WORK/err.err") -eq 1 ]]; then
  pass "a failing --json command prints nothing on stdout and one line on stderr"
else fail "a failing --json command prints nothing on stdout and one line on stderr" "exit $rc"; fi

section "--home falls back to \$SIGIL_HOME, then ./sigil-data"
EH="$WORK/env-home"
json_cmd "init with only \$SIGIL_HOME" "$J/init-env.json" env SIGIL_HOME="$EH" "$SIGIL" --json init \
  --root-dir "$WORK/env-root" --root-passphrase-file "$PASS_FILE"
json_check "init used \$SIGIL_HOME" "$J/init-env.json" "j['home'] == '$EH'"
check "\$SIGIL_HOME holds the CA" test -f "$EH/sigil.json"
json_cmd "list with only \$SIGIL_HOME" "$J/list-env.json" env SIGIL_HOME="$EH" "$SIGIL" list --json
json_check "it lists that CA (just its admin certificate)" "$J/list-env.json" \
  "[c['serial'] for c in j] == ['$(cert_serial "$EH/admin/admin.crt")']"
json_cmd "--home wins over \$SIGIL_HOME" "$J/list-override.json" env SIGIL_HOME="$EH" "$SIGIL" --home "$H" list --json
json_check "... it lists the --home CA" "$J/list-override.json" "len(j) == 4 and '$WWW' in {c['serial'] for c in j}"
json_cmd "--home after the subcommand also works" "$J/list-after.json" env SIGIL_HOME="$EH" "$SIGIL" list --json --home "$H"
json_check "... it lists the --home CA" "$J/list-after.json" "len(j) == 4 and '$WWW' in {c['serial'] for c in j}"

CWD="$WORK/cwd"
mkdir -p "$CWD"
json_cmd "init with neither --home nor \$SIGIL_HOME" "$J/init-cwd.json" \
  bash -c "cd '$CWD' && exec '$SIGIL' --json init --root-dir ../cwd-root --root-passphrase-file '$PASS_FILE'"
json_check "init used ./sigil-data" "$J/init-cwd.json" "j['home'] == '$CWD/sigil-data' and j['root_dir'] == '$WORK/cwd-root'"
check "./sigil-data holds the CA" test -f "$CWD/sigil-data/sigil.json"
json_cmd "list in that directory with no --home" "$J/list-cwd.json" bash -c "cd '$CWD' && exec '$SIGIL' list --json"
json_check "it lists ./sigil-data's CA" "$J/list-cwd.json" "[c['serial'] for c in j] == ['$(cert_serial "$CWD/sigil-data/admin/admin.crt")']"
json_cmd "an empty \$SIGIL_HOME also means ./sigil-data" "$J/list-cwd2.json" \
  bash -c "cd '$CWD' && SIGIL_HOME= exec '$SIGIL' list --json"
check "the same CA" cmp "$J/list-cwd.json" "$J/list-cwd2.json"
expect_fail_with "with no CA in ./sigil-data, commands say so" 'sigil-data|no CA|init' \
  bash -c "cd '$WORK' && exec '$SIGIL' list --json"
if [[ ! -e "$WORK/sigil-data" ]]; then pass "... and create nothing there"; else fail "... and create nothing there"; fi

finish
