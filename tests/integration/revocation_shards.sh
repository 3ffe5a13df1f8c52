#!/usr/bin/env bash
# Issue 4, sharded and delta CRLs: with `revocation.crl_shards: 4` and delta CRLs on, leaves
# issued through the API name their shard's CRL (<public_url>/crl/<id>/<k>.crl) as CRL
# distribution point and its delta (…/<k>-delta.crl) as FreshestCRL. Each shard CRL, fetched from
# the leaf's CDP, carries a critical Issuing Distribution Point naming exactly that URL (openssl
# crl -text shows it; GnuTLS certtool parses every CRL), serves with the same HTTP caching as the
# single CRL, and `openssl verify -crl_check` with it passes before the leaf's revocation and
# fails after; the other shards' CRLs do not list it and are not in scope for the leaf. The
# shard's delta lists the new revocation under a critical Delta CRL Indicator naming the base;
# `openssl verify -crl_check -use_deltas` with the base fetched before the revocation and the delta
# says revoked. CRL numbers of every shard increase across a restart.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$C/inter.pem"

section "set-up: crl_shards 4, delta CRLs every hour"
check "init the CA" serve_init "$H"
check "sigil.json: revocation.crl_shards 4, delta_crl_interval 1h" \
  config_edit "$H" 'j.setdefault("revocation", {}).update({"crl_shards": 4, "delta_crl_interval": "1h"})'
check "sigil root crl --out HOME/ca/root.crl" sigil root crl --root-dir "$H.root" --out "$H/ca/root.crl"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT, public :$PUBLIC_PORT"

# api_leaf NAME: a leaf through the API into $C/NAME.pem (and the chain's intermediate into $INTER).
api_leaf() {
  new_csr "$C/$1.key" "$C/$1.csr" "$1.example.internal" || return 1
  issue_body "$C/$1.csr" server 24h >"$C/$1.json"
  admin_req POST "$(api /api/v1/certificates)" -H 'Content-Type: application/json' --data-binary "@$C/$1.json"
  [[ "$HCODE" == 201 ]] || return 1
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(j["chain"])' \
    "$HB" "$C/$1.chain" || return 1
  split_chain "$C/$1.chain" "$C/$1.pem" "$INTER"
}
cert_freshest_url() {
  openssl x509 -in "$1" -noout -text 2>/dev/null | grep -A3 'X509v3 Freshest CRL' | grep -o 'URI:.*' | head -1 | cut -c5-
}
shard_of_url() { sed -n 's|^.*/crl/[0-9a-f]\{16\}/\([0-9]*\)\.crl$|\1|p' <<<"$1"; }

