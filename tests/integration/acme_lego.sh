#!/usr/bin/env bash
# ACME issue, acceptance 1 (lego): Debian's lego 4.9.1 against `sigil serve`'s acme listener on
# loopback, the CA requiring external account binding, with BIND on a loopback port taking
# TSIG-signed RFC 2136 updates. An account without EAB, and one with a wrong EAB MAC, are refused;
# the account bound to a fresh `sigil acme eab create` key gets a certificate by http-01, one by
# tls-alpn-01, and a wildcard (*.w.example.internal + w.example.internal) by dns-01 through
# lego's rfc2136 provider; renews the http-01 one (a new serial) and revokes it with its account
# key (cessationOfOperation). Each chain verifies with `openssl verify` against the CA's root; the
# revoked one shows revoked through OCSP and the CRL at its CDP, the others good.
# Run inside a private network namespace (see CMakeLists.txt); ACME_TARGET=pebble runs the same
# client side against Debian's pebble (see acme_lib.sh).
source "$(dirname "$0")/acme_lib.sh" "$@"

L="$WORK/lego"
CERTS="$L/certificates"
C="$WORK/certs"
mkdir -p "$C"
EMAIL=acme-it@example.internal

section "set-up: BIND, the ACME server (EAB required)"
acme_ports
dns_start || bail "BIND must run for anything else to"
dns_self_check
acme_server_start eab || bail "the ACME server must run for anything else to"
expect_directory eab
eab_create || bail "without an EAB key no account can be made"

# lego, trusting only the CA's root for the server's TLS; challenge servers on 127.0.0.1 only.
LEGO_BASE=(env "LEGO_CA_CERTIFICATES=$ACME_CA" lego --server "$ACME_DIR" --accept-tos --email "$EMAIL")
LEGO=("${LEGO_BASE[@]}" --path "$L" --eab --kid "$EAB_KID" --hmac "$EAB_HMAC")
HTTP=(--http --http.port "127.0.0.1:$HTTP01_PORT")
TLS=(--tls --tls.port "127.0.0.1:$TLSALPN_PORT")
# dns-01: --dns.resolvers and --dns.disable-cp keep lego's own lookups on this BIND (without
# them it asks /etc/resolv.conf, then the zone's NS on port 53); the provider's defaults are
# hmac-sha1 and 60 s between authorizations.
DNS=(env "RFC2136_NAMESERVER=127.0.0.1:$DNS_PORT" "RFC2136_TSIG_KEY=$TSIG_NAME" "RFC2136_TSIG_SECRET=$TSIG_SECRET"
  RFC2136_TSIG_ALGORITHM=hmac-sha256 RFC2136_SEQUENCE_INTERVAL=1 RFC2136_POLLING_INTERVAL=1
  RFC2136_PROPAGATION_TIMEOUT=30 RFC2136_TTL=5)
DNS_FLAGS=(--dns rfc2136 --dns.resolvers "127.0.0.1:$DNS_PORT" --dns.disable-cp)

# cert_files NAME TAG: copies lego's NAME.crt (leaf + issuer), NAME.issuer.crt and NAME.key to
# $C/TAG.{bundle,pem,issuer,key}; the leaf alone in TAG.pem.
cert_files() {
  cp "$CERTS/$1.crt" "$C/$2.bundle" 2>/dev/null || : >"$C/$2.bundle"
  cp "$CERTS/$1.issuer.crt" "$C/$2.issuer" 2>/dev/null || : >"$C/$2.issuer"
  cp "$CERTS/$1.key" "$C/$2.key" 2>/dev/null || : >"$C/$2.key"
  openssl x509 -in "$C/$2.bundle" -out "$C/$2.pem" 2>/dev/null || : >"$C/$2.pem"
}

# expect_bundle TAG: the bundle lego wrote is the leaf followed by the issuer it was given.
expect_bundle() {
  local second="$C/$1.second"
  awk '/-----BEGIN CERTIFICATE-----/ { n++ } n == 2' "$C/$1.bundle" >"$second"
  if [[ -s "$second" && "$(fingerprint "$second")" == "$(fingerprint "$C/$1.issuer")" ]]; then
    pass "$1: the served chain (leaf + issuer) is what lego bundled"
  else
    fail "$1: the bundle's second certificate is the issuer" \
      "$(grep -c 'BEGIN CERTIFICATE' "$C/$1.bundle" 2>/dev/null) certificates in the bundle"
  fi
}

section "external account binding"
# lego reads meta.externalAccountRequired and stops before newAccount; the server's own refusal is
# seen through a wrong MAC below.
client_fail_with "lego without --eab stops: the server requires EAB" \
  'urn:ietf:params:acme:error:externalAccountRequired|Server requires External Account Binding' \
  "$WORK/lego.noeab.log" "${LEGO_BASE[@]}" --path "$WORK/lego-noeab" "${HTTP[@]}" -d x.example.internal run
