# Helpers for the ACME real-client scripts, acme_certbot.sh and acme_lego.sh (sourced, never
# run); builds on revocation_lib.sh (serve_lib.sh, lib.sh).
#
#   source "$(dirname "$0")/acme_lib.sh" "$@"     # $1: path to the sigil binary
#
# The ACME server under test is chosen by ACME_TARGET:
#   sigil   (default; what ctest runs) `sigil serve` on loopback, its acme listener serving
#           https://localhost:$ACME_PORT/acme/directory, validating through the BIND below
#           (--dns-resolver) and the clients' challenge ports (--http01-port, --tlsalpn01-port).
#   pebble  (development only) Debian's pebble, a real RFC 8555 server, with a throwaway CA for its
#           HTTPS listener; proves the client and DNS parts of the scripts. It has no OCSP or CRL:
#           revocation is read from its management interface instead. The sigil binary argument
#           may be left out:  ACME_TARGET=pebble bash tests/integration/acme_lego.sh
# Either way, run inside a private network namespace (ctest does; by hand:
#   unshare -n bash -c "ip link set lo up && bash tests/integration/acme_lego.sh build/cli/sigil").
#
# Gives, besides everything revocation_lib.sh gives:
#   acme_ports                 picks HTTP01_PORT, TLSALPN_PORT, DNS_PORT, PUBLIC_FIXED (and pebble's
#                              two): free ports on 127.0.0.1 below the ephemeral range, so that no
#                              outgoing connection's source port can take one before its server
#                              binds it
#   dns_start                  BIND on 127.0.0.1:$DNS_PORT, zone example.internal. (SOA, NS, A
#                              records, wildcard A -> 127.0.0.1), recursion off; TSIG key
#                              $TSIG_NAME ($TSIG_SECRET, hmac-sha256) may change TXT records only
#   acme_server_start [eab]    the server under test; sets ACME_DIR (directory URL), ACME_CA (the
#                              client's trust anchor for the server's TLS), ROOT (the root the
#                              issued chains must verify to); with `eab`, accounts need EAB
#   eab_create                 a fresh EAB key: EAB_KID, EAB_HMAC (base64url, no padding)
#   expect_chain DESC LEAF CHAIN NAME...   `openssl verify -CAfile $ROOT -untrusted CHAIN LEAF`
#                              passes (purpose sslserver), the SANs are exactly NAME..., and
#                              (sigil) the chain's first certificate is the CA's intermediate
#   expect_good DESC LEAF INTER            (sigil) OCSP says good; verify with the CDP's CRL passes
#   expect_revoked DESC LEAF INTER REASON  (sigil) OCSP says revoked with REASON (within 5 s), the
#                              CRL at the leaf's CDP lists it and `openssl verify -crl_check`
#                              fails with "certificate revoked"; (pebble) its management
#                              interface says Revoked with REASON
#   client_check DESC LOG CMD...           a client run that must succeed (sets CLIENT_OK=1 or 0);
#   client_fail_with DESC PATTERN LOG CMD...  one that must fail, PATTERN in its output (or in
#                              certbot's letsencrypt.log). On failure, the tails of LOG, of
#                              letsencrypt.log and of the server's log are shown
# shellcheck shell=bash

ACME_TARGET="${ACME_TARGET:-sigil}"
case "$ACME_TARGET" in
  sigil) ;;
  pebble) if [[ $# -eq 0 ]]; then set -- "$(type -P true)"; fi ;;  # no sigil binary needed
  *)
    echo "ACME_TARGET must be sigil or pebble, not '$ACME_TARGET'" >&2
    exit 2
    ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/revocation_lib.sh" "$@"
is_sigil() { [[ "$ACME_TARGET" == sigil ]]; }
# Everything stays on loopback: no client may be sent through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# Every client run is bounded, so that a wedged client fails the script instead of ctest's timeout.
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-60}"

# The zone every name of the tests lives in (serve_init allows example.internal and below).
ZONE=example.internal
TSIG_NAME=acme-update
TSIG_SECRET=""

section() { printf '\n== %s [%s]\n' "$*" "$ACME_TARGET"; }

# bail DESC [WHY]: a failure after which nothing else can run.
bail() {
  fail "$@"
  finish || true
  exit 1
}

