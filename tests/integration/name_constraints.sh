#!/usr/bin/env bash
# Issue 11 item 15: the intermediate is name-constrained to what the identifier policy allows
# plus the CA's own names (server.dns, the admin identity), with EKU serverAuth + clientAuth.
# Whoever steals the intermediate's key still cannot mint a certificate for a public name that
# OpenSSL or GnuTLS accepts: leaves are forged here with `openssl x509 -req -CAkey` and the
# intermediate's own key, outside Sigil. `--no-name-constraints` opts out.
source "$(dirname "$0")/lib.sh" "$@"

PASS_FILE="$WORK/passphrase"
printf 'integration-root-passphrase\n' >"$PASS_FILE"
H="$WORK/home"
R="$WORK/root"

# openssl verify of a leaf through the intermediate to the root; prints the verdict on failure.
ossl_verify() {  # root intermediate leaf
  local out
  out="$(openssl verify -x509_strict -CAfile "$1" -untrusted "$2" "$3" 2>&1)" || { echo "$out"; return 1; }
  [[ "$out" == "$3: OK" ]] || { echo "$out"; return 1; }
}
# The same, and openssl must name the name-constraints violation (not some other fault).
ossl_refuses_name() {  # root intermediate leaf
  local out
  if out="$(openssl verify -x509_strict -CAfile "$1" -untrusted "$2" "$3" 2>&1)"; then
    echo "verified: $out"
    return 1
  fi
  grep -Eq 'subtree violation|name constraints' <<<"$out" || { echo "$out"; return 1; }
}
# GnuTLS: exit 0 and "Verified" only when the chain verifies.
certtool_verify() {  # root chain-file
  local out
  out="$(certtool --verify --load-ca-certificate "$1" --infile "$2" 2>&1)" || { echo "$out"; return 1; }
  grep -q '^Chain verification output: Verified\. The certificate is trusted\.' <<<"$out" || { echo "$out"; return 1; }
}
certtool_refuses() {  # root chain-file
  local out
  if out="$(certtool --verify --load-ca-certificate "$1" --infile "$2" 2>&1)"; then
    echo "verified: $out"
    return 1
  fi
  grep -q 'NOT trusted' <<<"$out" || { echo "$out"; return 1; }
}

# forge NAME-SPEC INTERMEDIATE-CRT INTERMEDIATE-KEY OUT: a leaf signed with the intermediate's key,
# outside Sigil. NAME-SPEC is "cn:NAME" (CN only, no SAN) or an openssl SAN list ("DNS:a,IP:1.2.3.4").
forge() {
  local spec="$1" ca="$2" cakey="$3" out="$4" subj="/CN=forged" ext
  ext="$WORK/forge.ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/forged.key" 2>/dev/null
  : >"$ext"
  echo "basicConstraints=critical,CA:FALSE" >>"$ext"
  echo "extendedKeyUsage=serverAuth,clientAuth" >>"$ext"
  if [[ "$spec" == cn:* ]]; then
    subj="/CN=${spec#cn:}"
  else
    echo "subjectAltName=$spec" >>"$ext"
  fi
  openssl req -new -key "$WORK/forged.key" -subj "$subj" -out "$WORK/forged.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/forged.csr" -CA "$ca" -CAkey "$cakey" -set_serial "0x$(openssl rand -hex 8)" \
    -days 1 -extfile "$ext" -out "$out" 2>/dev/null
  cat "$out" "$ca" >"$out.chain"
}

section "init: the intermediate is name-constrained"
check "init --allow-domain corp.test --dns ca.corp.test --dns localhost --spiffe-trust-domain td.test" \
  sigil --home "$H" init --root-dir "$R" --root-passphrase-file "$PASS_FILE" --allow-domain corp.test \
  --dns ca.corp.test --dns localhost --spiffe-trust-domain td.test
[[ -f "$H/ca/intermediate.crt" ]] || { fail "init failed; nothing else can run"; finish; }
ROOT="$R/root.crt"
INTER="$H/ca/intermediate.crt"
IKEY="$H/ca/intermediate.key"
text="$(openssl x509 -in "$INTER" -noout -text)"
nc="$(openssl x509 -in "$INTER" -noout -ext nameConstraints 2>&1)"
if grep -q 'X509v3 Name Constraints: critical' <<<"$nc"; then pass "nameConstraints present and critical"
else fail "nameConstraints present and critical" "$nc"; fi
for want in 'DNS:corp.test' 'DNS:ca.corp.test' 'DNS:localhost' 'DNS:sigil-admin' 'URI:td.test' 'email:corp.test' \
  'email:.corp.test' 'IP:127.0.0.1/255.255.255.255' 'IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0'; do
  if grep -qF "$want" <<<"$nc"; then pass "nameConstraints name $want"; else fail "nameConstraints name $want" "$nc"; fi
