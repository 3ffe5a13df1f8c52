#!/usr/bin/env bash
# `sigil renew` when things go wrong (issue 6, acceptance 3): the CA unreachable, the CA refusing
# (no renew-self rule: 403; a revoked certificate; an ACME challenge that fails), a full disk for
# the output directory (a small tmpfs this script mounts in a private mount namespace), and
# `sigil renew` SIGKILLed at varied moments, many times, through both paths. After each: the
# documented exit code (10 while the certificate is valid for more than a day, 11 within a day),
# exactly one log line, and the plain --cert/--key paths holding a matching pair, unchanged
# whenever the run failed; a following normal run recovers.
#
#   unshare -n -m bash -c "ip link set lo up && bash tests/integration/renew_failures.sh build/cli/sigil"
# shellcheck shell=bash

# The tmpfs must never be visible outside this test: always run in a mount namespace of our own
# (nested in the one ctest gives, which is harmless), with private propagation.
if [[ -z "${SIGIL_RENEW_FAILURES_MNTNS:-}" ]]; then
  export SIGIL_RENEW_FAILURES_MNTNS=1
  exec unshare -m --propagation private bash "$0" "$@"
fi

source "$(dirname "$0")/acme_lib.sh" "$@"

DISK="$WORK/disk"
_renew_cleanup() { mountpoint -q "$DISK" 2>/dev/null && umount "$DISK" 2>/dev/null; return 0; }
trap '_serve_rc=$?; set +e; _renew_cleanup; _serve_cleanup; _serve_set_rc $_serve_rc; _lib_on_exit' EXIT

section "set-up: BIND, sigil serve, certificates of 48h (exit 10) and 2h (exit 11)"
acme_ports
dns_start || bail "BIND"
H="$WORK/home"
serve_init "$H" || bail "sigil init" "$(tail -5 "$WORK/init.out")"
# renew-self for the certificates meant to renew; none for denied*.
config_edit "$H" "
j['authorization'] += [{'identity': n + '.example.internal', 'role': 'renew-self'}
                       for n in ('ok', 'short', 'revoked', 'disk', 'diskshort', 'kill', 'acmeok')]
"
allow_loopback_validation "$H"
serve_start "$H" serve --dns-resolver "127.0.0.1:$DNS_PORT" --http01-port "$HTTP01_PORT" ||
  bail "sigil serve starts" "$(tail -5 "$SERVE_ERR")"
ROOT="$H/ca/root.crt"
API_ON_ACME="https://localhost:$ACME_PORT"  # renew-self for server certificates (no clientAuth)
ACME_DIR="https://localhost:$ACME_PORT/acme/directory"
# A port nothing listens on (the CA "unreachable").
# Two ports nobody listens on: an unreachable CA, and an http-01 listener the CA never dials.
read -r DEAD_PORT WRONG_PORT <<<"$(free_ports 2 "$HTTP01_PORT" "$TLSALPN_PORT" "$DNS_PORT" "$PUBLIC_FIXED" "$ACME_PORT" \
  "$API_PORT" "$PUBLIC_PORT")"
pass "sigil serve: acme listener :$ACME_PORT; unreachable CA: 127.0.0.1:$DEAD_PORT"

# new_cert DIR NAME TTL: a certificate (chain) and key issued on the host, DIR/svc.crt, DIR/svc.key.
new_cert() {
  mkdir -p "$1"
  "$SIGIL" --home "$H" issue --name "$2.example.internal" --ttl "$3" --key-out "$1/svc.key" --out "$1/svc.crt" \
    >"$WORK/issue.out" 2>&1 || bail "sigil issue $2 ($3)" "$(cat "$WORK/issue.out")"
}
for c in ok:48h short:2h denied:48h deniedshort:2h revoked:48h acmeok:48h acmeshort:2h kill:48h; do
  new_cert "$WORK/${c%%:*}" "${c%%:*}" "${c#*:}"
done
pass "certificates issued: ok, denied, revoked, acmeok, kill (48h); short, deniedshort, acmeshort (2h)"

pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -c1-16; }
pubkey_of_key() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | sha256sum | cut -c1-16; }
# The pair a consumer reads at the plain paths: matching (same public key), and both readable.
pair_matches() {
  local c k
  c="$(pubkey_of_cert "$1/svc.crt")"
  k="$(pubkey_of_key "$1/svc.key")"
  [[ -n "$c" && "$c" == "$k" && "$c" != "$(printf '' | sha256sum | cut -c1-16)" ]]
}
# What the consumer reads (through the symlinks), as one digest.
pair_digest() { cat "$1/svc.crt" "$1/svc.key" 2>/dev/null | sha256sum | cut -c1-16; }
# Temporary files or directories a run left behind.
# How many versions DIR's .sigil-renew holds (0 before the first run).
nversions() { { ls "$1/.sigil-renew/versions" 2>/dev/null || true; } | wc -l; }
leftovers() { find "$1" \( -name '.tmp-*' -o -name '.*.tmp.*' -o -name '.*.tmp-*' \) 2>/dev/null | wc -l; }

# renew DIR ARGS...: one run of sigil renew (--json, --no-jitter) for DIR's pair; sets RC, RJ
# (its JSON), RE (its stderr).
renew() {
  local d="$1"
  shift
  RC=0
  RJ="$WORK/renew.json"
  RE="$WORK/renew.err"
  "$SIGIL" renew --json --cert "$d/svc.crt" --key "$d/svc.key" --ca "$ROOT" --no-jitter "$@" >"$RJ" 2>"$RE" || RC=$?
}

# expect_failed DESC DIR WANT-RC ERROR-REGEX ARGS...: the run exits WANT-RC with one log line
# matching ERROR-REGEX, and leaves the pair at the plain paths unchanged and matching.
expect_failed() {
  local desc="$1" d="$2" want="$3" pattern="$4"
  shift 4
  local before
  before="$(pair_digest "$d")"
  renew "$d" "$@"
  local lines
  lines=$(wc -l <"$RE")
  if [[ $RC -eq $want && $lines -eq 1 ]] && grep -Eq -- "$pattern" "$RE"; then
    pass "$desc: exit $RC, one log line ($(grep -Eo -- "$pattern" "$RE" | head -1 | cut -c1-80))"
  else
    fail "$desc: exit $want and one log line matching /$pattern/" "exit $RC, $lines lines: $(head -c 400 "$RE")"
  fi
  if [[ "$(pair_digest "$d")" == "$before" ]] && pair_matches "$d"; then
    pass "$desc: the cert/key pair is unchanged and matching"
  else
    fail "$desc: the cert/key pair is unchanged and matching" "$(ls -la "$d" | tr '\n' ';')"
  fi
}

section "the CA unreachable (nothing listening)"
expect_failed "REST API path, --force, 48h left" "$WORK/ok" 10 'cannot connect|Connection refused' \
  --server "https://localhost:$DEAD_PORT" --force
expect_failed "REST API path, --force, 2h left" "$WORK/short" 11 'cannot connect|Connection refused' \
  --server "https://localhost:$DEAD_PORT" --force
expect_failed "ACME path, --force, 48h left" "$WORK/acmeok" 10 'cannot connect|Connection refused' \
  --acme "https://localhost:$DEAD_PORT/acme/directory" --http01-listen "127.0.0.1:$HTTP01_PORT" --force
expect_failed "ACME path, --force, 2h left" "$WORK/acmeshort" 11 'cannot connect|Connection refused' \
  --acme "https://localhost:$DEAD_PORT/acme/directory" --http01-listen "127.0.0.1:$HTTP01_PORT" --force
# Not due yet: an unreachable CA is not a failure until renewal is due (the local window decides).
for path in api acme; do
  if [[ $path == api ]]; then args=(--server "https://localhost:$DEAD_PORT"); else
    args=(--acme "https://localhost:$DEAD_PORT/acme/directory"); fi
  renew "$WORK/ok" "${args[@]}"
  json_check "$path path, not due: exit 0, 'not yet due' by the local window" "$RJ" \
    "j['decision'] == 'not yet due' and j['window'] == 'local' and j['exit_code'] == 0 and $RC == 0"
done

section "the CA refusing"
expect_failed "no renew-self rule (403), 48h left" "$WORK/denied" 10 'refused the renewal: HTTP 403' \
  --server "$API_ON_ACME" --force
