#!/usr/bin/env bash
# Issue 4, acceptance 4: revoke through the API, SIGKILL the server the moment the call returns,
# restart it on the same home: OCSP still says revoked, the CRL lists the certificate, and the
# CRL number served after the restart is higher than every number served before the kill (a
# poller records every CRL the server served). Three rounds: killed before the debounced CRL could
# be built, after it was published, and around the build. Run inside a private network namespace
# (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$C/inter.pem"
SEEN="$WORK/numbers.seen"  # every CRL number any fetch saw, one a line
: >"$SEEN"

section "set-up"
check "init the CA" serve_init "$H"
for n in k1 k2 k3; do
  check "CLI issues $n.example.internal" cli_cert "$H" "$C/$n" server "" "$n.example.internal"
  split_chain "$C/$n.crt" "$C/$n.pem" "$INTER"
done
CRL_PATH="/$(cert_cdp_url "$C/k1.pem" | sed 's|^[a-z]*://[^/]*/||')"

# A background poller: fetches the CRL every ~20 ms from the running server and records each
# number; it stops by itself when the server is gone (connection refused three times in a row).
start_poller() {
  local port="$1" tag="$2"
  (
    misses=0 i=0
    while [[ $misses -lt 3 ]]; do
      i=$((i + 1))
      if curl -s --max-time 2 -o "$WORK/poll.$tag.crl" "http://127.0.0.1:$port$CRL_PATH" 2>/dev/null; then
        misses=0
        n="$(crl_number "$WORK/poll.$tag.crl")"
        [[ "$n" -lt 0 ]] || echo "$n" >>"$SEEN"
      else
        misses=$((misses + 1))
      fi
      sleep 0.02
    done
  ) &
  POLLER=$!
  BG_PIDS+=("$POLLER")
}
max_seen() { sort -n "$SEEN" | tail -1; }
current_number() {
  fetch "http://127.0.0.1:$PUBLIC_PORT$CRL_PATH" "$C/cur.crl"
  crl_number "$C/cur.crl"
}

# kill_round N CERT WAIT: revoke CERT through the API, wait WAIT seconds, SIGKILL, restart, check.
kill_round() {
  local round="$1" cert="$2" wait="$3" serial before after seq
  serial="$(cert_serial "$cert")"
  if ! serve_start "$H" "round$round"; then
    fail "round $round: sigil serve starts"
    return 0
  fi
  pass "round $round: sigil serve starts (public :$PUBLIC_PORT)"
  start_poller "$PUBLIC_PORT" "$round"
  sleep 0.3
  ossl_ocsp "$C/r$round.before" -issuer "$INTER" -cert "$cert" -url "http://127.0.0.1:$PUBLIC_PORT/ocsp" -CAfile "$ROOT"
  expect_ocsp "round $round: before the revocation, OCSP says good" "$C/r$round.before" "$cert" good
  admin_req POST "$(api "/api/v1/certificates/$serial/revoke")" -H 'Content-Type: application/json' \
    --data '{"reason":"keyCompromise"}'
  [[ "$wait" == 0 ]] || sleep "$wait"
  kill -KILL "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
  expect_http "round $round: the revocation returned (then SIGKILL $([[ $wait == 0 ]] && echo at once || echo "after ${wait}s"))" 200
  wait "$POLLER" 2>/dev/null || true
  before="$(max_seen)"
  seq="$(sort -n "$SEEN" | uniq | tr '\n' ' ')"
  if [[ $wait == 0.6 ]]; then
    # 0.6 s is past the publisher's poll (100 ms) + debounce (200 ms): the poller saw the new CRL.
    if crl_has "$WORK/poll.$round.crl" "$serial"; then
      pass "round $round: before the kill, the server served a CRL (#$before) listing it"
    else
      fail "round $round: before the kill, the server served a CRL listing it" "numbers seen: $seq"
    fi
  fi

  if ! serve_start "$H" "round$round.restart"; then
    fail "round $round: sigil serve restarts on the same home after SIGKILL"
    sed -n '1,10s/^/        serve| /p' "$SERVE_ERR"
    return 0
  fi
  pass "round $round: sigil serve restarts on the same home after SIGKILL (public :$PUBLIC_PORT)"
  ossl_ocsp "$C/r$round.after" -issuer "$INTER" -cert "$cert" -url "http://127.0.0.1:$PUBLIC_PORT/ocsp" -CAfile "$ROOT"
  expect_ocsp "round $round: after the restart, OCSP (POST, nonce) says revoked, keyCompromise" "$C/r$round.after" "$cert" \
    revoked keyCompromise
  ossl_ocsp "$C/r$round.gen" -issuer "$INTER" -cert "$cert" -no_nonce -reqout "$C/r$round.req"
  ocsp_get "$C/r$round.req" "$C/r$round.get.der" raw
  ossl_ocsp "$C/r$round.get" -respin "$C/r$round.get.der" -issuer "$INTER" -cert "$cert" -CAfile "$ROOT" -no_nonce
  expect_ocsp "round $round: after the restart, OCSP GET (pre-signed) says revoked, keyCompromise" "$C/r$round.get" \
    "$cert" revoked keyCompromise
  after="$(current_number)"
  echo "$after" >>"$SEEN"
  if crl_has "$C/cur.crl" "$serial"; then
    pass "round $round: the first CRL served after the restart lists it"
  else
    fail "round $round: the first CRL served after the restart lists it" "CRL #$after: $(crl_entries "$C/cur.crl") entries"
  fi
  if [[ -n "$before" && "$after" -gt "$before" ]]; then
    pass "round $round: CRL number after the restart ($after) > every number served before the kill (seen: $seq)"
  else
    fail "round $round: CRL number after the restart > every number served before the kill" \
      "after: $after; seen before: $seq"
  fi
  serve_stop "$SERVE_PID" 10
  expect_eq "round $round: the restarted server exits 0 on SIGTERM" "$STOP_RC" 0
}

section "round 1: SIGKILL the moment the revocation returns (before the debounced CRL)"
kill_round 1 "$C/k1.pem" 0
section "round 2: SIGKILL 0.6 s after the revocation (its CRL was published and served)"
kill_round 2 "$C/k2.pem" 0.6

section "round 3: SIGKILL 0.28 s after the revocation (around the debounced build)"
kill_round 3 "$C/k3.pem" 0.28

section "after all rounds"
ALL="$(tr '\n' ' ' <"$SEEN")"
check "the store has the three certificates revoked" \
  bash -c "sqlite3 '$H/sigil.db' \"select count(*) from certificates where status = 'revoked'\" | grep -qx 3"
if serve_start "$H" final; then
  N="$(current_number)"
  if crl_has "$C/cur.crl" "$(cert_serial "$C/k1.pem")" && crl_has "$C/cur.crl" "$(cert_serial "$C/k2.pem")" &&
    crl_has "$C/cur.crl" "$(cert_serial "$C/k3.pem")"; then
    pass "one more start: the CRL (#$N) lists all three"
  else
    fail "one more start: the CRL lists all three" "CRL #$N with $(crl_entries "$C/cur.crl") entries"
  fi
  if [[ "$N" -gt "$(max_seen)" ]]; then pass "and its number is again the highest ($N; all seen: $ALL)"; else fail "its number is the highest" "$N; seen: $ALL"; fi
  serve_stop "$SERVE_PID" 10
fi
finish