acme_ports() {
  local ports
  ports="$(free_ports 6)"
  read -r HTTP01_PORT TLSALPN_PORT DNS_PORT PUBLIC_FIXED PEBBLE_PORT PEBBLE_MGMT_PORT <<<"$ports"
  export HTTP01_PORT TLSALPN_PORT DNS_PORT PUBLIC_FIXED
}

# --- DNS: BIND with one zone that takes TSIG-signed RFC 2136 updates of TXT records ------------

dns_soa_ok() {
  dig @127.0.0.1 -p "$DNS_PORT" +time=1 +tries=1 +norecurse +short "$ZONE." SOA 2>/dev/null | grep -q 'hostmaster'
}

# dig_short NAME TYPE: the answer section of an authoritative query, one record a line.
dig_short() { dig @127.0.0.1 -p "$DNS_PORT" +time=2 +tries=1 +norecurse +short "$1" "$2" 2>/dev/null || true; }

dns_start() {
  DNS_DIR="$WORK/dns"
  mkdir -p "$DNS_DIR"
  TSIG_SECRET="$(openssl rand -base64 32)"
  cat >"$DNS_DIR/named.conf" <<EOF
options {
  directory "$DNS_DIR";
  pid-file "$DNS_DIR/named.pid";
  session-keyfile "$DNS_DIR/session.key";
  listen-on port $DNS_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  allow-transfer { none; };
  notify no;
  dnssec-validation no;
};
controls { };
key "$TSIG_NAME" {
  algorithm hmac-sha256;
  secret "$TSIG_SECRET";
};
zone "$ZONE" {
  type primary;
  file "$DNS_DIR/$ZONE.zone";
  update-policy { grant $TSIG_NAME zonesub TXT; };
};
EOF
  cat >"$DNS_DIR/$ZONE.zone" <<EOF
\$TTL 5
@    IN SOA ns.$ZONE. hostmaster.$ZONE. 1 60 60 600 5
@    IN NS  ns.$ZONE.
ns   IN A   127.0.0.1
@    IN A   127.0.0.1
*    IN A   127.0.0.1
EOF
  named -g -c "$DNS_DIR/named.conf" >"$DNS_DIR/named.log" 2>&1 &
  DNS_PID=$!
  BG_PIDS+=("$DNS_PID")
  if wait_for 20 dns_soa_ok; then
    pass "BIND serves $ZONE. on 127.0.0.1:$DNS_PORT"
  else
    fail "BIND serves $ZONE. on 127.0.0.1:$DNS_PORT" "no SOA answer within 20 s"
    sed -n '1,200p' "$DNS_DIR/named.log" | grep -Eiv '^\S+ \S+ (using|found|built|running|----|compiled|linked)' |
      tail -15 | sed 's/^/        named| /'
    return 1
  fi
}

# nsupdate_do FILE-OF-COMMANDS: a TSIG-signed update (commands without server/key/send).
nsupdate_do() {
  {
    echo "server 127.0.0.1 $DNS_PORT"
    echo "key hmac-sha256:$TSIG_NAME $TSIG_SECRET"
    cat "$1"
    echo send
  } | timeout 15 nsupdate
}

# The harness itself: names resolve as the tests need, and the key can change TXT only.
dns_self_check() {
  expect_eq "DNS: a.$ZONE resolves (wildcard A) to 127.0.0.1" "$(dig_short "a.$ZONE." A)" 127.0.0.1
  printf 'update add probe.%s. 5 TXT "hello"\n' "$ZONE" >"$WORK/ns.txt"
  check "DNS: the TSIG key may add a TXT record (RFC 2136)" nsupdate_do "$WORK/ns.txt"
  expect_eq "DNS: the TXT record is served" "$(dig_short "probe.$ZONE." TXT)" '"hello"'
  printf 'update delete probe.%s. TXT\n' "$ZONE" >"$WORK/ns.txt"
  check "DNS: the TSIG key may delete it" nsupdate_do "$WORK/ns.txt"
  printf 'update add evil.%s. 5 A 192.0.2.1\n' "$ZONE" >"$WORK/ns.txt"
  expect_fail_with "DNS: the TSIG key may not add an A record" 'REFUSED' nsupdate_do "$WORK/ns.txt"
}

# --- The ACME server under test -----------------------------------------------------------------

