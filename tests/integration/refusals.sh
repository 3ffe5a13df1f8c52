#!/usr/bin/env bash
# Issue 2, acceptance 3: refused inputs get a one-line error on stderr and a non-zero exit (the
# documented code: 3 input refused, 4 exists/not found, 5 authentication, 6 file), and change
# nothing: no database row (certificates, audit_log), no file anywhere under the test directory
# (the CA home, the root directory, the output directory) is created, changed or removed.
source "$(dirname "$0")/lib.sh" "$@"

PASSPHRASE="integration-root-passphrase"
TD="td.example.test"
H="$WORK/home"
R="$WORK/root"
O="$WORK/out"  # where refused commands are asked to write
mkdir -p "$O"

section "set-up"
export SIGIL_ROOT_PASSPHRASE="$PASSPHRASE"
check "init a CA (ec-p256, allow-domain example.test, SPIFFE $TD)" \
  sigil --home "$H" init --root-dir "$R" --allow-domain example.test --spiffe-trust-domain "$TD"
check "intermediate csr (a pending CSR for the passphrase checks)" sigil --home "$H" intermediate csr
check "issue one certificate (so the tables are not empty)" \
  sigil --home "$H" issue --name seed.example.test --key-out "$WORK/seed.key" --out "$WORK/seed.pem"
unset SIGIL_ROOT_PASSPHRASE
[[ -f "$H/sigil.db" ]] || { fail "set-up failed; nothing else can run"; finish; }

# Everything under $WORK except the helpers' own scratch files: type, path, mode, and the
# content of every file but the database (compared by its row counts instead).
snapshot() {
  (
    cd "$WORK"
    db_counts "$H/sigil.db"
    echo
    find . \( -name last.out -o -name last.err -o -name json.err -o -name 'snap.*' -o -name '*-wal' -o -name '*-shm' \
      -o -name '*-journal' \) -prune -o -printf '%y %p %m\n' | sort
    find . -type f ! -name '*.db' ! -name 'last.*' ! -name json.err ! -name 'snap.*' ! -name '*-wal' ! -name '*-shm' \
      ! -name '*-journal' -print0 | sort -z | xargs -0 -r sha256sum
  )
}

# refuse DESC EXIT-CODE-REGEX MESSAGE-REGEX CMD...
#   CMD must exit with a code matching EXIT-CODE-REGEX, print nothing on stdout and exactly one
#   line "sigil: error: ..." matching MESSAGE-REGEX (case-insensitive) on stderr, and leave the
#   snapshot (database rows and every file) as it was.
refuse() {
  local desc="$1" code="$2" msg="$3"
  shift 3
  snapshot >"$WORK/snap.before"
  local rc=0
  "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
  snapshot >"$WORK/snap.after"
  local why=""
  if [[ $rc -eq 0 ]]; then
    why="exit 0 (accepted)"
  elif ! [[ $rc =~ ^($code)$ ]]; then
    why="exit $rc, expected $code"
  elif [[ $(wc -l <"$ERR") -ne 1 ]]; then
    why="stderr has $(wc -l <"$ERR") lines, expected one"
  elif ! head -1 "$ERR" | grep -q '^sigil: error: '; then
    why="stderr does not start with 'sigil: error: '"
  elif ! grep -Eqi -- "$msg" "$ERR"; then
    why="error does not match /$msg/"
  elif [[ -s "$OUT" ]]; then
    why="something was printed on stdout"
  fi
  if [[ -z "$why" ]]; then
    pass "$desc: refused (exit $rc): $(cut -c1-110 "$ERR")"
  else
    fail "$desc: refused with one line on stderr" "$why"
    _show_last
  fi
  if cmp -s "$WORK/snap.before" "$WORK/snap.after"; then
    pass "$desc: nothing changed (rows $(head -1 "$WORK/snap.after"| tr -s ' '), files)"
  else
    fail "$desc: nothing changed" "$(diff "$WORK/snap.before" "$WORK/snap.after" | grep '^[<>]' | head -5 | tr '\n' ';')"
  fi
}

