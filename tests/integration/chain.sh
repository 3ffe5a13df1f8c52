#!/usr/bin/env bash
# Issue 2, acceptance 2: for every key type, `sigil init` + `sigil issue` produce chains that
# OpenSSL (-x509_strict, purposes, hostname) and GnuTLS certtool accept; client certificates are
# not server certificates; SPIFFE certificates are both; every leaf has the RFC 5280 fields the
# issue lists; the root key is encrypted and key files are 0600.
# SIGIL_IT_KEY_TYPES="ec-p256 ed25519" limits the key types for a quick run (default: all six).
source "$(dirname "$0")/lib.sh" "$@"

PASS_FILE="$WORK/passphrase"
printf 'integration-root-passphrase\n' >"$PASS_FILE"
chmod 600 "$PASS_FILE"
PUBLIC_URL="http://pki.example.test:8443"
TD="td.example.test"
KEY_TYPES=(ec-p256 ec-p384 ed25519 rsa-2048 rsa-3072 rsa-4096)
if [[ -n "${SIGIL_IT_KEY_TYPES:-}" ]]; then read -r -a KEY_TYPES <<<"$SIGIL_IT_KEY_TYPES"; fi

# openssl req arguments making a fresh key of a Sigil key type.
newkey_args() {
  case "$1" in
    ec-p256) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
    ec-p384) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-384" ;;
    ed25519) echo "-newkey ed25519" ;;
    rsa-*) echo "-newkey rsa:${1#rsa-}" ;;
  esac
}

openssl_verify() {  # purpose hostname(or -) root chain
  local purpose="$1" host="$2" root="$3" chain="$4" out
  local args=(-x509_strict -purpose "$purpose" -CAfile "$root" -untrusted "$chain")
  [[ "$host" != - ]] && args+=(-verify_hostname "$host")
  out="$(openssl verify "${args[@]}" "$chain" 2>&1)" || { echo "$out"; return 1; }
  [[ "$out" == "$chain: OK" ]] || { echo "$out"; return 1; }
}

# certtool exits 0 only when the chain verifies; its last verdict line must say so too.
certtool_verify() {  # root chain [extra certtool args]
  local root="$1" chain="$2" out
  shift 2
  out="$(certtool --verify --load-ca-certificate "$root" --infile "$chain" "$@" 2>&1)" || { echo "$out"; return 1; }
  grep -q '^Chain verification output: Verified\. The certificate is trusted\.' <<<"$out" || { echo "$out"; return 1; }
  ! grep -q 'NOT trusted' <<<"$out" || { echo "$out"; return 1; }
}

# The text of one extension of a certificate: its header line (criticality) and value lines.
ext_block() {  # cert-text header
  awk -v h="$2" '
    index($0, h) && /^            [A-Za-z]/ {on=1; print; next}
    on && /^            [A-Za-z]/ {on=0}
    on && /^    [A-Za-z]/ {on=0}
    on {print}' <<<"$1"
}

check_url() {  # label what url: exactly one URL, under --public-url
  if [[ -n "$3" && "$3" == "$PUBLIC_URL/"* && $(wc -l <<<"$3") -eq 1 ]]; then
    pass "$1: $2 URL under --public-url ($3)"
  else fail "$1: $2 URL under --public-url" "got '$3'"; fi
}