# eab: "eab" to require external account binding.
# The peers of these tests listen on loopback, which the default acme.validation.forbidden_ranges
# refuse (the CA's own listeners are there too): HOME's list without the loopback ranges.
allow_loopback_validation() {
  config_edit "$1" '
v = j.setdefault("acme", {}).setdefault("validation", {})
v["forbidden_ranges"] = [r for r in v.get("forbidden_ranges", []) if r not in ("127.0.0.0/8", "::1/128")]'
}

acme_server_start() {
  if is_sigil; then _sigil_start "${1:-}"; else _pebble_start "${1:-}"; fi
}

_serve_printed_or_exited() { grep -q '^public http://' "$SERVE_OUT" || ! kill -0 "$SERVE_PID" 2>/dev/null; }

_sigil_start() {
  local h="$WORK/home"
  # The public listener must be where the leaves' CDP and AIA point, so its port is fixed before
  # init writes public_url (serve_start's --public-listen 127.0.0.1:0 cannot be overridden).
  if ! serve_init "$h" --public-url "http://localhost:$PUBLIC_FIXED"; then
    fail "sigil init" "$(tail -5 "$WORK/init.out")"
    return 1
  fi
  allow_loopback_validation "$h"
  if [[ "${1:-}" == eab ]]; then config_edit "$h" 'j.setdefault("acme", {})["eab_required"] = True'; fi
  SERVE_HOME="$h"
  SERVE_OUT="$WORK/serve.out"
  SERVE_ERR="$WORK/serve.err"
  "$SIGIL" --home "$h" serve --api-listen 127.0.0.1:0 --acme-listen 127.0.0.1:0 \
    --public-listen "127.0.0.1:$PUBLIC_FIXED" --dns-resolver "127.0.0.1:$DNS_PORT" \
    --http01-port "$HTTP01_PORT" --tlsalpn01-port "$TLSALPN_PORT" >"$SERVE_OUT" 2>"$SERVE_ERR" &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  wait_for 15 _serve_printed_or_exited || true
  if ! grep -q '^public http://' "$SERVE_OUT"; then
    if kill -0 "$SERVE_PID" 2>/dev/null; then
      fail "sigil serve starts with the ACME flags" "it did not print its listeners within 15 s; its log:"
    else
      fail "sigil serve starts with the ACME flags" "it exited ($(wait "$SERVE_PID" 2>/dev/null || echo "status $?")); its log:"
    fi
    sed -n '1,20s/^/        serve| /p' "$SERVE_ERR"
    return 1
  fi
  API_PORT="$(_listener_port api "$SERVE_OUT")"
  ACME_PORT="$(_listener_port acme "$SERVE_OUT")"
  PUBLIC_PORT="$(_listener_port public "$SERVE_OUT")"
  if ! { wait_for 10 _api_health_ok && wait_for 10 _health_ok "$ACME_PORT" https &&
    wait_for 10 _health_ok "$PUBLIC_PORT" http; }; then
    fail "sigil serve answers /health on its three listeners"
    sed -n '1,20s/^/        serve| /p' "$SERVE_ERR"
    return 1
  fi
  ACME_DIR="https://localhost:$ACME_PORT/acme/directory"
  ACME_CA="$h/ca/root.crt"
  ROOT="$h/ca/root.crt"
  pass "sigil serve: acme :$ACME_PORT, public :$PUBLIC_PORT (dns 127.0.0.1:$DNS_PORT, http-01 :$HTTP01_PORT, tls-alpn-01 :$TLSALPN_PORT)"
}

_pebble_dir_ok() {
  curl -s --max-time 2 --cacert "$ACME_CA" -o /dev/null -w '%{http_code}' "$ACME_DIR" | grep -q '^200$'
}