flip_last_byte() {  # in out
  python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 0x01; open(sys.argv[2], "wb").write(b)' "$1" "$2"
}
der_to_pem_csr() {  # in out: base64 of arbitrary bytes, as a CSR PEM
  { echo "-----BEGIN CERTIFICATE REQUEST-----"; base64 -w 64 "$1"; echo "-----END CERTIFICATE REQUEST-----"; } >"$2"
}
csr() {  # out key-args subj san
  # shellcheck disable=SC2086
  openssl req -new $2 -nodes -keyout "$1.key" -subj "$3" ${4:+-addext "subjectAltName=$4"} -out "$1" 2>/dev/null
}

section "malformed CSRs"
C="$WORK/csr"
mkdir -p "$C"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nthis is not base64 @@@\n-----END CERTIFICATE REQUEST-----\n' >"$C/garbage.pem"
printf 'hello, I am not a CSR\n' >"$C/text.pem"
: >"$C/empty.pem"
csr "$C/ec.csr" "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "/CN=good.example.test" "DNS:good.example.test"
cp "$C/ec.csr" "$C/good.csr"
head -c 200 "$C/good.csr" >"$C/truncated.pem"
openssl req -in "$C/ec.csr" -outform DER -out "$C/good.der"
{ cat "$C/good.der"; printf '\0\0'; } >"$C/trailing.der"
der_to_pem_csr "$C/trailing.der" "$C/trailing.pem"
cert_as_csr="$C/cert-as-csr.pem"
sed 's/CERTIFICATE/CERTIFICATE REQUEST/' <(first_cert "$WORK/seed.pem") >"$cert_as_csr"
for f in garbage text empty truncated trailing; do
  refuse "malformed CSR ($f.pem)" 3 'csr|pem|der|malformed|parse|decode|trailing' \
    sigil --home "$H" issue --csr "$C/$f.pem" --out "$O/$f.chain"
done
refuse "malformed CSR (trailing bytes after the DER)" 3 'csr|der|malformed|trailing' \
  sigil --home "$H" issue --csr "$C/trailing.der" --out "$O/trailing-der.chain"
refuse "a certificate in CSR armour" 3 'csr|der|malformed|parse|decode' \
  sigil --home "$H" issue --csr "$cert_as_csr" --out "$O/cert.chain"
refuse "CSR file that does not exist" '4|6' 'no such|not found|missing|exist|cannot' \
  sigil --home "$H" issue --csr "$C/nonexistent.csr" --out "$O/none.chain"

section "CSRs with a broken signature (parseable, signature flipped)"
csr "$C/rsa.csr" "-newkey rsa:2048" "/CN=rsa.example.test" "DNS:rsa.example.test"
openssl req -in "$C/rsa.csr" -outform DER -out "$C/rsa.der"
flip_last_byte "$C/rsa.der" "$C/rsa-badsig.der"
der_to_pem_csr "$C/rsa-badsig.der" "$C/rsa-badsig.pem"
flip_last_byte "$C/good.der" "$C/ec-badsig.der"
der_to_pem_csr "$C/ec-badsig.der" "$C/ec-badsig.pem"
csr "$C/ed.csr" "-newkey ed25519" "/CN=ed.example.test" "DNS:ed.example.test"
openssl req -in "$C/ed.csr" -outform DER -out "$C/ed.der"
flip_last_byte "$C/ed.der" "$C/ed-badsig.der"
der_to_pem_csr "$C/ed-badsig.der" "$C/ed-badsig.pem"
for k in rsa ec ed; do
  check "precondition: the $k CSR with a flipped signature byte still parses" \
    openssl req -in "$C/$k-badsig.pem" -noout -subject
  # openssl req -verify exits 0 either way (3.0); its message tells.
  check "precondition: openssl req -verify rejects the $k CSR's signature" bash -c \
    "openssl req -in '$C/$k-badsig.pem' -noout -verify 2>&1 | grep -q 'verify failure'"
  check "precondition: openssl req -verify accepts the unbroken $k CSR" bash -c \
    "openssl req -in '$C/$k.csr' -noout -verify 2>&1 | grep -q 'verify OK'"
  refuse "$k CSR with a broken signature (PEM)" 3 'signature' \
    sigil --home "$H" issue --csr "$C/$k-badsig.pem" --out "$O/$k-badsig.chain"
