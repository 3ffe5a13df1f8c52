#!/usr/bin/env bash
# Issue 13, `sigil migrate --to postgresql://...`: a CA with certificates, revocations (one for
# keyCompromise), a CRL signed by `sigil serve` and ACME state left by a real client (lego: an
# account bound to an EAB key, an order, its authorization and challenges, rate counters) is
# copied into an empty PostgreSQL database (ops/pg.sh, loopback) and then served from it.
# Refusals first, each changing nothing: a `sigil serve` heartbeat in the home (serve's own, then
# one written by the test), a password in the URL, a target holding rows. Then the copy (also on a
# terminal, with its progress bar): the counts match the SQLite file, the certificates' checksum is
# recomputed by PostgreSQL itself, sigil.json names the URL and sigil.db is kept renamed. Then,
# through the PostgreSQL store: `sigil list`, OCSP's revoked status, the migration's audit row, and
# a CRL signed after the migration numbered above every CRL number allocated before it.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

OPS="$(cd "$(dirname "$0")/../../ops" && pwd)"
PGDIR="$WORK/pg"
chmod 755 "$WORK"  # the cluster runs as the postgres user, inside $WORK
trap '_serve_rc=$?; set +e; _serve_cleanup; bash "$OPS/pg.sh" stop "$PGDIR"; _serve_set_rc $_serve_rc; _lib_on_exit' EXIT

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$C/inter.pem"

psql_at() {  # psql_at DBNAME SQL: one value per line, unaligned
  runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -q -At -h 127.0.0.1 -p "$(cat "$PGDIR/port")" \
    -U postgres -d "$1" -c "$2"
}
sqlite_at() { sqlite3 "$1" "$2"; }

section "set-up: PostgreSQL on loopback; a CA with certificates, revocations, a served CRL, ACME state"
if ! bash "$OPS/pg.sh" start "$PGDIR" >"$WORK/pg.out" 2>&1; then
  fail "ops/pg.sh start: a PostgreSQL 15 cluster on loopback" "$(tail -5 "$WORK/pg.out")"
  finish
fi
pass "PostgreSQL on $(cat "$PGDIR/url")"
TARGET="$(bash "$OPS/pg.sh" createdb "$PGDIR" sigil)"
TAKEN="$(bash "$OPS/pg.sh" createdb "$PGDIR" taken)"

check "init the CA" serve_init "$H"
config_edit "$H" '
v = j.setdefault("acme", {}).setdefault("validation", {})
v["forbidden_ranges"] = [r for r in v.get("forbidden_ranges", []) if r not in ("127.0.0.0/8", "::1/128")]'
check "CLI issues a leaf (stays valid)" cli_cert "$H" "$C/good" server "" good.example.internal
check "CLI issues a leaf (revoked for keyCompromise)" cli_cert "$H" "$C/bad" server "" bad.example.internal
check "CLI issues a leaf (revoked, superseded)" cli_cert "$H" "$C/old" server "" old.example.internal
split_chain "$C/good.crt" "$C/good.pem" "$INTER"
split_chain "$C/bad.crt" "$C/bad.pem" "$INTER"
split_chain "$C/old.crt" "$C/old.pem" "$INTER"
GOOD="$(cert_serial "$C/good.pem")"
BAD="$(cert_serial "$C/bad.pem")"
OLD="$(cert_serial "$C/old.pem")"
check "sigil revoke --reason keyCompromise" sigil --home "$H" revoke "$BAD" --reason keyCompromise
check "sigil revoke --reason superseded" sigil --home "$H" revoke "$OLD" --reason superseded
sigil --home "$H" acme eab create --json --allow example.internal >"$WORK/eab.json" 2>"$WORK/eab.err" || true
EAB_KID="$(json_field "$WORK/eab.json" kid)"
EAB_HMAC="$(json_field "$WORK/eab.json" hmac_key)"
expect_eq "an EAB key" "$([[ "$EAB_KID" != none && -n "$EAB_HMAC" ]] && echo yes)" yes

if ! serve_start "$H"; then
  fail "sigil serve starts on the SQLite home"
  finish
fi
pass "sigil serve on SQLite: acme :$ACME_PORT, public :$PUBLIC_PORT"
CRL_URL="$(on_public "$(cert_cdp_url "$C/good.pem")")"
fetch "$CRL_URL" "$C/crl.before"
N_SERVED="$(crl_number "$C/crl.before")"
expect_eq "serve publishes a CRL listing the revoked leaf" \
  "$FCODE $([[ $N_SERVED -ge 1 ]] && crl_has "$C/crl.before" "$BAD" && echo lists)" "200 lists"
# ACME state from a real client: the account (bound to the EAB key), an order, its authorization
# and challenges, rate counters. The name does not resolve inside the namespace, so validation
# fails: what remains is an invalid order, which is state like any other.
LEGO_CA_CERTIFICATES="$ROOT" timeout 120 lego --server "https://localhost:$ACME_PORT/acme/directory" --accept-tos \
  --email ops@example.internal --eab --kid "$EAB_KID" --hmac "$EAB_HMAC" --path "$WORK/lego" \
  --http --http.port 127.0.0.1:0 -d acme.example.internal run >"$WORK/lego.log" 2>&1 || true