_pebble_start() {
  local d="$WORK/pebble" eab_req=false keys='{}'
  mkdir -p "$d"
  # A throwaway CA for pebble's HTTPS listener (the package ships no certificate).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/tls-ca.key" \
    -subj "/CN=pebble throwaway TLS CA" -days 2 -out "$d/tls-ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/tls.key" \
    -subj "/CN=localhost" -out "$d/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/tls.ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/tls-ca.crt" -CAkey "$d/tls-ca.key" -CAcreateserial -days 2 \
    -extfile "$d/tls.ext" -out "$d/tls.crt" 2>/dev/null
  if [[ "${1:-}" == eab ]]; then
    eab_req=true
    # Pebble's EAB keys are fixed in its configuration: one for eab_create to hand out.
    PEBBLE_EAB_KID="kid-$(openssl rand -hex 4)"
    PEBBLE_EAB_HMAC="$(openssl rand 32 | base64 -w0 | tr '+/' '-_' | tr -d '=')"
    keys="{\"$PEBBLE_EAB_KID\": \"$PEBBLE_EAB_HMAC\"}"
  fi
  local pp="$PEBBLE_PORT" mp="$PEBBLE_MGMT_PORT"
  cat >"$d/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$pp",
    "managementListenAddress": "127.0.0.1:$mp",
    "certificate": "$d/tls.crt",
    "privateKey": "$d/tls.key",
    "httpPort": $HTTP01_PORT,
    "tlsPort": $TLSALPN_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab_req,
    "externalAccountMACKeys": $keys
  }
}
EOF
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    pebble -config "$d/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$d/pebble.log" 2>&1 &
  BG_PIDS+=($!)
  SERVE_ERR="$d/pebble.log"
  ACME_DIR="https://localhost:$pp/dir"
  ACME_CA="$d/tls-ca.crt"
  PEBBLE_MGMT="https://localhost:$mp"
  if ! wait_for 15 _pebble_dir_ok; then
    fail "pebble serves its directory" "$ACME_DIR did not answer within 15 s"
    tail -15 "$d/pebble.log" | sed 's/^/        pebble| /'
    return 1
  fi
  ROOT="$d/root.pem"
  if ! curl -sS --max-time 5 --cacert "$ACME_CA" -o "$ROOT" "$PEBBLE_MGMT/roots/0" ||
    ! openssl x509 -in "$ROOT" -noout 2>/dev/null; then
    fail "pebble's management interface gives its root" "$(head -c 200 "$ROOT" 2>/dev/null)"
    return 1
  fi
  pass "pebble: $ACME_DIR (dns 127.0.0.1:$DNS_PORT, http-01 :$HTTP01_PORT, tls-alpn-01 :$TLSALPN_PORT)"
}

# The tail of the server's log, for failures that may be the server's.
server_log_tail() {
  [[ -s "${SERVE_ERR:-}" ]] || return 0
  tail -"${1:-10}" "$SERVE_ERR" | sed "s/^/        $ACME_TARGET| /"
}

