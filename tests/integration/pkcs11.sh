#!/usr/bin/env bash
# Keys in hardware (issue 15), with SoftHSM 2 as the token: `sigil init --root-key URI
# --intermediate-key URI` generates both keys inside two tokens (no CA key file anywhere, the
# private objects cannot be read out with pkcs11-tool); issuance through the CLI, REST and ACME
# (lego), OCSP and CRLs signed through the token and verified by OpenSSL and GnuTLS; the
# intermediate rotated to a new key in the token; refusals that write nothing (wrong PIN: exit 5;
# no module; no token); the token taken away while serving (/health 503 "signer", issuance 503
# with Retry-After, `sigil status` says so, serve stays up) and a restart once it is back.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/acme_lib.sh" "$@"

MOD=/usr/lib/softhsm/libsofthsm2.so
[[ -e "$MOD" ]] || bail "SoftHSM ($MOD) is not installed: ops/install-deps.sh installs softhsm2"
command -v pkcs11-tool >/dev/null || bail "pkcs11-tool (Debian opensc) is not installed"

H="$WORK/home"
C="$WORK/certs"
T="$WORK/softhsm"
mkdir -p "$C" "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/tokens" >"$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
softhsm2-util --init-token --free --label sigil-root --pin 1111 --so-pin 5555 >/dev/null
softhsm2-util --init-token --free --label sigil-online --pin 2222 --so-pin 5555 >/dev/null
(umask 077 && printf '1111\n' >"$WORK/root.pin" && printf '2222\n' >"$WORK/online.pin")
ROOT_URI="pkcs11:token=sigil-root;object=root?module-path=$MOD&pin-source=$WORK/root.pin"
INTER_URI="pkcs11:token=sigil-online;object=intermediate-1?module-path=$MOD&pin-source=file:$WORK/online.pin"
tool() { pkcs11-tool --module "$MOD" "$@"; }

section "refusals write nothing"
B="$WORK/refused"
rc=0
"$SIGIL" --home "$B" init --root-dir "$B.root" --root-key "$ROOT_URI" \
  --intermediate-key "pkcs11:token=sigil-online;object=x?module-path=$MOD&pin-value=9999" >"$OUT" 2>"$ERR" || rc=$?
expect_eq "init with a wrong PIN for the intermediate's token exits 5" "$rc" 5
if grep -q "wrong PIN for token 'sigil-online'" "$ERR" && ! grep -q 9999 "$OUT" "$ERR"; then
  pass "one clear line, the PIN not in it"
else
  fail "one clear line, the PIN not in it" "$(cat "$ERR")"
fi
expect_fail_with "init with a missing module" 'module /nonexistent/p11.so' \
  sigil --home "$B" init --root-dir "$B.root" --root-key "pkcs11:token=sigil-root;object=root?module-path=/nonexistent/p11.so"
expect_fail_with "init with a token that does not exist" "no token 'absent'" \
  sigil --home "$B" init --root-dir "$B.root" --root-key "pkcs11:token=absent;object=root?module-path=$MOD&pin-value=1"
expect_fail_with "init with an unknown URI attribute" "unknown attribute 'tokne'" \
  sigil --home "$B" init --root-dir "$B.root" --root-key "pkcs11:tokne=sigil-root;object=root?module-path=$MOD"
expect_fail_with "init with the same key for the root and the intermediate" "name the same key" \
  sigil --home "$B" init --root-dir "$B.root" --root-key "$ROOT_URI" --intermediate-key "$ROOT_URI"
expect_fail_with "init with a query written without '?' (the PIN would land in a label)" "query part starts with" \
  sigil --home "$B" init --root-dir "$B.root" --root-key "pkcs11:token=sigil-root;object=root&pin-value=1111"
expect_fail_with "init without any PIN for the token" "no PIN for token 'sigil-root'" \
  sigil --home "$B" init --root-dir "$B.root" --root-key "pkcs11:token=sigil-root;object=root?module-path=$MOD"
if [[ ! -e "$B" && ! -e "$B.root" ]]; then pass "no home and no root directory after the refusals"; else
  fail "no home and no root directory after the refusals" "$(ls -d "$B" "$B.root" 2>&1)"; fi
if tool --token-label sigil-root --login --pin 1111 --list-objects 2>/dev/null | grep -q 'label: *root'; then
  fail "no key was generated in the root token by the refused inits"