# Checks every leaf must pass (issue 2, "Issuance rules").
check_leaf() {  # label chain-file intermediate-file max-ttl-seconds t-before t-after ku-list eku-list
  local label="$1" chain="$2" inter="$3" max="$4" t0="$5" t1="$6" ku="$7" eku="$8"
  local leaf="$WORK/leaf.pem" text serial nb na inter_na inter_ski aki ski
  if ! first_cert "$chain" >"$leaf" 2>/dev/null; then
    fail "$label: no certificate to inspect in $chain"
    return 0
  fi
  text="$(openssl x509 -in "$leaf" -noout -text)"

  if grep -q '^        Version: 3 (0x2)' <<<"$text"; then pass "$label: X.509 v3"; else fail "$label: X.509 v3"; fi

  # Positive, at least 64 bits, at most 20 octets (RFC 5280 4.1.2.2).
  serial="$(cert_serial "$leaf")"
  local bits
  bits="$("$PY" -c 'import sys; print(int(sys.argv[1], 16).bit_length())' "$serial" 2>/dev/null || echo 0)"
  if ((bits >= 64 && bits <= 159)) && ! grep -A1 'Serial Number' <<<"$text" | grep -q 'Negative'; then
    pass "$label: positive serial of >= 64 bits ($bits bits)"
  else
    fail "$label: positive serial of >= 64 bits" "serial '$serial' ($bits bits)"
  fi

  local bc kub ekub
  bc="$(ext_block "$text" 'X509v3 Basic Constraints')"
  if grep -q 'Basic Constraints: critical' <<<"$bc" && grep -q 'CA:FALSE' <<<"$bc"; then
    pass "$label: basicConstraints CA:FALSE, critical"
  else fail "$label: basicConstraints CA:FALSE, critical" "$bc"; fi

  kub="$(ext_block "$text" 'X509v3 Key Usage')"
  local got_ku
  got_ku="$(sed -n 2p <<<"$kub" | sed 's/^ *//')"
  if grep -q 'Key Usage: critical' <<<"$kub" && [[ "$got_ku" == "$ku" ]]; then
    pass "$label: keyUsage critical, '$ku'"
  else fail "$label: keyUsage critical, '$ku'" "$kub"; fi

  ekub="$(ext_block "$text" 'X509v3 Extended Key Usage')"
  if [[ "$(sed -n 2p <<<"$ekub" | sed 's/^ *//')" == "$eku" ]]; then
    pass "$label: extendedKeyUsage '$eku'"
  else fail "$label: extendedKeyUsage '$eku'" "$ekub"; fi

  ski="$(ext_block "$text" 'X509v3 Subject Key Identifier' | sed -n '2s/^ *//p')"
  aki="$(ext_block "$text" 'X509v3 Authority Key Identifier' | sed -n '2{s/^ *//;s/^keyid://;p}')"
  inter_ski="$(openssl x509 -in "$inter" -noout -ext subjectKeyIdentifier | sed -n '2s/^ *//p')"
  if [[ -n "$ski" ]]; then pass "$label: subjectKeyIdentifier present"; else fail "$label: subjectKeyIdentifier present"; fi
  if [[ -n "$aki" && "$aki" == "$inter_ski" ]]; then
    pass "$label: authorityKeyIdentifier = intermediate's SKI"
  else fail "$label: authorityKeyIdentifier = intermediate's SKI" "aki '$aki' vs '$inter_ski'"; fi

  local crl ocsp cai
  crl="$(ext_block "$text" 'X509v3 CRL Distribution Points' | grep -o 'URI:.*' | sed 's/^URI://')"
  ocsp="$(ext_block "$text" 'Authority Information Access' | grep -o 'OCSP - URI:.*' | sed 's/^OCSP - URI://')"
  cai="$(ext_block "$text" 'Authority Information Access' | grep -o 'CA Issuers - URI:.*' | sed 's/^CA Issuers - URI://')"
  check_url "$label" "CRL distribution point" "$crl"
  check_url "$label" "AIA OCSP" "$ocsp"
  check_url "$label" "AIA CA Issuers" "$cai"

  nb="$(cert_not_before "$leaf")"
  na="$(cert_not_after "$leaf")"
  inter_na="$(cert_not_after "$inter")"
  if ((t1 - nb >= 300 && t0 - nb <= 86400)); then
    pass "$label: notBefore backdated by >= 5 min ($((t1 - nb)) s)"
  else fail "$label: notBefore backdated by >= 5 min" "notBefore $nb, issued between $t0 and $t1"; fi
  if ((na <= t1 + max && na > t0)); then
    pass "$label: notAfter within the profile maximum"
  else fail "$label: notAfter within the profile maximum" "notAfter $na, max $max s after $t1"; fi
  if ((na <= inter_na)); then pass "$label: notAfter not past the intermediate's"
  else fail "$label: notAfter not past the intermediate's" "leaf $na > intermediate $inter_na"; fi
}

# SAN entries of the first certificate of a file, one per line ("DNS:x", "URI:y").
sans_of() {
  openssl x509 -in "$1" -noout -ext subjectAltName | sed -n '2,$p' | tr ',' '\n' | sed 's/^ *//' | sed '/^$/d'
}