expect_failed "no renew-self rule (403), 2h left" "$WORK/deniedshort" 11 'refused the renewal: HTTP 403' \
  --server "$API_ON_ACME" --force
# A revoked certificate: the CA's window says "now" (so no --force), and the renewal is refused.
"$SIGIL" --home "$H" revoke "$(cert_serial "$WORK/revoked/svc.crt")" --reason keyCompromise >"$WORK/revoke.out" 2>&1 ||
  fail "sigil revoke" "$(cat "$WORK/revoke.out")"
sleep 0.5  # the server sees a revocation within ~0.3 s
expect_failed "a revoked certificate (due by the CA's window, refused)" "$WORK/revoked" 10 'decision=failed window=ca' \
  --server "$API_ON_ACME"
# ACME: the CA validates http-01 at $HTTP01_PORT, where nobody answers (the agent listens elsewhere).
expect_failed "ACME, the http-01 challenge fails (authorization invalid), 48h left" "$WORK/acmeok" 10 \
  'authorization for acmeok.example.internal is invalid' --acme "$ACME_DIR" --http01-listen "127.0.0.1:$WRONG_PORT" --force
expect_failed "ACME, the http-01 challenge fails, 2h left" "$WORK/acmeshort" 11 \
  'authorization for acmeshort.example.internal is invalid' --acme "$ACME_DIR" --http01-listen "127.0.0.1:$WRONG_PORT" --force
# And both still renew once the CA is reachable and willing.
for c in ok short; do
  renew "$WORK/$c" --server "$API_ON_ACME" --force
  if [[ $RC -eq 0 ]] && pair_matches "$WORK/$c"; then pass "REST API path recovers: $c renewed, pair matching"; else
    fail "REST API path recovers: $c renewed" "exit $RC: $(head -c 300 "$RE")"; fi
done
for c in acmeok acmeshort; do
  renew "$WORK/$c" --acme "$ACME_DIR" --http01-listen "127.0.0.1:$HTTP01_PORT" --force
  if [[ $RC -eq 0 ]] && pair_matches "$WORK/$c"; then pass "ACME path recovers: $c renewed, pair matching"; else
    fail "ACME path recovers: $c renewed" "exit $RC: $(head -c 300 "$RE")"; fi
done

section "a full disk for the output directory (tmpfs in a private mount namespace)"
mkdir -p "$DISK"
if mount -t tmpfs -o size=256k,mode=0755 sigil-renew-test "$DISK"; then
  pass "a 256 KiB tmpfs at $DISK (mount namespace $(readlink /proc/self/ns/mnt))"
else
  bail "mount a tmpfs (needs root and a mount namespace)"
fi
new_cert "$DISK/d" disk 48h
new_cert "$DISK/s" diskshort 2h
for d in d s; do
  renew "$DISK/$d" --server "$API_ON_ACME" --force --rotate-key
  if [[ $RC -eq 0 ]] && pair_matches "$DISK/$d"; then pass "the first install on the tmpfs works ($d)"; else
    fail "the first install on the tmpfs works ($d)" "exit $RC: $(head -c 300 "$RE")"; fi