done
# Permitted first, then excluded: the policy allows no IP address, so IPv4 permits only the address
# the listeners bind (127.0.0.1, one of the CA's own names: the server certificate names it) and
# IPv6 is shut.
expect_eq "permitted IP: the listeners' address only" \
  "$(sed -n '/Permitted:/,/Excluded:/p' <<<"$nc" | grep 'IP:' | tr -d ' ')" "IP:127.0.0.1/255.255.255.255"
expect_eq "excluded IP: all of IPv6" \
  "$(sed -n '/Excluded:/,$p' <<<"$nc" | grep 'IP:' | tr -d ' ')" "IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0"
eku="$(openssl x509 -in "$INTER" -noout -ext extendedKeyUsage 2>&1 | tail -n +2 | tr -d ' ')"
expect_eq "EKU: serverAuth and clientAuth, no OCSPSigning" "$eku" "TLSWebServerAuthentication,TLSWebClientAuthentication"
check "the intermediate verifies against the root (x509_strict)" openssl verify -x509_strict -CAfile "$ROOT" "$INTER"
check "root.json records the constraints for the next sign-intermediate" \
  "$PY" -c "import json,sys; j=json.load(open('$R/root.json')); sys.exit(0 if 'dns:corp.test' in j['name_constraints']['permitted'] else 1)"

section "leaves forged with the intermediate's own key"
forge "DNS:www.example.com" "$INTER" "$IKEY" "$WORK/pub.pem"
check "forged www.example.com (SAN): openssl verify refuses it (subtree violation)" \
  ossl_refuses_name "$ROOT" "$INTER" "$WORK/pub.pem"
check "... and certtool --verify refuses it" certtool_refuses "$ROOT" "$WORK/pub.pem.chain"
forge "cn:www.example.com" "$INTER" "$IKEY" "$WORK/pub-cn.pem"
check "forged CN=www.example.com, no SAN: openssl verify refuses it" \
  ossl_refuses_name "$ROOT" "$INTER" "$WORK/pub-cn.pem"
forge "DNS:api.corp.test,DNS:www.example.com" "$INTER" "$IKEY" "$WORK/mixed.pem"
check "forged api.corp.test + www.example.com: refused (one name outside is enough)" \
  ossl_refuses_name "$ROOT" "$INTER" "$WORK/mixed.pem"
forge "IP:8.8.8.8" "$INTER" "$IKEY" "$WORK/ip4.pem"
check "forged IP 8.8.8.8: refused" ossl_refuses_name "$ROOT" "$INTER" "$WORK/ip4.pem"
forge "IP:127.0.0.2" "$INTER" "$IKEY" "$WORK/ip4b.pem"
check "forged IP 127.0.0.2 (next to the listeners' address): refused" ossl_refuses_name "$ROOT" "$INTER" "$WORK/ip4b.pem"
forge "IP:2001:db8::1" "$INTER" "$IKEY" "$WORK/ip6.pem"
check "forged IP 2001:db8::1: refused" ossl_refuses_name "$ROOT" "$INTER" "$WORK/ip6.pem"
forge "URI:spiffe://evil.test/ns/a" "$INTER" "$IKEY" "$WORK/uri.pem"
check "forged spiffe://evil.test/...: refused" ossl_refuses_name "$ROOT" "$INTER" "$WORK/uri.pem"
forge "email:ceo@example.com" "$INTER" "$IKEY" "$WORK/mail.pem"
check "forged email ceo@example.com: refused" ossl_refuses_name "$ROOT" "$INTER" "$WORK/mail.pem"
# The same forgery inside the policy verifies: the refusals above are the constraints, not the forging.
forge "DNS:api.corp.test,URI:spiffe://td.test/ns/a,email:ops@corp.test" "$INTER" "$IKEY" "$WORK/ok.pem"
check "forged api.corp.test + spiffe://td.test/... + ops@corp.test (inside the policy): openssl verifies" \
  ossl_verify "$ROOT" "$INTER" "$WORK/ok.pem"