DAY=86400
for T in "${KEY_TYPES[@]}"; do
  section "key type $T"
  D="$WORK/$T"
  H="$D/home"
  R="$D/root"
  mkdir -p "$D"
  check "$T: sigil init" sigil --home "$H" init --root-dir "$R" --key-type "$T" --name "IT $T CA" \
    --root-passphrase-file "$PASS_FILE" --allow-domain example.test --spiffe-trust-domain "$TD" \
    --public-url "$PUBLIC_URL"
  if [[ ! -f "$H/ca/intermediate.crt" ]]; then
    fail "$T: init produced no intermediate; skipping this key type"
    continue
  fi
  ROOT="$R/root.crt"
  INTER="$H/ca/intermediate.crt"

  # The CA's own files.
  if [[ "$(head -1 "$R/root.key")" == "-----BEGIN "'ENCRYPTED PRIVATE KEY-----' ]]; then
    pass "$T: root.key is an ENCRYPTED PRIVATE KEY (PKCS#8)"
  else fail "$T: root.key is an ENCRYPTED PRIVATE KEY (PKCS#8)" "$(head -1 "$R/root.key")"; fi
  if openssl asn1parse -in "$R/root.key" 2>/dev/null | grep -q 'aes-256-cbc\|aes-256-gcm'; then
    pass "$T: root.key is encrypted with AES-256"
  else fail "$T: root.key is encrypted with AES-256"; fi
  expect_fail "$T: root.key does not open without the passphrase" \
    openssl pkey -in "$R/root.key" -passin pass:wrong-passphrase -noout
  check "$T: root.key opens with the passphrase and matches root.crt" bash -c \
    "[[ \"\$(openssl pkey -in '$R/root.key' -passin file:'$PASS_FILE' -pubout)\" == \"\$(openssl x509 -in '$ROOT' -noout -pubkey)\" ]]"
  for f in "$R/root.key" "$H/ca/intermediate.key" "$H/admin/admin.key"; do
    expect_eq "$T: ${f#"$D/"} is mode 0600" "$(mode_of "$f")" 600
  done
  if ! grep -rqs 'ENCRYPTED PRIVATE KEY' "$H" && ! grep -rqsF "$(sed -n 2p "$R/root.key")" "$H"; then
    pass "$T: the home holds no copy of the root key"
  else fail "$T: the home holds no copy of the root key"; fi
  check "$T: ca/root.crt is the root certificate" cmp "$ROOT" "$H/ca/root.crt"
  itext="$(openssl x509 -in "$INTER" -noout -text)"
  ibc="$(ext_block "$itext" 'X509v3 Basic Constraints')"
  if grep -q 'critical' <<<"$ibc" && grep -q 'CA:TRUE, pathlen:0' <<<"$ibc"; then
    pass "$T: intermediate has CA:TRUE, pathlen:0 (critical)"
  else fail "$T: intermediate has CA:TRUE, pathlen:0 (critical)" "$ibc"; fi
  iku="$(ext_block "$itext" 'X509v3 Key Usage')"
  if grep -q 'Key Usage: critical' <<<"$iku" && grep -q 'Certificate Sign, CRL Sign' <<<"$iku"; then
    pass "$T: intermediate keyUsage critical with keyCertSign, cRLSign"
  else fail "$T: intermediate keyUsage critical with keyCertSign, cRLSign" "$iku"; fi
  expect_eq "$T: intermediate AKI = root SKI" \
    "$(ext_block "$itext" 'X509v3 Authority Key Identifier' | sed -n '2{s/^ *//;s/^keyid://;p}')" \
    "$(openssl x509 -in "$ROOT" -noout -ext subjectKeyIdentifier | sed -n '2s/^ *//p')"
  expect_eq "$T: intermediate CRL distribution point is the root CRL under --public-url" \
    "$(ext_block "$itext" 'X509v3 CRL Distribution Points' | grep -o 'URI:.*')" "URI:$PUBLIC_URL/crl/root.crl"
  check "$T: root is self-signed, CA:TRUE, and verifies alone (x509_strict)" \
    openssl verify -x509_strict -check_ss_sig -CAfile "$ROOT" "$ROOT"
  check "$T: intermediate verifies against the root (x509_strict)" \
    openssl verify -x509_strict -CAfile "$ROOT" "$INTER"
  check "$T: admin client certificate verifies as sslclient" \
    openssl_verify sslclient - "$ROOT" "$H/admin/admin.crt"

  # Server certificate, key made by sigil.
  NAME="www.example.test"
  t0=$(date +%s)
  check "$T: issue --name $NAME --key-out --out" \
    sigil --home "$H" issue --name "$NAME" --key-out "$D/www.key" --out "$D/www.pem"
  t1=$(date +%s)
  expect_eq "$T: issued key file is mode 0600" "$(mode_of "$D/www.key")" 600
  check "$T: issued key matches the leaf" bash -c \
    "[[ \"\$(openssl pkey -in '$D/www.key' -pubout)\" == \"\$(openssl x509 -in '$D/www.pem' -noout -pubkey)\" ]]"
  expect_eq "$T: chain file holds leaf + intermediate" "$(grep -c 'BEGIN CERTIFICATE' "$D/www.pem")" 2
  check "$T: openssl verify -x509_strict -purpose sslserver -verify_hostname $NAME" \
    openssl_verify sslserver "$NAME" "$ROOT" "$D/www.pem"
  expect_fail_with "$T: openssl verify refuses another hostname" 'hostname mismatch' \
    openssl_verify sslserver other.example.test "$ROOT" "$D/www.pem"
  check "$T: certtool --verify (hostname $NAME, purpose serverAuth)" \
    certtool_verify "$ROOT" "$D/www.pem" --verify-hostname "$NAME" --verify-purpose 1.3.6.1.5.5.7.3.1
  expect_fail_with "$T: certtool --verify refuses another hostname" 'name in the certificate does not match' \
    certtool_verify "$ROOT" "$D/www.pem" --verify-hostname other.example.test
  expect_fail "$T: certtool --verify refuses the chain against another root" \
    certtool_verify "$H/admin/admin.crt" "$D/www.pem"
  ku="Digital Signature"
  [[ "$T" == rsa-* ]] && ku="Digital Signature, Key Encipherment"
  check_leaf "$T server --name" "$D/www.pem" "$INTER" $((DAY)) "$t0" "$t1" "$ku" "TLS Web Server Authentication"
  expect_eq "$T: server leaf SANs" "$(sans_of "$D/www.pem")" "DNS:$NAME"
  if openssl x509 -in "$D/www.pem" -noout -text | grep -q 'X509v3 Subject Alternative Name: critical'; then
    fail "$T: server leaf SAN is not critical (the subject is not empty)"
  else pass "$T: server leaf SAN is not critical (the subject is not empty)"; fi
  expect_eq "$T: server leaf subject is built from the SAN" \
    "$(openssl x509 -in "$D/www.pem" -noout -subject -nameopt RFC2253)" "subject=CN=$NAME"

  # Server certificate from an OpenSSL CSR (its subject carries junk the CA must not copy).
  CNAME="api.example.test"
  # shellcheck disable=SC2046
  check "$T: openssl req makes a CSR" openssl req -new $(newkey_args "$T") -nodes -keyout "$D/api.key" \
    -subj "/O=Requester Org/CN=$CNAME" -addext "subjectAltName=DNS:$CNAME,DNS:api2.example.test" -out "$D/api.csr"
  t0=$(date +%s)
  check "$T: issue --csr --ttl 90d (the server maximum)" \
    sigil --home "$H" issue --csr "$D/api.csr" --ttl 90d --out "$D/api.pem"
  t1=$(date +%s)
  check "$T: CSR chain: openssl verify -x509_strict -purpose sslserver -verify_hostname $CNAME" \
    openssl_verify sslserver "$CNAME" "$ROOT" "$D/api.pem"
  check "$T: CSR chain: openssl verify for the second SAN" \
    openssl_verify sslserver api2.example.test "$ROOT" "$D/api.pem"
  check "$T: CSR chain: certtool --verify (hostname $CNAME)" \
    certtool_verify "$ROOT" "$D/api.pem" --verify-hostname "$CNAME"
  check_leaf "$T server --csr" "$D/api.pem" "$INTER" $((90 * DAY)) "$t0" "$t1" "$ku" "TLS Web Server Authentication"
  expect_eq "$T: CSR leaf subject is built by the CA, not copied" \
    "$(openssl x509 -in "$D/api.pem" -noout -subject -nameopt RFC2253)" "subject=CN=$CNAME"
  check "$T: CSR leaf certifies the CSR's key" bash -c \
    "[[ \"\$(openssl req -in '$D/api.csr' -noout -pubkey)\" == \"\$(openssl x509 -in '$D/api.pem' -noout -pubkey)\" ]]"

  # Client certificate: a client, never a server.
  t0=$(date +%s)
  check "$T: issue --profile client" \
    sigil --home "$H" issue --profile client --name client1.example.test --key-out "$D/client.key" --out "$D/client.pem"
  t1=$(date +%s)
  expect_fail_with "$T: client certificate FAILS openssl -purpose sslserver" 'unsuitable certificate purpose' \
    openssl_verify sslserver - "$ROOT" "$D/client.pem"
  check "$T: client certificate passes openssl -purpose sslclient" \
    openssl_verify sslclient - "$ROOT" "$D/client.pem"
  expect_fail_with "$T: client certificate FAILS certtool --verify-purpose serverAuth" 'does not match the intended purpose' \
    certtool_verify "$ROOT" "$D/client.pem" --verify-purpose 1.3.6.1.5.5.7.3.1
  check "$T: client certificate passes certtool --verify-purpose clientAuth" \
    certtool_verify "$ROOT" "$D/client.pem" --verify-purpose 1.3.6.1.5.5.7.3.2
  check_leaf "$T client" "$D/client.pem" "$INTER" $((90 * DAY)) "$t0" "$t1" "Digital Signature" \
    "TLS Web Client Authentication"

  # SPIFFE certificate: both purposes, exactly one URI SAN.
  SPIFFE_ID="spiffe://$TD/ns/prod/sa/web"
  t0=$(date +%s)
  check "$T: issue --profile spiffe --name $SPIFFE_ID" \
    sigil --home "$H" issue --profile spiffe --name "$SPIFFE_ID" --key-out "$D/spiffe.key" --out "$D/spiffe.pem"
  t1=$(date +%s)
  check "$T: spiffe certificate passes openssl -purpose sslserver" openssl_verify sslserver - "$ROOT" "$D/spiffe.pem"
  check "$T: spiffe certificate passes openssl -purpose sslclient" openssl_verify sslclient - "$ROOT" "$D/spiffe.pem"
  check "$T: spiffe certificate passes certtool --verify" certtool_verify "$ROOT" "$D/spiffe.pem"
  expect_eq "$T: spiffe certificate has exactly one SAN, the URI" "$(sans_of "$D/spiffe.pem")" "URI:$SPIFFE_ID"
  stext="$(openssl x509 -in "$D/spiffe.pem" -noout -text 2>&1 || true)"
  if grep -q 'X509v3 Subject Alternative Name: critical' <<<"$stext"; then
    pass "$T: spiffe SAN is critical (empty subject)"
  else fail "$T: spiffe SAN is critical (empty subject)"; fi
  skw="Digital Signature"
  [[ "$T" == rsa-* ]] && skw="Digital Signature, Key Encipherment"
  check_leaf "$T spiffe" "$D/spiffe.pem" "$INTER" $((DAY)) "$t0" "$t1" "$skw" \
    "TLS Web Server Authentication, TLS Web Client Authentication"

  # Everything issued is in the database, with its DER.
  db="$H/sigil.db"
  expect_eq "$T: database holds admin + 4 issued certificates, all with DER" \
    "$(sqlite3 "$db" "select count(*) from certificates where der is not null and length(der) > 0")" 5
  for f in www api client spiffe; do
    s="$(cert_serial "$D/$f.pem")"
    if [[ "$(sqlite3 "$db" "select count(*) from certificates where lower(serial) = '$s'")" == 1 ]] &&
      sigil --home "$H" show --pem "$s" | cmp -s - <(first_cert "$D/$f.pem"); then
      pass "$T: $f certificate is stored under its serial, byte for byte"
    else fail "$T: $f certificate is stored under its serial, byte for byte" "serial $s"; fi
  done