done
# fill_to KIB: a filler file leaving about KIB KiB free.
fill_to() {
  rm -f "$DISK/filler"
  local avail
  avail=$(df -B1 --output=avail "$DISK" | tail -1)
  local bytes=$((avail - $1 * 1024))
  ((bytes > 0)) || return 0
  head -c "$bytes" /dev/zero >"$DISK/filler" 2>/dev/null || true
}
saw_full=0
saw_ok=0
bad=()
# Less and less room, from "a version fits" to nothing at all: every run either installs a
# complete new pair (exit 0) or fails with 10 and changes nothing the consumer reads.
for kib in 64 40 32 24 20 16 12 8 4 0; do
  fill_to "$kib"
  before="$(pair_digest "$DISK/d")"
  versions_before="$(ls "$DISK/d/.sigil-renew/versions" | sort | tr '\n' ' ')"
  renew "$DISK/d" --server "$API_ON_ACME" --force --rotate-key
  if ! pair_matches "$DISK/d"; then bad+=("${kib} KiB free: exit $RC, the pair does not match"); fi
  if [[ $(wc -l <"$RE") -ne 1 ]]; then bad+=("${kib} KiB free: $(wc -l <"$RE") log lines"); fi
  if [[ $(leftovers "$DISK/d") -ne 0 ]]; then bad+=("${kib} KiB free: temporary files left: $(find "$DISK/d" -name '*tmp*' | head -3 | tr '\n' ' ')"); fi
  case $RC in
    0)
      saw_ok=$((saw_ok + 1))
      [[ "$(pair_digest "$DISK/d")" != "$before" ]] || bad+=("${kib} KiB free: exit 0 but the pair did not change")
      ;;
    10)
      saw_full=$((saw_full + 1))
      [[ "$(pair_digest "$DISK/d")" == "$before" ]] || bad+=("${kib} KiB free: exit 10 but the pair changed")
      [[ "$(ls "$DISK/d/.sigil-renew/versions" | sort | tr '\n' ' ')" == "$versions_before" ]] ||
        bad+=("${kib} KiB free: exit 10 but the versions changed: $versions_before -> $(ls "$DISK/d/.sigil-renew/versions" | tr '\n' ' ')")
      grep -q 'No space left on device' "$RE" || bad+=("${kib} KiB free: exit 10 without ENOSPC: $(head -c 200 "$RE")")
      ;;
    *) bad+=("${kib} KiB free: exit $RC: $(head -c 200 "$RE")") ;;
  esac