done
refuse "RSA CSR with a broken signature (DER)" 3 'signature' \
  sigil --home "$H" issue --csr "$C/rsa-badsig.der" --out "$O/rsa-badsig-der.chain"
check "control: the same CSRs unbroken are accepted" \
  sigil --home "$H" issue --csr "$C/rsa.csr" --out "$O/rsa-good.chain"

section "keys below policy"
csr "$C/rsa1024.csr" "-newkey rsa:1024" "/CN=weak.example.test" "DNS:weak.example.test"
refuse "RSA-1024 key CSR" 3 'rsa|key|1024|2048' sigil --home "$H" issue --csr "$C/rsa1024.csr" --out "$O/rsa1024.chain"
csr "$C/p521.csr" "-newkey ec -pkeyopt ec_paramgen_curve:P-521" "/CN=p521.example.test" "DNS:p521.example.test"
refuse "EC P-521 key CSR (curve not allowed)" 3 'curve|key|p-?521|secp521' \
  sigil --home "$H" issue --csr "$C/p521.csr" --out "$O/p521.chain"
csr "$C/k1.csr" "-newkey ec -pkeyopt ec_paramgen_curve:secp256k1" "/CN=k1.example.test" "DNS:k1.example.test"
refuse "EC secp256k1 key CSR (curve not allowed)" 3 'curve|key|secp256k1' \
  sigil --home "$H" issue --csr "$C/k1.csr" --out "$O/k1.chain"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 -out "$C/e3.key" 2>/dev/null
openssl req -new -key "$C/e3.key" -subj "/CN=e3.example.test" -addext "subjectAltName=DNS:e3.example.test" -out "$C/e3.csr"
refuse "RSA key with e=3" 3 'expon|key|65537' sigil --home "$H" issue --csr "$C/e3.csr" --out "$O/e3.chain"

section "identifiers outside the policy"
refuse "--name outside the allowed domains" 3 'other\.test|not allowed|policy|identifier' \
  sigil --home "$H" issue --name www.other.test --key-out "$O/other.key" --out "$O/other.chain"
refuse "--name that only ends like an allowed domain (www.notexample.test)" 3 'notexample|not allowed|policy|identifier' \
  sigil --home "$H" issue --name www.notexample.test --key-out "$O/notex.key" --out "$O/notex.chain"
refuse "an allowed name plus one outside the policy" 3 'evil|not allowed|policy|identifier' \
  sigil --home "$H" issue --name ok.example.test --name evil.other.test --key-out "$O/mixed.key" --out "$O/mixed.chain"
csr "$C/outside.csr" "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "/CN=www.other.test" "DNS:www.other.test"
refuse "CSR with a SAN outside the policy" 3 'other\.test|not allowed|policy|identifier' \
  sigil --home "$H" issue --csr "$C/outside.csr" --out "$O/outside.chain"
csr "$C/cn-outside.csr" "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "/CN=sneaky.other.test" "DNS:fine.example.test"
refuse "CSR whose CN is outside the policy (SAN inside)" 3 'sneaky|not allowed|policy|identifier' \
  sigil --home "$H" issue --csr "$C/cn-outside.csr" --out "$O/cn-outside.chain"
refuse "IP address SAN with no allowed IP range" 3 '10\.1\.2\.3|ip|not allowed|policy|identifier' \
  sigil --home "$H" issue --name 10.1.2.3 --key-out "$O/ip.key" --out "$O/ip.chain"