done

# An intermediate shorter-lived than the profile maximum bounds every leaf.
section "leaf validity is clamped to the intermediate's"
D="$WORK/clamp"
mkdir -p "$D"
export SIGIL_ROOT_PASSPHRASE="integration-root-passphrase"
check "clamp: init" sigil --home "$D/home" init --root-dir "$D/root" --allow-domain example.test \
  --public-url "$PUBLIC_URL"
check "clamp: intermediate csr" sigil --home "$D/home" intermediate csr
check "clamp: root sign-intermediate --ttl 10d" sigil root sign-intermediate --root-dir "$D/root" \
  --csr "$D/home/ca/pending/intermediate.csr" --out "$D/short.crt" --ttl 10d
check "clamp: intermediate install" sigil --home "$D/home" intermediate install --cert "$D/short.crt"
unset SIGIL_ROOT_PASSPHRASE
t0=$(date +%s)
check "clamp: issue --ttl 90d under a 10-day intermediate" \
  sigil --home "$D/home" issue --name long.example.test --ttl 90d --key-out "$D/long.key" --out "$D/long.pem"
t1=$(date +%s)
if [[ -f "$D/long.pem" ]]; then
  expect_eq "clamp: leaf notAfter = intermediate notAfter" "$(cert_not_after "$D/long.pem")" \
    "$(cert_not_after "$D/home/ca/intermediate.crt")"
  check "clamp: clamped leaf verifies (x509_strict, sslserver)" \
    openssl_verify sslserver long.example.test "$D/root/root.crt" "$D/long.pem"
  check_leaf "clamp" "$D/long.pem" "$D/home/ca/intermediate.crt" $((90 * DAY)) "$t0" "$t1" "Digital Signature" \
    "TLS Web Server Authentication"