declare -A LEAF_OF  # shard -> leaf name
ALL=()
for i in $(seq 40); do
  api_leaf "l$i" || { fail "issue leaf l$i through the API" "HTTP $HCODE: $(head -c 200 "$HB")"; continue; }
  ALL+=("l$i")
  s="$(shard_of_url "$(cert_cdp_url "$C/l$i.pem")")"
  [[ -n "$s" && -z "${LEAF_OF[$s]:-}" ]] && LEAF_OF[$s]="l$i"
  [[ ${#LEAF_OF[@]} -lt 4 ]] || break
done
expect_eq "leaves issued through the API cover the 4 shards (after ${#ALL[@]})" \
  "$(printf '%s\n' "${!LEAF_OF[@]}" | sort -n | tr '\n' ' ')" "1 2 3 4 "

section "each leaf names its shard's CRL (CDP) and delta CRL (FreshestCRL)"
BAD=""
declare -A SEEN_CDP
for n in "${ALL[@]}"; do
  cdp="$(cert_cdp_url "$C/$n.pem")"
  fresh="$(cert_freshest_url "$C/$n.pem")"
  [[ "$cdp" =~ ^http://localhost:8080/crl/[0-9a-f]{16}/[1-4]\.crl$ ]] || BAD+="$n CDP '$cdp'; "
  [[ "$fresh" == "${cdp%.crl}-delta.crl" ]] || BAD+="$n FreshestCRL '$fresh' for CDP '$cdp'; "
  SEEN_CDP[$cdp]=1
done
expect_eq "every CDP is <public_url>/crl/<id>/<1..4>.crl, every FreshestCRL its -delta.crl" "$BAD" ""
expect_eq "the leaves' CDPs differ by shard: 4 distinct URLs" "${#SEEN_CDP[@]}" 4
CRL_ID="$(sed -n 's|^http://localhost:8080/crl/\([0-9a-f]\{16\}\)/.*|\1|p' <<<"$(cert_cdp_url "$C/${LEAF_OF[1]}.pem")")"
expect_eq "the admin certificate (from init) keeps the issuer's single CRL URL" \
  "$(cert_cdp_url "$H/admin/admin.crt")" "http://localhost:8080/crl/$CRL_ID.crl"

# get_shard K OUT [delta]: shard K's CRL (or its delta) from the URL the leaves name.
get_shard() {
  local url="http://localhost:8080/crl/$CRL_ID/$1.crl"
  [[ "$1" == 0 ]] && url="http://localhost:8080/crl/$CRL_ID.crl"
  [[ "${3:-}" == delta ]] && url="${url%.crl}-delta.crl"
  fetch "$(on_public "$url")" "$2"
  [[ "$FCODE" == 200 ]]
}
verify_with() {  # verify_with LEAF CRL...: openssl verify -crl_check with these CRLs
  local leaf="$1" args=()
  shift
  local f
  for f in "$@"; do args+=(-CRLfile "$f"); done
  openssl verify -crl_check "${args[@]}" -CAfile "$ROOT" -untrusted "$INTER" "$leaf"
}
# crl_text_has CRL PATTERN: `openssl crl -text` of the DER CRL contains PATTERN (fixed string).
crl_text_has() { openssl crl -inform DER -in "$1" -noout -text 2>/dev/null | grep -qF -- "$2"; }
# gnutls_parses CRL URL: GnuTLS certtool --crl-info reads the DER CRL, its number and its IDP's URL.
gnutls_parses() {
  local out
  out="$(certtool --crl-info --inder --infile "$1" 2>&1)" || return 1
  grep -q 'CRL Number' <<<"$out" && grep -qF "$2" <<<"$out"
}
base_number_of() {
  openssl crl -inform DER -in "$1" -noout -text 2>/dev/null | grep -A1 'X509v3 Delta CRL Indicator' | sed -n 2p |
    tr -d ' ' | python3 -c 'import sys; t=sys.stdin.read().strip().removeprefix("0x"); print(int(t, 16) if t and all(c in "0123456789abcdefABCDEF" for c in t) else -1)'
}

section "the shard CRLs as served: IDP, FreshestCRL, HTTP caching, GnuTLS"
declare -A N0  # shard -> CRL number before any revocation
for k in 0 1 2 3 4; do
  if ! get_shard "$k" "$C/s$k.crl"; then
    fail "GET shard $k's CRL" "HTTP $FCODE"
    continue
  fi
  N0[$k]="$(crl_number "$C/s$k.crl")"
  url="http://localhost:8080/crl/$CRL_ID/$k.crl"
  [[ $k == 0 ]] && url="http://localhost:8080/crl/$CRL_ID.crl"
  text="$(openssl crl -inform DER -in "$C/s$k.crl" -noout -text 2>&1)"
  if grep -q 'X509v3 Issuing Distribution Point: critical' <<<"$text" && grep -qF "URI:$url" <<<"$text" &&
    grep -q 'Only User Certificates' <<<"$text"; then
    pass "shard $k (#${N0[$k]}): critical Issuing Distribution Point naming $url, onlyContainsUserCerts"
  else
    fail "shard $k: critical Issuing Distribution Point naming its URL" "$(grep -A4 -i 'Issuing' <<<"$text" | tr '\n' ' ')"
  fi
  if grep -A3 'X509v3 Freshest CRL' <<<"$text" | grep -qF "URI:${url%.crl}-delta.crl"; then
    pass "shard $k: Freshest CRL points at ${url%.crl}-delta.crl"
  else
    fail "shard $k: Freshest CRL points at its delta" "$(grep -A3 'Freshest' <<<"$text" | tr '\n' ' ')"
  fi
  check "shard $k: its signature verifies with the intermediate" \
    bash -c "openssl crl -inform DER -in '$C/s$k.crl' -CAfile '$INTER' -noout 2>&1 | grep -q 'verify OK'"
  check "shard $k: GnuTLS certtool --crl-info parses it (number, IDP URL)" gnutls_parses "$C/s$k.crl" "$url"
  if get_shard "$k" "$C/d$k.crl" delta; then
    dtext="$(openssl crl -inform DER -in "$C/d$k.crl" -noout -text 2>&1)"
    if grep -q 'X509v3 Delta CRL Indicator: critical' <<<"$dtext" && [[ "$(base_number_of "$C/d$k.crl")" == "${N0[$k]}" ]] &&
      [[ "$(crl_number "$C/d$k.crl")" -gt "${N0[$k]}" ]] && grep -qF "URI:$url" <<<"$dtext"; then
      pass "shard $k's delta (#$(crl_number "$C/d$k.crl")): critical Delta CRL Indicator, base #${N0[$k]}, the base's IDP"
    else
      fail "shard $k's delta: critical Delta CRL Indicator naming the base" "$(grep -A2 -E 'Delta|Number' <<<"$dtext" | tr '\n' ' ')"
    fi
    check "shard $k's delta: GnuTLS certtool --crl-info parses it" gnutls_parses "$C/d$k.crl" "$url"
  else
    fail "GET shard $k's delta CRL" "HTTP $FCODE"
  fi
done

SHARD_URL="$(on_public "http://localhost:8080/crl/$CRL_ID/2.crl")"
fetch "$SHARD_URL" "$C/h2"
expect_eq "a shard CRL: HTTP 200 application/pkix-crl" "$FCODE $(header Content-Type "$C/h2.h")" "200 application/pkix-crl"
NEXT="$(date_epoch "$(openssl crl -inform DER -in "$C/h2" -noout -nextupdate | cut -d= -f2)")"
THIS="$(date_epoch "$(openssl crl -inform DER -in "$C/h2" -noout -lastupdate | cut -d= -f2)")"
MAXAGE="$(header Cache-Control "$C/h2.h" | grep -o 'max-age=[0-9]*' | cut -d= -f2 || true)"
if [[ -n "$MAXAGE" && $((NEXT - $(date +%s) - MAXAGE)) -le 5 && $((NEXT - $(date +%s) - MAXAGE)) -ge -5 ]]; then
  pass "a shard CRL: Cache-Control max-age=$MAXAGE matches its nextUpdate"
else
  fail "a shard CRL: max-age matches nextUpdate" "Cache-Control '$(header Cache-Control "$C/h2.h")'"
fi
expect_eq "a shard CRL: Last-Modified is its thisUpdate" "$(date_epoch "$(header Last-Modified "$C/h2.h")")" "$THIS"
ETAG="$(header ETag "$C/h2.h")"
fetch "$SHARD_URL" "$C/h2b" -H "If-None-Match: $ETAG"
expect_eq "a shard CRL: If-None-Match with its ETag ($ETAG) -> 304, empty body" "$FCODE $(wc -c <"$C/h2b")" "304 0"
fetch "$SHARD_URL" "$C/h2c" -H "If-Modified-Since: $(header Last-Modified "$C/h2.h")"
expect_eq "a shard CRL: If-Modified-Since its Last-Modified -> 304" "$FCODE" 304
expect_eq "a shard CRL: HEAD -> 200, its Content-Length, no body" "$(raw_head "$SHARD_URL" 2>&1)" "200 $(wc -c <"$C/h2") 0"
DELTA_URL="$(on_public "http://localhost:8080/crl/$CRL_ID/2-delta.crl")"
fetch "$DELTA_URL" "$C/hd"
DETAG="$(header ETag "$C/hd.h")"
fetch "$DELTA_URL" "$C/hd2" -H "If-None-Match: $DETAG"
expect_eq "a delta CRL: application/pkix-crl, and 304 for its ETag" "$(header Content-Type "$C/hd.h") $FCODE" \
  "application/pkix-crl 304"
fetch "$(on_public "http://localhost:8080/crl/$CRL_ID/5.crl")" "$C/none"
expect_eq "no shard 5: 404" "$FCODE" 404

section "before any revocation: each leaf verifies with its own shard's CRL, and only with it"
for k in 1 2 3 4; do
  n="${LEAF_OF[$k]}"
  check "openssl verify -crl_check -CRLfile shard $k: $n passes" verify_with "$C/$n.pem" "$C/s$k.crl"
done
expect_fail_with "another shard's CRL is not in scope for a leaf (IDP != its CDP)" \
  '[Dd]ifferent CRL scope|unable to get certificate CRL' \
  verify_with "$C/${LEAF_OF[1]}.pem" "$C/s2.crl"
check "the admin certificate (shard 0) verifies with the issuer's CRL, which has an IDP too" \
  verify_with "$H/admin/admin.crt" "$C/s0.crl"

section "revoke the shard-3 leaf: only shard 3's CRL lists it, within 1 s"
VICTIM="${LEAF_OF[3]}"
VSERIAL="$(cert_serial "$C/$VICTIM.pem")"
admin_req POST "$(api "/api/v1/certificates/$VSERIAL/revoke")" -H 'Content-Type: application/json' \
  --data '{"reason":"keyCompromise"}'
T0=$(now_us)
expect_http "revoke $VICTIM (keyCompromise)" 200
shard3_lists() {
  get_shard 3 "$C/s3b.crl" && crl_has "$C/s3b.crl" "$VSERIAL" && get_shard 3 "$C/d3b.crl" delta &&
    crl_has "$C/d3b.crl" "$VSERIAL"
}
expect_within "shard 3's CRL (the leaf's CDP) and its delta CRL (its FreshestCRL) list it" "$T0" 1000 shard3_lists ||
  true
N3="$(crl_number "$C/s3b.crl")"
if [[ "$N3" -gt "${N0[3]}" ]]; then pass "shard 3's CRL number increased: ${N0[3]} -> $N3"; else fail "shard 3's CRL number increased" "${N0[3]} -> $N3"; fi
expect_fail_with "openssl verify -crl_check -CRLfile shard 3: $VICTIM now fails (certificate revoked)" \
  'certificate revoked' verify_with "$C/$VICTIM.pem" "$C/s3b.crl"
sleep 0.3
for k in 0 1 2 4; do
  get_shard "$k" "$C/s${k}b.crl" || true
  if crl_has "$C/s${k}b.crl" "$VSERIAL"; then
    fail "shard $k's CRL does not list the shard-3 leaf" "listed in #$(crl_number "$C/s${k}b.crl")"
  else
    pass "shard $k's CRL does not list it, and was not rebuilt (#$(crl_number "$C/s${k}b.crl"), was #${N0[$k]})"
    [[ "$(crl_number "$C/s${k}b.crl")" == "${N0[$k]}" ]] || fail "shard $k was not rebuilt" "#${N0[$k]} -> #$(crl_number "$C/s${k}b.crl")"
  fi
done
for k in 1 2 4; do
  check "the shard-$k leaf still passes with its shard's CRL" verify_with "$C/${LEAF_OF[$k]}.pem" "$C/s${k}b.crl"
done

section "the delta CRL: the new revocation, relative to the base fetched before it"
check "the delta has a critical Delta CRL Indicator" crl_text_has "$C/d3b.crl" 'X509v3 Delta CRL Indicator: critical'
expect_eq "its BaseCRLNumber is the base fetched before the revocation" "$(base_number_of "$C/d3b.crl")" "${N0[3]}"
DN="$(crl_number "$C/d3b.crl")"
if [[ "$DN" -gt "$N3" ]]; then pass "the delta's number (#$DN) follows the shard's complete CRLs (#$N3): one sequence"; else fail "the delta's number follows the complete CRL's" "delta #$DN, complete #$N3"; fi
if openssl crl -inform DER -in "$C/d3b.crl" -noout -text 2>/dev/null | grep -A6 -i "Serial Number: $VSERIAL" | grep -q 'Key Compromise'; then
  pass "the delta's entry has reason keyCompromise"
else
  fail "the delta's entry has reason keyCompromise"
fi
check "the old base alone still passes the leaf (it predates the revocation)" verify_with "$C/$VICTIM.pem" "$C/s3.crl"
expect_fail_with "openssl verify -crl_check -use_deltas, old base + delta: certificate revoked" 'certificate revoked' \
  openssl verify -crl_check -use_deltas -CRLfile "$C/s3.crl" -CRLfile "$C/d3b.crl" -CAfile "$ROOT" -untrusted "$INTER" \
  "$C/$VICTIM.pem"
check "openssl verify -crl_check -use_deltas: the shard-1 leaf passes with its base + delta" \
  openssl verify -crl_check -use_deltas -CRLfile "$C/s1.crl" -CRLfile "$C/d1.crl" -CAfile "$ROOT" -untrusted "$INTER" \
  "$C/${LEAF_OF[1]}.pem"
check "GnuTLS certtool --crl-info parses the new shard CRL" gnutls_parses "$C/s3b.crl" "/crl/$CRL_ID/3.crl"
check "GnuTLS certtool --crl-info parses the new delta CRL" gnutls_parses "$C/d3b.crl" "/crl/$CRL_ID/3.crl"

section "sigil crl show: per shard, delta, all"
check "sigil crl show --shard 3 --delta --json" sigil --home "$H" --json crl show --shard 3 --delta
json_check "it names the delta's base and URL" "$OUT" \
  "j['shard'] == 3 and j['kind'] == 'delta' and j['base_number'] == ${N0[3]} and j['url'].endswith('/crl/$CRL_ID/3-delta.crl') and j['entries'] == 1"
check "sigil crl show --all --json" sigil --home "$H" --json crl show --all
json_check "every shard's complete and delta CRL (10)" "$OUT" \
  "len(j) == 10 and sorted({c['shard'] for c in j}) == [0, 1, 2, 3, 4] and all(c['issuing_distribution_point'] == c['url'] for c in j if c['kind'] == 'complete')"

section "restart: every shard's CRL number goes on increasing"
serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM" "$STOP_RC" 0
if ! serve_start "$H" serve2; then
  fail "sigil serve restarts"
  finish
fi
RISE=""
for k in 0 1 2 3 4; do
  get_shard "$k" "$C/r$k.crl" || true
  before="$(crl_number "$C/s${k}b.crl")"
  [[ $k == 3 ]] && before="$DN"
  after="$(crl_number "$C/r$k.crl")"
  [[ "$after" -gt "$before" ]] || RISE+="shard $k: #$before -> #$after; "
done
expect_eq "after the restart each shard's CRL number is higher than any served before" "$RISE" ""
check "shard 3's CRL still lists the revoked leaf" crl_has "$C/r3.crl" "$VSERIAL"
serve_stop "$SERVE_PID" 10
expect_eq "serve exits 0 on SIGTERM" "$STOP_RC" 0
finish