check "... and certtool verifies" certtool_verify "$ROOT" "$WORK/ok.pem.chain"

section "what Sigil issues still verifies"
check "issue --name x.corp.test" sigil --home "$H" issue --name x.corp.test --key-out "$WORK/x.key" --out "$WORK/x.pem"
check "x.corp.test: openssl verify -purpose sslserver" \
  openssl verify -x509_strict -purpose sslserver -verify_hostname x.corp.test -CAfile "$ROOT" -untrusted "$WORK/x.pem" "$WORK/x.pem"
check "x.corp.test: certtool verifies" certtool_verify "$ROOT" "$WORK/x.pem"
check "issue --name localhost (the server's own name)" \
  sigil --home "$H" issue --name localhost --key-out "$WORK/l.key" --out "$WORK/l.pem"
check "localhost: openssl verify" ossl_verify "$ROOT" "$INTER" "$WORK/l.pem"
check "the admin certificate (sigil-admin): openssl verify -purpose sslclient" \
  openssl verify -x509_strict -purpose sslclient -CAfile "$ROOT" -untrusted "$H/admin/admin.crt" "$H/admin/admin.crt"
check "the admin certificate: certtool verifies" certtool_verify "$ROOT" "$H/admin/admin.crt"
check "issue --profile spiffe --name spiffe://td.test/ns/web" sigil --home "$H" issue --profile spiffe \
  --name spiffe://td.test/ns/web --key-out "$WORK/s.key" --out "$WORK/s.pem"
check "spiffe leaf: openssl verify -purpose sslclient" \
  openssl verify -x509_strict -purpose sslclient -CAfile "$ROOT" -untrusted "$WORK/s.pem" "$WORK/s.pem"

section "a new allowed domain needs a new intermediate (the trade-off)"
"$PY" - "$H/sigil.json" <<'EOF'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["policy"]["allowed_domains"].append("new.test")
j["policy"]["allowed_ip_ranges"] = ["10.0.0.0/8"]
json.dump(j, open(p, "w"), indent=2)
EOF
rows_before="$(db_counts "$H/sigil.db")"
expect_fail_with "issue --name a.new.test (policy allows it, the intermediate does not): refused" \
  "permitted names" sigil --home "$H" issue --name a.new.test --key-out "$WORK/n.key" --out "$WORK/n.pem"
expect_eq "... and nothing was recorded" "$(db_counts "$H/sigil.db")" "$rows_before"
check "intermediate csr" sigil --home "$H" intermediate csr
CSR="$H/ca/pending/intermediate.csr"
check "root sign-intermediate (no flag: the constraints recorded at init)" sigil root sign-intermediate \
  --root-dir "$R" --root-passphrase-file "$PASS_FILE" --csr "$CSR" --out "$WORK/same.crt"
expect_eq "... carries the same nameConstraints as the first intermediate" \
  "$(openssl x509 -in "$WORK/same.crt" -noout -ext nameConstraints 2>&1)" "$nc"
check "root sign-intermediate --config HOME/sigil.json" sigil root sign-intermediate --root-dir "$R" \
  --root-passphrase-file "$PASS_FILE" --csr "$CSR" --out "$WORK/new.crt" --config "$H/sigil.json"
nc2="$(openssl x509 -in "$WORK/new.crt" -noout -ext nameConstraints 2>&1)"
for want in 'DNS:new.test' 'DNS:corp.test' 'IP:10.0.0.0/255.0.0.0' 'IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0'; do
  if grep -qF "$want" <<<"$nc2"; then pass "new intermediate: $want"; else fail "new intermediate: $want" "$nc2"; fi
done
if grep -qF 'IP:0.0.0.0/0.0.0.0' <<<"$nc2"; then fail "new intermediate: IPv4 no longer excluded" "$nc2"
else pass "new intermediate: IPv4 no longer excluded"; fi
check "root.json now records the new constraints" \
  "$PY" -c "import json,sys; j=json.load(open('$R/root.json')); sys.exit(0 if 'dns:new.test' in j['name_constraints']['permitted'] else 1)"