DB="$H/sigil.db"
ACME_ROWS="$(sqlite_at "$DB" 'SELECT (SELECT count(*) FROM acme_accounts WHERE eab_kid IS NOT NULL) || " " ||
  (SELECT count(*) FROM acme_orders) || " " || (SELECT count(*) > 0 FROM acme_challenges) || " " ||
  (SELECT count(*) > 0 FROM acme_rate_counters)')"
expect_eq "lego left an account bound to the EAB key, an order, challenges and rate counters" "$ACME_ROWS" "1 1 1 1"

section "refusals change nothing"
NODE_NOW="$(date +%s)"
expect_fail_with "while serve runs (its heartbeat in the database): refused" 'stop sigil serve first' \
  sigil --home "$H" migrate --to "$TARGET"
serve_stop
expect_eq "serve stops" "$STOP_RC" 0
N_BEFORE="$(sqlite_at "$DB" 'SELECT MAX(last_number) FROM crl_numbers')"
BEFORE="$(tree_digest "$H") $(db_counts "$DB")"
# A node stopped a moment ago still counts for 10 s: age every heartbeat, then add one.
sqlite_at "$DB" "UPDATE nodes SET last_seen = last_seen - 60"
sqlite_at "$DB" "INSERT OR REPLACE INTO nodes VALUES ('n1', 'elsewhere', 'https://x', 'v', $NODE_NOW, $(date +%s))"
expect_fail_with "a node's heartbeat under 10 s old: refused, naming it" \
  'sigil serve is running on this home \(node n1 on elsewhere.*stop sigil serve first' \
  sigil --home "$H" migrate --to "$TARGET"
sqlite_at "$DB" "UPDATE nodes SET last_seen = last_seen - 60"
expect_fail_with "a password in the URL: refused, naming database_password_file" 'database_password_file' \
  sigil --home "$H" migrate --to "postgresql://postgres:secret@127.0.0.1:$(cat "$PGDIR/port")/sigil"
expect_fail_with "--to that is not a postgresql:// URL: refused" 'postgresql://' \
  sigil --home "$H" migrate --to "$WORK/other.db"
# A target holding rows: another home migrated into it first.
# (On a terminal, through script(1): the progress bar on stderr; the password file named in sigil.json.)
cp -a "$H" "$WORK/copy"
echo unused-with-trust-auth >"$WORK/copy/db-password"
check "a copy of the home migrates into the second database (on a terminal, with a password file)" \
  script -qec "'$SIGIL' --home '$WORK/copy' migrate --to '$TAKEN' --database-password-file db-password" \
  "$WORK/typescript"
cp "$OUT" "$WORK/tty.out"
expect_eq "on a terminal: a progress bar ending at every row" \
  "$(tr '\r' '\n' <"$WORK/tty.out" | grep -cE 'copying rows \[#{30}\] 100% ([0-9]+)/\1($|[^0-9])' || true)" 1
expect_eq "sigil.json names the password file" "$(json_field "$WORK/copy/sigil.json" database_password_file)" db-password
expect_fail_with "the home into that (now not empty) database: refused, exit 4" 'not empty \(table certificates' \
  sigil --home "$H" migrate --to "$TAKEN"
expect_eq "exit code of a refused target" "$(sigil --home "$H" migrate --to "$TAKEN" >/dev/null 2>&1; echo $?)" 4
expect_eq "after the refusals: the home, its sigil.json and its database unchanged" \
  "$(tree_digest "$H") $(db_counts "$DB")" "$BEFORE"
expect_eq "after the refusals: nothing was created in the target database" \
  "$(psql_at sigil "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0

section "sigil migrate --to URL"
# Without a terminal on stderr there is no progress bar (the JSON on stdout stays clean).
check "sigil --json migrate --to $TARGET" sigil --home "$H" --json migrate --to "$TARGET"
cp "$OUT" "$WORK/migrate.json"
expect_eq "no progress bar when stderr is not a terminal" "$(grep -c 'rows' "$ERR" || true)" 0
N_CERTS="$(sqlite_at "$H"/sigil.db.migrated-* 'SELECT count(*) FROM certificates' 2>/dev/null || echo none)"
json_check "the report: every table, rows in all, certificates and their checksum" "$WORK/migrate.json" \
  '(len(j["tables"]) == 18 and j["rows"] == sum(j["tables"].values()) and j["certificates"] == j["tables"]["certificates"]
   and re.fullmatch("[0-9a-f]{64}", j["certificates_sha256"]) is not None and j["tables"]["acme_accounts"] == 1)'
expect_eq "sigil.json names the URL" "$(json_field "$H/sigil.json" database)" "$TARGET"
expect_eq "sigil.db is gone from its name, -wal and -shm too" "$(ls "$H" | grep -c '^sigil\.db\(-wal\|-shm\)\?$' || true)" 0
KEPT="$(json_field "$WORK/migrate.json" kept)"
expect_eq "kept as sigil.db.migrated-<UTC time>, holding every certificate" \
  "$([[ "$(basename "$KEPT")" =~ ^sigil\.db\.migrated-[0-9]{8}T[0-9]{6}Z$ ]] && echo named) $N_CERTS" \
  "named $(json_field "$WORK/migrate.json" certificates)"