refuse "e-mail SAN on the server profile" 3 'email|e-mail|profile|not allow|identifier' \
  sigil --home "$H" issue --name admin@example.test --key-out "$O/email.key" --out "$O/email.chain"
refuse "SPIFFE ID of another trust domain" 3 'trust domain|spiffe|not allowed|policy|identifier' \
  sigil --home "$H" issue --profile spiffe --name spiffe://other.test/ns/x --key-out "$O/sp-td.key" --out "$O/sp-td.chain"
refuse "a wildcard spanning two labels" 3 'invalid|dns|wildcard' \
  sigil --home "$H" issue --name '*.*.example.test' --key-out "$O/w2.key" --out "$O/w2.chain"
refuse "a wildcard that is not the leftmost label" 3 'invalid|dns|wildcard' \
  sigil --home "$H" issue --name 'www.*.example.test' --key-out "$O/w3.key" --out "$O/w3.chain"
refuse "a bare '*'" 3 'invalid|dns|wildcard|not allowed' \
  sigil --home "$H" issue --name '*' --key-out "$O/w4.key" --out "$O/w4.chain"
refuse "a syntactically invalid DNS name" 3 'invalid|dns' \
  sigil --home "$H" issue --name 'bad_name!.example.test' --key-out "$O/bad.key" --out "$O/bad.chain"

section "SPIFFE profile: exactly one URI"
refuse "two SPIFFE URIs on the spiffe profile (--name twice)" 3 'exactly one|spiffe' \
  sigil --home "$H" issue --profile spiffe --name "spiffe://$TD/a" --name "spiffe://$TD/b" \
  --key-out "$O/sp2.key" --out "$O/sp2.chain"
csr "$C/sp2.csr" "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "/" "URI:spiffe://$TD/a,URI:spiffe://$TD/b"
refuse "two SPIFFE URIs on the spiffe profile (CSR)" 3 'exactly one|spiffe' \
  sigil --home "$H" issue --profile spiffe --csr "$C/sp2.csr" --out "$O/sp2csr.chain"
refuse "no SPIFFE URI on the spiffe profile" 3 'exactly one|spiffe' \
  sigil --home "$H" issue --profile spiffe --name svc.example.test --key-out "$O/sp0.key" --out "$O/sp0.chain"

section "profiles and TTLs"
refuse "TTL above the server maximum (91d)" 3 'ttl|maximum|exceed' \
  sigil --home "$H" issue --name ttl.example.test --ttl 91d --key-out "$O/ttl.key" --out "$O/ttl.chain"
refuse "TTL above the spiffe maximum (31d)" 3 'ttl|maximum|exceed' \
  sigil --home "$H" issue --profile spiffe --name "spiffe://$TD/t" --ttl 31d --key-out "$O/ttl2.key" --out "$O/ttl2.chain"
refuse "TTL of zero" 3 'ttl|positive|duration' \
  sigil --home "$H" issue --name ttl0.example.test --ttl 0s --key-out "$O/ttl0.key" --out "$O/ttl0.chain"
refuse "TTL that is not a duration" 3 'duration|ttl|invalid' \
  sigil --home "$H" issue --name ttlx.example.test --ttl forever --key-out "$O/ttlx.key" --out "$O/ttlx.chain"
refuse "unknown profile" 3 'profile' \
  sigil --home "$H" issue --profile bogus --name p.example.test --key-out "$O/prof.key" --out "$O/prof.chain"
refuse "unknown profile (CSR)" 3 'profile' \
  sigil --home "$H" issue --profile bogus --csr "$C/good.csr" --out "$O/prof2.chain"
refuse "--name without --key-out" '2|3' 'key-out' \
  sigil --home "$H" issue --name nokey.example.test --out "$O/nokey.chain"