check "intermediate install" sigil --home "$H" intermediate install --cert "$WORK/new.crt"
check "issue --name a.new.test now" sigil --home "$H" issue --name a.new.test --key-out "$WORK/n.key" --out "$WORK/n.pem"
check "a.new.test: openssl verify" ossl_verify "$ROOT" "$WORK/new.crt" "$WORK/n.pem"
check "issue --name 10.1.2.3 (an IP-only leaf)" \
  sigil --home "$H" issue --name 10.1.2.3 --key-out "$WORK/ip.key" --out "$WORK/ip.pem"
# No CN: OpenSSL would check an IP-literal CN against the dNSName constraints and refuse.
expect_eq "the IP-only leaf has an empty subject" "$(openssl x509 -in "$WORK/ip.pem" -noout -subject)" "subject="
check "10.1.2.3: openssl verify -verify_ip 10.1.2.3" openssl verify -x509_strict -verify_ip 10.1.2.3 \
  -CAfile "$ROOT" -untrusted "$WORK/new.crt" "$WORK/ip.pem"
check "10.1.2.3: certtool verifies" certtool_verify "$ROOT" "$WORK/ip.pem"
NKEY="$H/ca/intermediate.key"
forge "IP:11.1.2.3" "$WORK/new.crt" "$NKEY" "$WORK/ip11.pem"
check "forged 11.1.2.3 under the new intermediate: refused" ossl_refuses_name "$ROOT" "$WORK/new.crt" "$WORK/ip11.pem"
forge "DNS:www.example.com" "$WORK/new.crt" "$NKEY" "$WORK/pub2.pem"
check "forged www.example.com under the new intermediate: refused" \
  ossl_refuses_name "$ROOT" "$WORK/new.crt" "$WORK/pub2.pem"

section "--no-name-constraints"
check "intermediate csr" sigil --home "$H" intermediate csr
check "root sign-intermediate --no-name-constraints" sigil root sign-intermediate --root-dir "$R" \
  --root-passphrase-file "$PASS_FILE" --csr "$CSR" --out "$WORK/free.crt" --no-name-constraints
if openssl x509 -in "$WORK/free.crt" -noout -text | grep -q 'Name Constraints'; then
  fail "the opted-out intermediate has no nameConstraints"
else pass "the opted-out intermediate has no nameConstraints"; fi
expect_fail_with "--config with --no-name-constraints is refused" "exclude" sigil root sign-intermediate \
  --root-dir "$R" --root-passphrase-file "$PASS_FILE" --csr "$CSR" --out "$WORK/both.crt" \
  --config "$H/sigil.json" --no-name-constraints
[[ ! -e "$WORK/both.crt" ]] && pass "... and writes nothing" || fail "... and writes nothing"
H2="$WORK/home2"
R2="$WORK/root2"
check "init --no-name-constraints" sigil --home "$H2" init --root-dir "$R2" --root-passphrase-file "$PASS_FILE" \
  --no-name-constraints
if openssl x509 -in "$H2/ca/intermediate.crt" -noout -text | grep -q 'Name Constraints'; then
  fail "init --no-name-constraints: no nameConstraints"
else pass "init --no-name-constraints: no nameConstraints"; fi
forge "DNS:www.example.com" "$H2/ca/intermediate.crt" "$H2/ca/intermediate.key" "$WORK/free-pub.pem"
check "... so a forged www.example.com verifies there (what the default prevents)" \
  ossl_verify "$R2/root.crt" "$H2/ca/intermediate.crt" "$WORK/free-pub.pem"
check "intermediate csr (home2)" sigil --home "$H2" intermediate csr
state_before="$(sha256sum <"$R2/root.json")"
expect_fail_with "sign-intermediate with nothing recorded and no flag: refused, naming the way out" \
  "--config" sigil root sign-intermediate --root-dir "$R2" --root-passphrase-file "$PASS_FILE" \
  --csr "$H2/ca/pending/intermediate.csr" --out "$WORK/h2.crt"
rc=0
sigil root sign-intermediate --root-dir "$R2" --root-passphrase-file "$PASS_FILE" \
  --csr "$H2/ca/pending/intermediate.csr" --out "$WORK/h2.crt" >/dev/null 2>"$WORK/h2.err" || rc=$?
expect_eq "... exit code 3, one line on stderr" "$rc $(wc -l <"$WORK/h2.err")" "3 1"
[[ ! -e "$WORK/h2.crt" ]] && pass "... writes no certificate" || fail "... writes no certificate"
expect_eq "... and leaves root.json alone" "$(sha256sum <"$R2/root.json")" "$state_before"

finish