for t in certificates certificate_sans blocked_keys crl_numbers crl_state acme_eab_keys acme_accounts acme_orders \
  acme_authorizations acme_challenges acme_rate_counters; do
  expect_eq "$t: PostgreSQL holds the rows the SQLite file holds" "$(psql_at sigil "SELECT count(*) FROM $t")" \
    "$(sqlite_at "$KEPT" "SELECT count(*) FROM $t")"
done
# (The migration's own audit row is written after the copy, through the PostgreSQL store.)
expect_eq "audit_log: PostgreSQL holds the rows the SQLite file holds" \
  "$(psql_at sigil "SELECT count(*) FROM audit_log WHERE action <> 'migrate'")" \
  "$(sqlite_at "$KEPT" 'SELECT count(*) FROM audit_log')"
expect_eq "the EAB key still names its account" \
  "$(psql_at sigil 'SELECT account_id FROM acme_eab_keys')" "$(sqlite_at "$KEPT" 'SELECT account_id FROM acme_eab_keys')"
# The checksum as documented (store/transfer.hpp), by PostgreSQL's own SHA-256.
expect_eq "PostgreSQL recomputes the certificates' checksum" "$(psql_at sigil "
  SELECT encode(sha256(string_agg(sha256(int4send(octet_length(serial)) || convert_to(serial, 'UTF8') ||
    int4send(octet_length(COALESCE(der, ''::bytea))) || COALESCE(der, ''::bytea)), ''::bytea
    ORDER BY serial COLLATE \"C\")), 'hex') FROM certificates")" "$(json_field "$WORK/migrate.json" certificates_sha256)"
expect_eq "the revocation counter continues the copied sequence" "$(psql_at sigil 'SELECT last FROM revocation_counter')" \
  "$(sqlite_at "$KEPT" 'SELECT MAX(revocation_seq) FROM certificates')"
expect_fail_with "migrating again: refused, the home already is PostgreSQL" 'already is PostgreSQL' \
  sigil --home "$H" migrate --to "$TAKEN"

section "served from PostgreSQL"
check "sigil list" sigil --home "$H" list
cp "$OUT" "$WORK/list.out"
expect_eq "sigil list: every certificate" "$(grep -cE '^[0-9a-f]{16,} ' "$WORK/list.out" || true)" "$N_CERTS"
check "sigil list names the revoked leaf as revoked" grep -qE "^$BAD +revoked" "$WORK/list.out"
expect_eq "the audit log records the migration, after the copied rows" \
  "$(psql_at sigil "SELECT action || ' ' || target || ' ' || (id > (SELECT MAX(id) FROM audit_log WHERE action <> 'migrate'))
    FROM audit_log WHERE action = 'migrate'")" "migrate $TARGET true"
if ! serve_start "$H" pg; then
  fail "sigil serve starts on the PostgreSQL home"
  finish
  exit $?
fi
pass "sigil serve on PostgreSQL: public :$PUBLIC_PORT"
OCSP_URL="$(on_public "$(cert_ocsp_url "$C/bad.pem")")"
ossl_ocsp "$C/ocsp.bad" -issuer "$INTER" -cert "$C/bad.pem" -url "$OCSP_URL" -CAfile "$ROOT" -resp_text
expect_ocsp "OCSP: the keyCompromise leaf is revoked" "$C/ocsp.bad" "$C/bad.pem" revoked keyCompromise
ossl_ocsp "$C/ocsp.good" -issuer "$INTER" -cert "$C/good.pem" -url "$OCSP_URL" -CAfile "$ROOT" -resp_text
expect_ocsp "OCSP: the other leaf is good" "$C/ocsp.good" "$C/good.pem" good
check "sigil revoke the good leaf (through PostgreSQL)" sigil --home "$H" revoke "$GOOD" --reason superseded
CRL_URL="$(on_public "$(cert_cdp_url "$C/good.pem")")"  # this server's public port
crl_lists_good() { fetch "$CRL_URL" "$C/crl.after" && [[ "$FCODE" == 200 ]] && crl_has "$C/crl.after" "$GOOD"; }
T0="$(now_us)"
if ! expect_within "a CRL signed after the migration lists it" "$T0" 10000 crl_lists_good; then
  echo "        GET $CRL_URL: HTTP $FCODE"
  tail -20 "$SERVE_ERR" | sed 's/^/        serve| /'
fi
N_AFTER="$(crl_number "$C/crl.after")"
expect_eq "its number ($N_AFTER) is above every CRL number allocated before ($N_BEFORE)" \
  "$([[ $N_AFTER -gt $N_BEFORE ]] && echo higher)" higher
check "it still lists the revocations made before the migration" crl_has "$C/crl.after" "$BAD"
serve_stop
finish