eab_create() {
  EAB_KID=""
  EAB_HMAC=""
  if ! is_sigil; then
    EAB_KID="$PEBBLE_EAB_KID"
    EAB_HMAC="$PEBBLE_EAB_HMAC"
  else
    "$SIGIL" --home "$SERVE_HOME" acme eab create --json >"$WORK/eab.json" 2>"$WORK/eab.err" || true
    EAB_KID="$(json_field "$WORK/eab.json" kid)"
    EAB_HMAC="$(json_field "$WORK/eab.json" hmac_key)"
  fi
  if [[ -n "$EAB_KID" && "$EAB_KID" != none && "$EAB_HMAC" =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
    pass "an EAB key (kid $EAB_KID, a base64url HMAC key of ${#EAB_HMAC} characters)"
  else
    fail "sigil acme eab create --json gives {kid, hmac_key (base64url, no padding)}" \
      "stdout '$(head -c 200 "$WORK/eab.json" 2>/dev/null)', stderr '$(head -c 200 "$WORK/eab.err" 2>/dev/null)'"
    return 1
  fi
}

# The directory as a client sees it: the RFC 8555 §7.1.1 resources, and meta.externalAccountRequired.
expect_directory() {
  local eab="${1:-}"
  rm -f "$WORK/directory.json"
  curl -sS --max-time 10 --cacert "$ACME_CA" -o "$WORK/directory.json" "$ACME_DIR" 2>"$WORK/directory.err" || true
  [[ -s "$WORK/directory.json" ]] || echo '{}' >"$WORK/directory.json"
  json_check "the directory lists newNonce, newAccount, newOrder, revokeCert and keyChange (https URLs)" \
    "$WORK/directory.json" \
    'all(isinstance(j.get(k), str) and j[k].startswith("https://") for k in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"))'
  if [[ "$eab" == eab ]]; then
    json_check "the directory's meta says externalAccountRequired" "$WORK/directory.json" \
      'j.get("meta", {}).get("externalAccountRequired") is True'
  fi
}

# --- Certificates -------------------------------------------------------------------------------

# The DNS names of a certificate's SAN, sorted, one line.
cert_sans() {
  { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null || true; } | grep -o 'DNS:[^, ]*' | cut -c5- |
    sort | tr '\n' ' ' | sed 's/ $//'
}

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>&1 | cut -d= -f2; }

expect_chain() {
  local desc="$1" leaf="$2" chain="$3"
  shift 3
  local want rc=0 out
  want="$(printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//')"
  out="$(openssl verify -purpose sslserver -CAfile "$ROOT" -untrusted "$chain" "$leaf" 2>&1)" || rc=$?
  if [[ $rc -eq 0 ]]; then
    pass "$desc: openssl verify -CAfile root -untrusted chain leaf"
  else
    fail "$desc: openssl verify -CAfile root -untrusted chain leaf" "exit $rc: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    [[ -s "$chain" ]] || echo "        (the chain file $chain is missing or empty)"
  fi
  expect_eq "$desc: the SANs are exactly the names asked for" "$(cert_sans "$leaf")" "$want"
  if is_sigil; then
    local first="$WORK/chain-first.pem"
    openssl x509 -in "$chain" -out "$first" 2>/dev/null || : >"$first"
    expect_eq "$desc: the chain served starts with the CA's intermediate" "$(fingerprint "$first")" \
      "$(fingerprint "$SERVE_HOME/ca/intermediate.crt")"
  fi
}

# _ocsp_is OUT LEAF INTER STATUS [REASON]: openssl ocsp says so, signature verified against ROOT.
_ocsp_is() {
  local out="$1" leaf="$2" inter="$3" st="$4" rs="${5:-}" url
  url="$(on_public "$(cert_ocsp_url "$leaf")")"
  ossl_ocsp "$out" -issuer "$inter" -cert "$leaf" -url "$url" -CAfile "$ROOT" -resp_text
  [[ -z "$(ocsp_verdict "$out" "$leaf" "$st" "$rs")" ]]
}

# _crl_verify CRL LEAF INTER: openssl verify -crl_check with the CRL at the leaf's CDP (into CRL).
_crl_fetch() {
  fetch "$(on_public "$(cert_cdp_url "$2")")" "$1"
  [[ "$FCODE" == 200 ]]
}
_crl_verify() { openssl verify -crl_check -CRLfile "$1" -CAfile "$ROOT" -untrusted "$3" "$2"; }
_crl_lists() { _crl_fetch "$1" "$2" && crl_has "$1" "$(cert_serial "$2")"; }

# The leaf's AIA OCSP URL and CDP are on the public listener.
expect_revocation_urls() {
  local desc="$1" leaf="$2"
  is_sigil || return 0
  expect_eq "$desc: AIA OCSP URL is the public listener's /ocsp" "$(cert_ocsp_url "$leaf")" \
    "http://localhost:$PUBLIC_PORT/ocsp"
  local cdp
  cdp="$(cert_cdp_url "$leaf")"
  if [[ "$cdp" =~ ^http://localhost:$PUBLIC_PORT/crl/[^/]+\.crl$ ]]; then
    pass "$desc: CDP on the public listener ($cdp)"
  else
    fail "$desc: CDP is http://localhost:$PUBLIC_PORT/crl/<id>.crl" "'$cdp'"
  fi
}

expect_good() {
  local desc="$1" leaf="$2" inter="$3" o="$WORK/ocsp.$RANDOM"
  if ! is_sigil; then return 0; fi
  if _ocsp_is "$o" "$leaf" "$inter" good; then
    pass "$desc: OCSP says good (signature verified against the root)"
  else
    fail "$desc: OCSP says good" "$(ocsp_verdict "$o" "$leaf" good)"
    sed -n '1,8s/^/        openssl| /p' "$o"
  fi
  if _crl_fetch "$o.crl" "$leaf" && _crl_verify "$o.crl" "$leaf" "$inter" >"$o.v" 2>&1; then
    pass "$desc: openssl verify -crl_check with the CDP's CRL passes"
  else
    fail "$desc: openssl verify -crl_check with the CDP's CRL passes" \
      "GET $(cert_cdp_url "$leaf"): HTTP $FCODE; $(tr '\n' ' ' <"$o.v" 2>/dev/null | cut -c1-200)"
  fi
}

# RFC 5280 CRLReason codes of the reasons the tests use.
_reason_code() {
  case "$1" in
    unspecified) echo 0 ;; keyCompromise) echo 1 ;; affiliationChanged) echo 3 ;; superseded) echo 4 ;;
    cessationOfOperation) echo 5 ;; *) echo -1 ;;
  esac
}

