#!/usr/bin/env bash
# ACME issue, acceptance 1 (certbot): Debian's certbot 2.1 against `sigil serve`'s acme listener
# on loopback, with BIND on a loopback port as the DNS the validation authority asks. certbot
# registers an account, gets one certificate for two names by standalone http-01, renews it
# (--force-renewal: a new serial and key), and revokes both certificates, the renewed one with
# its account key (superseded) and the first one with the certificate's own key (keyCompromise).
# Each chain verifies with `openssl verify` against the CA's root; the revoked ones show revoked
# through OCSP and the CRL at their CDP, and a second revocation is refused (alreadyRevoked). A
# name outside the identifier policy is refused (rejectedIdentifier).
# Run inside a private network namespace (see CMakeLists.txt); ACME_TARGET=pebble runs the same
# client side against Debian's pebble (see acme_lib.sh).
source "$(dirname "$0")/acme_lib.sh" "$@"

CERTBOT_DIR="$WORK/certbot"
C="$WORK/certs"
mkdir -p "$CERTBOT_DIR" "$C"
NAMES=(a.example.internal b.example.internal)
LIVE="$CERTBOT_DIR/config/live/multi"

section "set-up: BIND, the ACME server"
acme_ports
dns_start || bail "BIND must run for anything else to"
dns_self_check
acme_server_start || bail "the ACME server must run for anything else to"
expect_directory

# certbot, kept out of /etc and /var, trusting only the CA's root for the server's TLS.
CERTBOT=(env "REQUESTS_CA_BUNDLE=$ACME_CA" certbot --config-dir "$CERTBOT_DIR/config"
  --work-dir "$CERTBOT_DIR/work" --logs-dir "$CERTBOT_DIR/logs" --non-interactive --server "$ACME_DIR")
STANDALONE=(--standalone --preferred-challenges http-01 --http-01-port "$HTTP01_PORT" --http-01-address 127.0.0.1)

section "register"
client_check "certbot register" "$WORK/certbot.register.log" \
  "${CERTBOT[@]}" register --agree-tos --no-eff-email -m acme-it@example.internal
REGR="$(find "$CERTBOT_DIR/config/accounts" -name regr.json 2>/dev/null | head -1)"
if [[ -n "$REGR" ]]; then
  json_check "the account is stored with its URL" "$REGR" 'j.get("uri", "").startswith("https://localhost:")'
else
  fail "the account is stored with its URL" "no regr.json under $CERTBOT_DIR/config/accounts"
fi

section "issue: one certificate for ${NAMES[*]} (standalone http-01)"
client_check "certbot certonly --standalone -d ${NAMES[0]} -d ${NAMES[1]}" "$WORK/certbot.issue.log" \
  "${CERTBOT[@]}" certonly "${STANDALONE[@]}" --cert-name multi -d "${NAMES[0]}" -d "${NAMES[1]}"
cp "$LIVE/cert.pem" "$C/cert1.pem" 2>/dev/null || : >"$C/cert1.pem"
cp "$LIVE/chain.pem" "$C/chain1.pem" 2>/dev/null || : >"$C/chain1.pem"
cp "$LIVE/privkey.pem" "$C/key1.pem" 2>/dev/null || : >"$C/key1.pem"
SERIAL1="$(cert_serial "$C/cert1.pem")"
expect_chain "first certificate" "$C/cert1.pem" "$C/chain1.pem" "${NAMES[@]}"
expect_eq "fullchain.pem is cert.pem followed by chain.pem" \
  "$(sha256sum <"$LIVE/fullchain.pem" 2>&1)" "$(cat "$C/cert1.pem" "$C/chain1.pem" | sha256sum)"
check "the certificate is for the key certbot made" \
  bash -c "[[ \"\$(openssl x509 -in '$C/cert1.pem' -noout -pubkey | sha256sum)\" == \"\$(openssl pkey -in '$C/key1.pem' -pubout | sha256sum)\" ]]"
expect_revocation_urls "first certificate" "$C/cert1.pem"
if is_sigil; then
  check "the certificate is in the CA's store (sigil show $SERIAL1)" sigil --home "$SERVE_HOME" show "$SERIAL1"
fi

# Without --no-random-sleep-on-renew, a renew without a terminal first sleeps 1 s to 8 min.
section "renew (--force-renewal)"
client_check "certbot renew --force-renewal --cert-name multi" "$WORK/certbot.renew.log" \
  "${CERTBOT[@]}" renew --force-renewal --no-random-sleep-on-renew --cert-name multi "${STANDALONE[@]}"
cp "$LIVE/cert.pem" "$C/cert2.pem" 2>/dev/null || : >"$C/cert2.pem"
cp "$LIVE/chain.pem" "$C/chain2.pem" 2>/dev/null || : >"$C/chain2.pem"
SERIAL2="$(cert_serial "$C/cert2.pem")"
if [[ "$SERIAL2" != none && -n "$SERIAL2" && "$SERIAL2" != "$SERIAL1" ]]; then
  pass "the renewed certificate has a new serial ($SERIAL1 -> $SERIAL2)"
else
  fail "the renewed certificate has a new serial" "before '$SERIAL1', after '$SERIAL2'"
fi
expect_chain "renewed certificate" "$C/cert2.pem" "$C/chain2.pem" "${NAMES[@]}"
if [[ "$(openssl x509 -in "$C/cert1.pem" -noout -pubkey 2>&1)" != "$(openssl x509 -in "$C/cert2.pem" -noout -pubkey 2>&1)" ]]; then
  pass "the renewed certificate has a new key"
else
  fail "the renewed certificate has a new key" "same public key (or both missing)"
fi

section "before any revocation: OCSP and CRL say good"
expect_good "first certificate" "$C/cert1.pem" "$C/chain1.pem"
expect_good "renewed certificate" "$C/cert2.pem" "$C/chain2.pem"

section "revoke: the renewed certificate with the account key, the first with its own key"
client_check "certbot revoke --cert-name multi --reason superseded (account key)" "$WORK/certbot.revoke2.log" \
  "${CERTBOT[@]}" revoke --cert-name multi --reason superseded --no-delete-after-revoke
expect_revoked "renewed certificate" "$C/cert2.pem" "$C/chain2.pem" superseded
client_check "certbot revoke --cert-path cert1 --key-path its key --reason keycompromise (certificate key)" \
  "$WORK/certbot.revoke1.log" \
  "${CERTBOT[@]}" revoke --cert-path "$C/cert1.pem" --key-path "$C/key1.pem" --reason keycompromise \
  --no-delete-after-revoke
expect_revoked "first certificate" "$C/cert1.pem" "$C/chain1.pem" keyCompromise
client_fail_with "revoking the renewed certificate again is refused" 'urn:ietf:params:acme:error:alreadyRevoked' \
  "$WORK/certbot.revoke-again.log" \
  "${CERTBOT[@]}" revoke --cert-path "$C/cert2.pem" --reason superseded --no-delete-after-revoke

if is_sigil; then
  section "identifier policy"
  client_fail_with "a name outside the CA's allowed domains is refused" \
    'urn:ietf:params:acme:error:rejectedIdentifier' "$WORK/certbot.policy.log" \
    "${CERTBOT[@]}" certonly "${STANDALONE[@]}" --cert-name outside -d a.example.com
fi

finish