else
  pass "no key was generated in the root token by the refused inits"
fi

section "init: both keys generated in the tokens, no key file"
# acme_server_start runs serve_init "$WORK/home" --public-url ...: give it the token keys.
eval "_plain_serve_init() $(declare -f serve_init | tail -n +2)"
serve_init() { _plain_serve_init "$@" --root-key "$ROOT_URI" --intermediate-key "$INTER_URI"; }
unset SIGIL_ROOT_PASSPHRASE  # a root key in a token needs none: nothing may ask for it
acme_ports
dns_start || bail "BIND must run for anything else to"
acme_server_start || bail "the ACME server must run for anything else to"
ROOT="$H/ca/root.crt"
found="$(find "$H" "$H.root" -name '*.key' ! -path "$H/admin/admin.key" ! -path "$H/ca/acme-nonce.key" | tr '\n' ' ')"
expect_eq "no CA key file in the home or the root directory (admin.key is the admin client's, acme-nonce.key an HMAC key)" \
  "$found" ""
expect_eq "root.p11 names the root key, without a PIN" \
  "$(grep -c 'token=sigil-root;object=root?module-path=' "$H.root/root.p11")$(grep -c pin-value "$H.root/root.p11")" "10"
expect_eq "ca/intermediate.p11 names the intermediate key (mode 600)" \
  "$(grep -c 'object=intermediate-1' "$H/ca/intermediate.p11") $(mode_of "$H/ca/intermediate.p11")" "1 600"
tool --token-label sigil-online --login --pin 2222 --list-objects >"$WORK/objects" 2>&1 || true
if grep -A6 'Private Key Object' "$WORK/objects" | grep -q 'label: *intermediate-1' &&
  grep -A8 'Private Key Object' "$WORK/objects" | grep -q 'never extractable'; then
  pass "pkcs11-tool lists the intermediate's private key: sensitive, never extractable"
else
  fail "pkcs11-tool lists the intermediate's private key: sensitive, never extractable" "$(head -20 "$WORK/objects")"
fi
# pkcs11-tool refuses to read a private key out, and exits 0 saying so: what counts is that no
# key comes out, and that the token marks the objects sensitive and never extractable.
for tk in "sigil-online 2222 intermediate-1" "sigil-root 1111 root"; do
  read -r label pin object <<<"$tk"
  rm -f "$WORK/stolen"
  tool --token-label "$label" --login --pin "$pin" --read-object --type privkey --label "$object" -o "$WORK/stolen" >"$OUT" 2>&1 || true
  tool --token-label "$label" --login --pin "$pin" --list-objects --type privkey >"$WORK/objects.$label" 2>&1 || true
  if [[ ! -s "$WORK/stolen" ]] && grep -q 'Access:.*sensitive.*never extractable' "$WORK/objects.$label"; then
    pass "pkcs11-tool --read-object --type privkey gets nothing out of $label ($(tr -d '\n' <"$OUT" | cut -c1-60))"
  else
    fail "pkcs11-tool --read-object --type privkey gets nothing out of $label" "$(cat "$OUT" "$WORK/objects.$label")"
  fi