expect_revoked() {
  local desc="$1" leaf="$2" inter="$3" reason="$4" o="$WORK/ocsp.$RANDOM" serial
  serial="$(cert_serial "$leaf")"
  if ! is_sigil; then
    # Pebble has neither OCSP nor CRLs: its management interface knows what it revoked.
    curl -sS --max-time 5 --cacert "$ACME_CA" -o "$o.json" "$PEBBLE_MGMT/cert-status-by-serial/$serial" 2>&1 || true
    [[ -s "$o.json" ]] || echo '{}' >"$o.json"
    local code
    code="$(_reason_code "$reason")"
    json_check "$desc: pebble's management interface says Revoked, reason $reason ($code) (serial $serial)" \
      "$o.json" "j.get('Status') == 'Revoked' and j.get('Reason', 0) == $code"
    return 0
  fi
  local deadline=$(($(now_us) + 5000000))
  if poll_until "$deadline" _ocsp_is "$o" "$leaf" "$inter" revoked "$reason"; then
    pass "$desc: OCSP says revoked, $reason (serial $serial)"
  else
    fail "$desc: OCSP says revoked, $reason (serial $serial)" "$(ocsp_verdict "$o" "$leaf" revoked "$reason")"
    sed -n '1,12s/^/        openssl| /p' "$o"
  fi
  if poll_until "$deadline" _crl_lists "$o.crl" "$leaf"; then
    pass "$desc: the CRL at the leaf's CDP lists serial $serial"
  else
    fail "$desc: the CRL at the leaf's CDP lists serial $serial" \
      "GET $(cert_cdp_url "$leaf"): HTTP $FCODE, $(crl_entries "$o.crl") entries"
  fi
  expect_fail_with "$desc: openssl verify -crl_check fails: certificate revoked" 'certificate revoked' \
    _crl_verify "$o.crl" "$leaf" "$inter"
}

# --- Clients ------------------------------------------------------------------------------------

# What went wrong in a client run: the tail of its log; for certbot, the ACME problems from
# letsencrypt.log (certbot 2.1 on Python 3.11 shows every one as "AttributeError: can't set
# attribute"); and the server's log.
client_diag() {
  local log="$1"
  tail -20 "$log" 2>/dev/null | sed 's/^/        client| /'
  local le="${CERTBOT_DIR:-/nonexistent}/logs/letsencrypt.log"
  if [[ "$log" == *certbot* && -s "$le" ]]; then
    echo "        -- ACME problems in $le:"
    { grep -E 'urn:ietf:params:acme:error|"detail"|Error|error:' "$le" || true; } | tail -10 |
      sed 's/^/        letsencrypt.log| /'
    echo "        -- its tail:"
    tail -12 "$le" | sed 's/^/        letsencrypt.log| /'
  fi
  echo "        -- the server's log:"
  server_log_tail 10
}

# The log of the last client run plus, for certbot, its letsencrypt.log (where the real ACME
# problem is).
_client_text() {
  cat "$1" 2>/dev/null || true
  if [[ "$1" == *certbot* ]]; then cat "${CERTBOT_DIR:-/nonexistent}/logs/letsencrypt.log" 2>/dev/null || true; fi
}

client_check() {
  local desc="$1" log="$2" rc=0 t0=$SECONDS
  shift 2
  CLIENT_OK=0
  timeout "$CLIENT_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    # shellcheck disable=SC2034  # read by the callers
    CLIENT_OK=1
    pass "$desc ($((SECONDS - t0)) s)"
    return 0
  fi
  if [[ $rc -eq 124 ]]; then
    fail "$desc" "timed out after $CLIENT_TIMEOUT s: $*"
  else
    fail "$desc" "exit $rc from: $*"
  fi
  client_diag "$log"
  return 0
}

client_fail_with() {
  local desc="$1" pattern="$2" log="$3" rc=0
  shift 3
  timeout "$CLIENT_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && _client_text "$log" | grep -Eq -- "$pattern"; then
    pass "$desc ($(_client_text "$log" | grep -Eo -- "$pattern" | head -1))"
  elif [[ $rc -eq 0 ]]; then
    fail "$desc" "unexpectedly succeeded: $*"
    client_diag "$log"
  else
    fail "$desc" "exit $rc, but not with /$pattern/"
    client_diag "$log"
  fi
  return 0
}