refuse "unknown key type for --name" '2|3' 'key.?type|dsa' \
  sigil --home "$H" issue --name kt.example.test --key-type dsa-1024 --key-out "$O/kt.key" --out "$O/kt.chain"

section "existing files are never overwritten"
printf 'precious\n' >"$O/existing.key"
refuse "issue --key-out onto an existing file" 4 'exists|overwrite' \
  sigil --home "$H" issue --name exists.example.test --key-out "$O/existing.key" --out "$O/exists.chain"
expect_eq "the existing key file is untouched" "$(cat "$O/existing.key")" precious

section "a failure after signing leaves no half-written files"
# Persist before release: the certificate is recorded (a row nobody received), but neither the
# new key nor a chain may be left behind when the chain cannot be written.
rc=0
sigil --home "$H" issue --name late.example.test --key-out "$O/late.key" --out "$O/no-such-dir/late.chain" \
  >"$OUT" 2>"$ERR" || rc=$?
if [[ $rc -ne 0 && $(wc -l <"$ERR") -eq 1 ]]; then pass "issue --out into a missing directory fails with one line (exit $rc)"
else fail "issue --out into a missing directory fails with one line" "exit $rc"; _show_last; fi
if [[ ! -e "$O/late.key" ]]; then pass "... and the new key file is removed again"
else fail "... and the new key file is removed again"; fi
expect_eq "... and no certificate is left pending without its DER" \
  "$(sqlite3 "$H/sigil.db" "select count(*) from certificates where der is null or length(der) = 0")" 0
rc=0
sigil --home "$H" issue --name late2.example.test --key-out "$O/no-such-dir/late2.key" --out "$O/late2.chain" \
  >"$OUT" 2>"$ERR" || rc=$?
if [[ $rc -ne 0 && ! -e "$O/late2.chain" ]]; then pass "issue --key-out into a missing directory fails and writes no chain"
else fail "issue --key-out into a missing directory fails and writes no chain" "exit $rc"; fi

section "a CA with only --dns names (no --allow-domain)"
DH="$WORK/dns-only"
check "init --dns srv.internal.test, nothing else allowed" env SIGIL_ROOT_PASSPHRASE="$PASSPHRASE" \
  "$SIGIL" --home "$DH/home" init --root-dir "$DH/root" --dns srv.internal.test
check "the --dns name is allowed" \
  sigil --home "$DH/home" issue --name srv.internal.test --key-out "$DH/srv.key" --out "$DH/srv.chain"
H_SAVED="$H"
H="$DH/home"
refuse "a subdomain of a --dns name is not" 3 'not allowed|policy' \
  sigil --home "$H" issue --name x.srv.internal.test --key-out "$O/dx.key" --out "$O/dx.chain"
refuse "a sibling of a --dns name is not" 3 'not allowed|policy' \
  sigil --home "$H" issue --name www.internal.test --key-out "$O/dy.key" --out "$O/dy.chain"
refuse "no SPIFFE IDs without a trust domain" 3 'not allowed|policy|spiffe|trust|uri' \
  sigil --home "$H" issue --profile spiffe --name spiffe://internal.test/x --key-out "$O/dz.key" --out "$O/dz.chain"
H="$H_SAVED"

section "revocation refusals"
refuse "revoke an unknown serial" 4 'serial|not found|no certificate' sigil --home "$H" revoke 0123456789abcdef
refuse "revoke with a serial that is not hex" 3 'serial' sigil --home "$H" revoke not-a-serial
seed_serial="$(cert_serial "$WORK/seed.pem")"
refuse "revoke with an unknown reason" 3 'reason' sigil --home "$H" revoke "$seed_serial" --reason becauseISaidSo
refuse "show an unknown serial" 4 'serial|not found|no certificate' sigil --home "$H" show 0123456789abcdef