fi

section "odds and ends (ec-p256)"
D="$WORK/misc"
mkdir -p "$D"
export SIGIL_ROOT_PASSPHRASE="integration-root-passphrase"
check "init under umask 000, --public-url with a trailing slash, --dns only" bash -c \
  "umask 000 && exec '$SIGIL' --home '$D/home' init --root-dir '$D/root' --public-url '$PUBLIC_URL/' --dns srv.internal.test --allow-domain example.test --name 'Acme, Inc. \"Test\" + Sïgil/CA'"
expect_eq "a CA name with RDN special characters and UTF-8 survives into the subject" \
  "$(openssl x509 -in "$D/home/ca/intermediate.crt" -noout -subject -nameopt utf8,sep_comma_plus_space 2>&1)" \
  'subject=O=Acme, Inc. "Test" + Sïgil/CA, CN=Acme, Inc. "Test" + Sïgil/CA Intermediate'
check "issue under umask 000" bash -c \
  "umask 000 && exec '$SIGIL' --home '$D/home' issue --name '*.example.test' --key-out '$D/wild.key' --out '$D/wild.pem'"
for f in "$D/root/root.key" "$D/home/ca/intermediate.key" "$D/home/admin/admin.key" "$D/wild.key"; do
  expect_eq "umask 000: ${f#"$D/"} is still 0600" "$(mode_of "$f")" 600