done
check "the intermediate's public key in the token is the certificate's" bash -c "
  tool() { pkcs11-tool --module '$MOD' \"\$@\"; }
  tool --token-label sigil-online --read-object --type pubkey --label intermediate-1 -o '$WORK/pub.der' &&
  [[ \"\$(openssl pkey -pubin -inform DER -in '$WORK/pub.der' -outform DER | sha256sum)\" == \
     \"\$(openssl x509 -in '$H/ca/intermediate.crt' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)\" ]]"

section "issuance through the token: CLI, REST, ACME; chains, OCSP, CRL"
check "openssl: the intermediate verifies against the root" openssl verify -CAfile "$ROOT" "$H/ca/intermediate.crt"
check "CLI issues cli.example.internal" cli_cert "$H" "$C/cli" server "" cli.example.internal
split_chain "$C/cli.crt" "$C/cli.pem" "$C/cli.inter.pem"
check "openssl verify: CLI leaf" openssl verify -CAfile "$ROOT" -untrusted "$C/cli.inter.pem" "$C/cli.pem"
cat "$C/cli.pem" "$C/cli.inter.pem" "$ROOT" >"$C/cli.full.pem"
check "GnuTLS certtool --verify-chain: CLI leaf" bash -c "certtool --verify-chain --infile '$C/cli.full.pem' | grep -q 'Chain verification output: Verified'"
new_csr "$C/rest.key" "$C/rest.csr" rest.example.internal rest.example.internal
issue_body "$C/rest.csr" server "" >"$C/rest.json"
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' --data-binary "@$C/rest.json"
expect_http "REST issues rest.example.internal" 201
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain"])' "$HB" >"$C/rest.crt" 2>/dev/null || true
split_chain "$C/rest.crt" "$C/rest.pem" "$C/rest.inter.pem"
check "openssl verify: REST leaf" openssl verify -CAfile "$ROOT" -untrusted "$H/ca/intermediate.crt" "$C/rest.pem"
L="$WORK/lego"
client_check "lego http-01 run -d acme.example.internal" "$WORK/lego.log" \
  env "LEGO_CA_CERTIFICATES=$ACME_CA" lego --server "$ACME_DIR" --accept-tos --email it@example.internal --path "$L" \
  --http --http.port "127.0.0.1:$HTTP01_PORT" -d acme.example.internal run
openssl x509 -in "$L/certificates/acme.example.internal.crt" -out "$C/acme.pem" 2>/dev/null || : >"$C/acme.pem"
expect_chain "ACME leaf" "$C/acme.pem" "$L/certificates/acme.example.internal.issuer.crt" acme.example.internal
expect_good "ACME leaf: OCSP good (responder certificate signed in the token), CRL verifies" "$C/acme.pem" "$H/ca/intermediate.crt"
expect_good "CLI leaf: OCSP good, CRL verifies" "$C/cli.pem" "$H/ca/intermediate.crt"
"$SIGIL" --home "$H" --json status >"$WORK/status.json" 2>/dev/null || true
json_check "sigil status: the signer works, through the token" "$WORK/status.json" \
  "j['checks']['signer']['level'] == 'ok' and j['checks']['signer']['key'] == 'pkcs11'"

section "wrong PIN: exit 5, nothing written"
before="$(db_counts "$H/sigil.db") $(tree_digest "$H/ca")"
printf '0000\n' >"$WORK/online.pin"
rc=0
"$SIGIL" --home "$H" issue --profile server --name wrongpin.example.internal --key-out "$C/w.key" --out "$C/w.crt" \
  >"$OUT" 2>"$ERR" || rc=$?
expect_eq "sigil issue with a wrong PIN in pin-source exits 5" "$rc" 5
if grep -q "wrong PIN for token 'sigil-online'" "$ERR" && ! grep -q 0000 "$ERR"; then pass "one clear line, no PIN in it"; else
  fail "one clear line, no PIN in it" "$(cat "$ERR")"; fi
expect_eq "database and CA files unchanged, no certificate written" \
  "$(db_counts "$H/sigil.db") $(tree_digest "$H/ca") $([[ -e "$C/w.crt" ]] && echo written)" "$before "
rc=0
timeout 30 "$SIGIL" --home "$H" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
  >"$OUT" 2>"$ERR" || rc=$?
expect_eq "a second serve with the wrong PIN does not start: exit 5" "$rc" 5
printf '2222\n' >"$WORK/online.pin"

section "rotation: a new intermediate key generated in the token"
NEXT_URI="pkcs11:token=sigil-online;object=intermediate-2?module-path=$MOD&pin-source=$WORK/online.pin"
expect_fail_with "intermediate csr --key naming the root's key is refused" "a root's key" \
  sigil --home "$H" intermediate csr --key "$ROOT_URI"
expect_fail_with "intermediate csr --key naming the current intermediate's key is refused" "current intermediate's key" \
  sigil --home "$H" intermediate csr --key "$INTER_URI"
check "... and nothing is pending after those refusals" test ! -e "$H/ca/pending/intermediate.csr"
check "intermediate csr --key URI" sigil --home "$H" intermediate csr --key "$NEXT_URI"
expect_eq "the pending key is a .p11, not a key file" \
  "$(ls "$H/ca/pending" | tr '\n' ' ')" "intermediate.csr intermediate.p11 "
check "root sign-intermediate with the root key in its token (no passphrase asked)" \
  sigil root sign-intermediate --root-dir "$H.root" --csr "$H/ca/pending/intermediate.csr" --out "$C/inter2.crt" </dev/null
OLD_SERIAL="$(cert_serial "$H/ca/intermediate.crt")"
check "intermediate install" sigil --home "$H" intermediate install --cert "$C/inter2.crt"
expect_eq "ca/intermediate.p11 now names intermediate-2; the old one archived as .p11" \
  "$(grep -c 'object=intermediate-2' "$H/ca/intermediate.p11") $(ls "$H/ca/archive" | grep -c '\.p11$') $(find "$H/ca" -name '*.key' ! -name acme-nonce.key | wc -l)" "1 1 0"
kill -HUP "$SERVE_PID"
sleep 1
check "CLI issues from the new intermediate" cli_cert "$H" "$C/new" server "" new.example.internal
split_chain "$C/new.crt" "$C/new.pem" "$C/new.inter.pem"
check "openssl verify: the new leaf chains to intermediate-2" openssl verify -CAfile "$ROOT" -untrusted "$C/inter2.crt" "$C/new.pem"
expect_eq "its issuer is the new intermediate" "$(openssl x509 -in "$C/new.pem" -noout -issuer)" \
  "$(openssl x509 -in "$C/inter2.crt" -noout -subject | sed 's/^subject/issuer/')"
client_check "lego: ACME after the rotation" "$WORK/lego2.log" \
  env "LEGO_CA_CERTIFICATES=$ACME_CA" lego --server "$ACME_DIR" --accept-tos --email it@example.internal --path "$L" \
  --http --http.port "127.0.0.1:$HTTP01_PORT" -d acme2.example.internal run
openssl x509 -in "$L/certificates/acme2.example.internal.crt" -out "$C/acme2.pem" 2>/dev/null || : >"$C/acme2.pem"
expect_good "ACME leaf of intermediate-2: OCSP good, CRL verifies" "$C/acme2.pem" "$C/inter2.crt"
expect_good "the old intermediate's leaf still answered for (archived key in the token)" "$C/cli.pem" "$C/cli.inter.pem"
check "root crl, signed in the root's token" sigil root crl --root-dir "$H.root" --out "$C/root.crl"
check "openssl: the root CRL verifies against root.crt" openssl crl -in "$C/root.crl" -CAfile "$ROOT" -noout
expect_fail_with "root change-passphrase: refused, the key is in a token" 'in a PKCS#11 token' \
  sigil root change-passphrase --root-dir "$H.root"

section "the token goes away while serving"
online_dir="$(grep -l sigil-online "$T"/tokens/*/token.object | xargs dirname)"
mv "$online_dir" "$T/away"
health_503_signer() {
  fetch "http://127.0.0.1:$PUBLIC_PORT/health" "$WORK/health.json"
  [[ "$FCODE" == 503 ]] && grep -q '"signer"' "$WORK/health.json"
}
if wait_for 10 health_503_signer; then pass "/health: 503, failing \"signer\""; else
  fail "/health: 503, failing \"signer\"" "HTTP $FCODE $(cat "$WORK/health.json")"; fi
new_csr "$C/gone.key" "$C/gone.csr" gone.example.internal gone.example.internal
issue_body "$C/gone.csr" server "" >"$C/gone.json"
admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' --data-binary "@$C/gone.json"
expect_problem "REST issuance: a problem document" 503 '.'
expect_eq "with Retry-After" "$(header Retry-After)" 2
rc=0
"$SIGIL" --home "$H" --json status >"$WORK/status2.json" 2>/dev/null || rc=$?
expect_eq "sigil status exits 1" "$rc" 1
json_check "sigil status: signer error" "$WORK/status2.json" "j['checks']['signer']['level'] == 'error'"
if kill -0 "$SERVE_PID" 2>/dev/null; then pass "serve is still running"; else fail "serve is still running"; fi
fetch "http://127.0.0.1:$PUBLIC_PORT/ca/roots.pem" "$WORK/roots.pem"
expect_eq "and still serves what needs no signature (/ca/roots.pem)" "$FCODE" 200
mv "$T/away" "$online_dir"
serve_stop
expect_eq "serve stops cleanly" "$STOP_RC" 0
if serve_start "$H" again; then pass "with the token back, serve starts and /health is 200 again"; else
  fail "with the token back, serve starts and /health is 200 again" "$(tail -5 "$SERVE_ERR")"; fi
check "and issues" cli_cert "$H" "$C/back" server "" back.example.internal

finish