BAD_HMAC="$(openssl rand 32 | base64 -w0 | tr '+/' '-_' | tr -d '=')"
client_fail_with "an account whose EAB MAC is wrong is refused" 'urn:ietf:params:acme:error:(unauthorized|malformed)' \
  "$WORK/lego.badeab.log" "${LEGO_BASE[@]}" --path "$WORK/lego-badeab" --eab --kid "$EAB_KID" --hmac "$BAD_HMAC" \
  "${HTTP[@]}" -d x.example.internal run

section "http-01 (the account is registered with EAB on the way)"
client_check "lego --eab --http run -d h.example.internal" "$WORK/lego.http.log" \
  "${LEGO[@]}" "${HTTP[@]}" -d h.example.internal run
ACCOUNT="$(find "$L/accounts" -name account.json 2>/dev/null | head -1)"
if [[ -n "$ACCOUNT" ]]; then
  json_check "the account is stored with its URL" "$ACCOUNT" \
    'j.get("registration", {}).get("uri", "").startswith("https://localhost:")'
else
  fail "the account is stored with its URL" "no account.json under $L/accounts"
fi
cert_files h.example.internal http1
expect_chain "http-01 certificate" "$C/http1.pem" "$C/http1.issuer" h.example.internal
expect_bundle http1
expect_revocation_urls "http-01 certificate" "$C/http1.pem"

section "tls-alpn-01"
client_check "lego --tls run -d t.example.internal" "$WORK/lego.tls.log" \
  "${LEGO[@]}" "${TLS[@]}" -d t.example.internal run
cert_files t.example.internal tls
expect_chain "tls-alpn-01 certificate" "$C/tls.pem" "$C/tls.issuer" t.example.internal
expect_bundle tls

section "dns-01 through RFC 2136: a wildcard and its base name"
client_check "lego --dns rfc2136 run -d '*.w.example.internal' -d w.example.internal" "$WORK/lego.dns.log" \
  "${DNS[@]}" "${LEGO[@]}" "${DNS_FLAGS[@]}" -d '*.w.example.internal' -d w.example.internal run
cert_files _.w.example.internal wild
expect_chain "wildcard certificate" "$C/wild.pem" "$C/wild.issuer" '*.w.example.internal' w.example.internal
expect_bundle wild
# Two authorizations (the wildcard's and the base name's), each proved by its own TXT value at
# _acme-challenge.w.example.internal, added with the TSIG key.
ADDS="$(grep -o "key $TSIG_NAME: updating zone '$ZONE/IN': adding an RR at '_acme-challenge.w.$ZONE' TXT .*" \
  "$DNS_DIR/named.log" 2>/dev/null | sort -u | wc -l)"
if [[ $ADDS -ge 2 ]]; then
  pass "BIND took $ADDS TSIG-signed additions of TXT records at _acme-challenge.w.$ZONE (RFC 2136)"
else
  fail "BIND took two TSIG-signed TXT additions at _acme-challenge.w.$ZONE (RFC 2136)" "$ADDS in named's log"
fi
expect_eq "lego removed its TXT records afterwards" "$(dig_short _acme-challenge.w.example.internal. TXT)" ""

section "renew (--days 9999 forces it)"
client_check "lego renew --days 9999 -d h.example.internal" "$WORK/lego.renew.log" \
  "${LEGO[@]}" "${HTTP[@]}" -d h.example.internal renew --days 9999 --no-random-sleep
cert_files h.example.internal http2
S1="$(cert_serial "$C/http1.pem")"
S2="$(cert_serial "$C/http2.pem")"
if [[ "$S2" != none && -n "$S2" && "$S2" != "$S1" ]]; then
  pass "the renewed certificate has a new serial ($S1 -> $S2)"
else
  fail "the renewed certificate has a new serial" "before '$S1', after '$S2'"
fi
expect_chain "renewed certificate" "$C/http2.pem" "$C/http2.issuer" h.example.internal

section "before any revocation: OCSP and CRL say good"
expect_good "renewed certificate" "$C/http2.pem" "$C/http2.issuer"
expect_good "wildcard certificate" "$C/wild.pem" "$C/wild.issuer"

section "revoke (account key)"
client_check "lego revoke --reason 5 -d h.example.internal" "$WORK/lego.revoke.log" \
  "${LEGO[@]}" -d h.example.internal revoke --reason 5 --keep
expect_revoked "renewed certificate" "$C/http2.pem" "$C/http2.issuer" cessationOfOperation
expect_good "tls-alpn-01 certificate (not revoked)" "$C/tls.pem" "$C/tls.issuer"

finish