done
for f in "$D/home" "$D/home/ca" "$D/root"; do
  m="$(mode_of "$f")"
  if [[ "$m" =~ ^[0-7]+$ ]] && (( (8#$m & 8#077) == 0 )); then pass "umask 000: ${f#"$D/"}/ is private ($m)"
  else fail "umask 000: ${f#"$D/"}/ is private" "mode $m"; fi
done
if [[ -f "$D/wild.pem" ]]; then
  urls="$(openssl x509 -in "$D/wild.pem" -noout -ext crlDistributionPoints,authorityInfoAccess | grep -o 'URI:.*')"
  if ! grep -q "$PUBLIC_URL//" <<<"$urls" && [[ $(grep -c "URI:$PUBLIC_URL/" <<<"$urls") -eq 3 ]]; then
    pass "--public-url with a trailing slash makes no '//' in the URLs"
  else fail "--public-url with a trailing slash makes no '//' in the URLs" "$urls"; fi
  check "wildcard leaf verifies for a name under it" \
    openssl_verify sslserver host.example.test "$D/root/root.crt" "$D/wild.pem"
  check "wildcard leaf verifies with certtool" \
    certtool_verify "$D/root/root.crt" "$D/wild.pem" --verify-hostname host.example.test
  expect_fail_with "wildcard leaf does not cover two labels" 'hostname mismatch' \
    openssl_verify sslserver a.b.example.test "$D/root/root.crt" "$D/wild.pem"
fi
check "the --dns name of the server is allowed" \
  sigil --home "$D/home" issue --name srv.internal.test --key-out "$D/srv.key" --out "$D/srv.pem"
check "... and verifies" openssl_verify sslserver srv.internal.test "$D/root/root.crt" "$D/srv.pem"
check "intermediate csr" sigil --home "$D/home" intermediate csr
check "root sign-intermediate --ttl 30y (longer than the root)" sigil root sign-intermediate --root-dir "$D/root" \
  --csr "$D/home/ca/pending/intermediate.csr" --out "$D/long-inter.crt" --ttl 30y
if [[ -f "$D/long-inter.crt" ]]; then
  if (( $(cert_not_after "$D/long-inter.crt") <= $(cert_not_after "$D/root/root.crt") )); then
    pass "an intermediate is never valid past its root"
  else fail "an intermediate is never valid past its root"; fi
  check "... and verifies (x509_strict)" openssl verify -x509_strict -CAfile "$D/root/root.crt" <(first_cert "$D/long-inter.crt")
fi
unset SIGIL_ROOT_PASSPHRASE

finish