section "root passphrase"
PENDING="$H/ca/pending/intermediate.csr"
printf 'definitely-not-the-passphrase\n' >"$WORK/wrong-pass"
refuse "root sign-intermediate with a wrong passphrase (env)" 5 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE=wrong-passphrase "$SIGIL" root sign-intermediate --root-dir "$R" --csr "$PENDING" --out "$O/inter.crt"
refuse "root sign-intermediate with a wrong passphrase (file)" 5 'passphrase' \
  sigil root sign-intermediate --root-dir "$R" --root-passphrase-file "$WORK/wrong-pass" --csr "$PENDING" --out "$O/inter.crt"
refuse "root sign-intermediate with an empty passphrase" '3|5' 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE= "$SIGIL" root sign-intermediate --root-dir "$R" --csr "$PENDING" --out "$O/inter.crt"
refuse "root sign-intermediate with no passphrase and no terminal" 5 'passphrase' \
  env -u SIGIL_ROOT_PASSPHRASE "$SIGIL" root sign-intermediate --root-dir "$R" --csr "$PENDING" --out "$O/inter.crt"
refuse "root crl with a wrong passphrase (the CRL number must not move)" 5 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE=wrong-passphrase "$SIGIL" root crl --root-dir "$R" --out "$O/root.crl"
refuse "root revoke-intermediate with a wrong passphrase" 5 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE=wrong-passphrase "$SIGIL" root revoke-intermediate --root-dir "$R" --cert "$H/ca/intermediate.crt"
refuse "root sign-intermediate with a malformed CSR" 3 'csr|pem|der|malformed|parse' \
  env SIGIL_ROOT_PASSPHRASE="$PASSPHRASE" "$SIGIL" root sign-intermediate --root-dir "$R" --csr "$C/garbage.pem" --out "$O/inter.crt"
refuse "root sign-intermediate with a broken CSR signature" 3 'signature' \
  env SIGIL_ROOT_PASSPHRASE="$PASSPHRASE" "$SIGIL" root sign-intermediate --root-dir "$R" --csr "$C/ec-badsig.pem" --out "$O/inter.crt"
refuse "root sign-intermediate onto an existing --out" 4 'exists' \
  env SIGIL_ROOT_PASSPHRASE="$PASSPHRASE" "$SIGIL" root sign-intermediate --root-dir "$R" --csr "$PENDING" --out "$O/existing.key"
refuse "root commands against a directory without a root" 4 'no root key|root' \
  env SIGIL_ROOT_PASSPHRASE="$PASSPHRASE" "$SIGIL" root crl --root-dir "$O"

section "init refusals leave nothing behind"
touch "$WORK/regular-file"
export SIGIL_ROOT_PASSPHRASE="$PASSPHRASE"
refuse "init --home below a regular file" '4|6' 'directory|regular-file|cannot|exist' \
  sigil --home "$WORK/regular-file/home" init --root-dir "$WORK/newroot1"
refuse "init --home under /proc" '6' 'proc|cannot|directory|permission|read-only' \
  sigil --home "/proc/sigil-it-home-$$" init --root-dir "$WORK/newroot2"
refuse "init --root-dir under /proc" '6' 'proc|cannot|directory|permission|read-only' \
  sigil --home "$WORK/newhome3" init --root-dir "/proc/sigil-it-root-$$"
refuse "init --root-dir below a regular file" '4|6' 'directory|regular-file|cannot|exist' \
  sigil --home "$WORK/newhome4" init --root-dir "$WORK/regular-file/root"
refuse "init with missing parent directories of the root and an unwritable home" '6' 'proc|cannot|directory' \
  sigil --home "/proc/sigil-it-home-$$" init --root-dir "$WORK/deep/er/root"
refuse "init with the root directory inside the home" 3 'separate' \
  sigil --home "$WORK/newhome5" init --root-dir "$WORK/newhome5/root"
refuse "init with the root directory = the home" 3 'separate' \
  sigil --home "$WORK/newhome6" init --root-dir "$WORK/newhome6"
refuse "init with an unknown key type" '2|3' 'key.?type|dsa' \
  sigil --home "$WORK/newhome7" init --root-dir "$WORK/newroot7" --key-type dsa-2048