done
if [[ ${#bad[@]} -eq 0 ]]; then
  pass "as the disk filled up: $saw_ok runs installed a new pair (0), $saw_full failed (10, ENOSPC) changing nothing; always one log line, a matching pair, no temporary files"
else
  fail "as the disk filled up: every run exit 0 with a new pair or 10 with nothing changed" "$(printf '%s; ' "${bad[@]}")"
fi
if ((saw_full >= 1)); then pass "the full disk made $saw_full runs fail"; else fail "the full disk made a run fail"; fi
fill_to 0
expect_failed "a full disk, 2h left" "$DISK/s" 11 'No space left on device' --server "$API_ON_ACME" --force --rotate-key
expect_failed "a full disk, 48h left" "$DISK/d" 10 'No space left on device' --server "$API_ON_ACME" --force --rotate-key
rm -f "$DISK/filler"
for d in d s; do
  before="$(pair_digest "$DISK/$d")"
  renew "$DISK/$d" --server "$API_ON_ACME" --force --rotate-key
  if [[ $RC -eq 0 && "$(pair_digest "$DISK/$d")" != "$before" ]] && pair_matches "$DISK/$d" && [[ $(leftovers "$DISK/$d") -eq 0 ]]; then
    pass "with room again, the next run installs a new matching pair ($d)"
  else
    fail "with room again, the next run installs a new matching pair ($d)" "exit $RC: $(head -c 300 "$RE")"
  fi
done

section "sigil renew killed (SIGKILL) mid-run, many times"
# kill_runs DESC DIR N RESET ARGS...: N runs of sigil renew --force --rotate-key ARGS, each
# SIGKILLed after a delay spread over the time a whole run takes here (measured first), so that
# the kills land everywhere from start-up to the install; RESET=1 turns the pair back into plain
# files before each run (so they land in the first run's conversion to symlinks too). After
# each: the plain paths hold a matching pair, and so does live/combined.pem. Kills that caught a
# run mid-write show as temporary files, or a new version not (yet) live, left behind.
kill_runs() {
  local desc="$1" d="$2" n="$3" reset="$4"
  shift 4
  local i killed=0 finished=0 changed=0 midwrite=0 bad=() before ms pid rc t0 span=0
  for ((i = 0; i < 3; i++)); do
    t0=$(now_us)
    renew "$d" --force --rotate-key "$@"
    [[ $RC -eq 0 ]] || bail "$desc: a normal run works" "exit $RC: $(head -c 300 "$RE")"
    span=$((span + ($(now_us) - t0) / 1000))
  done
  span=$((span / 3 + 5))
  for ((i = 0; i < n; i++)); do
    if [[ $reset == 1 ]]; then
      cat "$d/svc.crt" >"$d/crt.plain" && cat "$d/svc.key" >"$d/key.plain"
      rm -rf "$d/.sigil-renew" "$d/svc.crt" "$d/svc.key"
      mv "$d/crt.plain" "$d/svc.crt" && mv "$d/key.plain" "$d/svc.key" && chmod 600 "$d/svc.key"
    fi
    before="$(pair_digest "$d")"
    local live_before versions_before
    live_before="$(readlink "$d/.sigil-renew/live" 2>/dev/null || echo none)"
    versions_before="$(nversions "$d")"
    ms=$(((i * 7919) % (span + 1)))
    "$SIGIL" renew --cert "$d/svc.crt" --key "$d/svc.key" --ca "$ROOT" --no-jitter --force --rotate-key "$@" \
      >/dev/null 2>"$WORK/kill.err" &
    pid=$!
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if [[ $rc -eq 137 ]]; then killed=$((killed + 1)); elif [[ $rc -eq 0 ]]; then finished=$((finished + 1)); else
      bad+=("run $i ($ms ms): exit $rc: $(head -c 200 "$WORK/kill.err")"); fi
    [[ "$(pair_digest "$d")" == "$before" ]] || changed=$((changed + 1))
    if [[ $rc -eq 137 ]] && { [[ $(leftovers "$d") -gt 0 ]] ||
      { [[ "$(readlink "$d/.sigil-renew/live" 2>/dev/null || echo none)" == "$live_before" ]] &&
        [[ "$(nversions "$d")" -gt "$versions_before" ]]; }; }; then
      midwrite=$((midwrite + 1))
    fi
    pair_matches "$d" || bad+=("run $i (killed after $ms ms, exit $rc): svc.crt and svc.key do not match")
    if [[ -e "$d/.sigil-renew/live/combined.pem" ]]; then
      [[ "$(pubkey_of_cert "$d/.sigil-renew/live/combined.pem")" == "$(pubkey_of_key "$d/.sigil-renew/live/combined.pem")" ]] ||
        bad+=("run $i ($ms ms): live/combined.pem does not match")
    fi
  done
  if [[ ${#bad[@]} -eq 0 ]]; then
    pass "$desc: after each of $n runs killed within 0..$span ms ($killed died, $midwrite of them mid-write; $finished finished first; $changed changed the pair) the plain paths hold a matching pair"
  else
    fail "$desc: after each kill the plain paths hold a matching pair" "$(printf '%s; ' "${bad[@]:0:4}")"
  fi
  KILLED=$killed MIDWRITE=$midwrite
  # A following normal run recovers: a new matching pair, nothing left behind.
  before="$(pair_digest "$d")"
  renew "$d" --force --rotate-key "$@"
  if [[ $RC -eq 0 && "$(pair_digest "$d")" != "$before" ]] && pair_matches "$d" && [[ $(leftovers "$d") -eq 0 ]] &&
    (($(nversions "$d") <= 3)); then
    pass "$desc: the next normal run renews (exit 0), the pair matches, no temporary files, at most 3 versions"
  else
    fail "$desc: the next normal run recovers" "exit $RC, leftovers $(leftovers "$d"), versions $(nversions "$d"): $(head -c 300 "$RE")"
  fi
}
total_killed=0
total_midwrite=0
kill_runs "REST API path, first run (plain files)" "$WORK/kill" 30 1 --server "$API_ON_ACME"
total_killed=$((total_killed + KILLED)) total_midwrite=$((total_midwrite + MIDWRITE))
kill_runs "REST API path, versioned" "$WORK/kill" 60 0 --server "$API_ON_ACME"
total_killed=$((total_killed + KILLED)) total_midwrite=$((total_midwrite + MIDWRITE))
if ((total_killed >= 30)); then pass "REST API path: $total_killed of 90 runs were killed before they ended"; else
  fail "REST API path: at least 30 of 90 runs killed before they ended" "$total_killed"; fi
if ((total_midwrite >= 1)); then pass "REST API path: $total_midwrite kills caught a run mid-write"; else
  fail "REST API path: at least one kill caught a run mid-write" "none of $total_killed"; fi
kill_runs "ACME path (account, order, http-01)" "$WORK/acmeok" 10 0 --acme "$ACME_DIR" --http01-listen "127.0.0.1:$HTTP01_PORT"

finish