refuse "init with an invalid --allow-domain" 3 'domain|policy|suffix|invalid' \
  sigil --home "$WORK/newhome8" init --root-dir "$WORK/newroot8" --allow-domain 'bad domain!'
refuse "init with an invalid --public-url" 3 'public_url|url|http' \
  sigil --home "$WORK/newhome9" init --root-dir "$WORK/newroot9" --public-url 'ftp://x'
refuse "init with an empty passphrase" '3|5' 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE= "$SIGIL" --home "$WORK/newhome10" init --root-dir "$WORK/newroot10"
refuse "init with a too-short passphrase" 3 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE=short "$SIGIL" --home "$WORK/newhome11" init --root-dir "$WORK/newroot11"
refuse "init with no passphrase and no terminal" 5 'passphrase' \
  env -u SIGIL_ROOT_PASSPHRASE "$SIGIL" --home "$WORK/newhome12" init --root-dir "$WORK/newroot12"
mkdir -p "$WORK/occupied"
printf 'keep me\n' >"$WORK/occupied/notes.txt"
refuse "init into a non-empty directory that is not a CA" 4 'not empty|exist|overwrite' \
  sigil --home "$WORK/occupied" init --root-dir "$WORK/newroot13"
refuse "init with a non-empty root directory" 4 'not empty|exist|overwrite' \
  sigil --home "$WORK/newhome14" init --root-dir "$WORK/occupied"
mkdir -p "$WORK/empty-home" "$WORK/empty-root"
refuse "init into existing empty directories with a too-short passphrase" 3 'passphrase' \
  env SIGIL_ROOT_PASSPHRASE=short "$SIGIL" --home "$WORK/empty-home" init --root-dir "$WORK/empty-root"
if [[ -z "$(ls -A "$WORK/empty-home")" && -z "$(ls -A "$WORK/empty-root")" ]]; then
  pass "the existing empty directories are still empty"
else fail "the existing empty directories are still empty" "$(ls -A "$WORK/empty-home" "$WORK/empty-root")"; fi
if compgen -G "$WORK/.*staging*" >/dev/null || compgen -G "$WORK/*/.*staging*" >/dev/null; then
  fail "no staging directories are left behind" "$(ls -a "$WORK")"
else pass "no staging directories are left behind"; fi

section "init twice"
ca_digest="$(tree_digest "$H" "$R")"
ca_rows="$(db_counts "$H/sigil.db")"
ca_db_sum="$(sha256sum <"$H/sigil.db")"
refuse "init again into the same home (new root dir)" 4 'exists|overwrite' \
  sigil --home "$H" init --root-dir "$WORK/second-root"
refuse "init again into the same home and root dir" 4 'exists|overwrite|not empty' \
  sigil --home "$H" init --root-dir "$R"
refuse "init of a new home onto the existing root dir" 4 'exists|overwrite|not empty' \
  sigil --home "$WORK/second-home" init --root-dir "$R"
refuse "init again with another key type" 4 'exists|overwrite' \
  sigil --home "$H" init --root-dir "$WORK/third-root" --key-type rsa-2048
expect_eq "the first CA's files are unchanged (checksums)" "$(tree_digest "$H" "$R")" "$ca_digest"
expect_eq "the first CA's database rows are unchanged" "$(db_counts "$H/sigil.db")" "$ca_rows"
expect_eq "the first CA's database file is byte for byte unchanged" "$(sha256sum <"$H/sigil.db")" "$ca_db_sum"
check "the first CA still issues" \
  sigil --home "$H" issue --name after.example.test --key-out "$O/after.key" --out "$O/after.chain"
check "and its chain still verifies against the first root" \
  openssl verify -x509_strict -purpose sslserver -CAfile "$R/root.crt" -untrusted "$O/after.chain" "$O/after.chain"
unset SIGIL_ROOT_PASSPHRASE

finish
