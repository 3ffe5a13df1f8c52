#!/usr/bin/env bash
# Issue 13: a PostgreSQL primary and its synchronous streaming standby (ops/pg.sh standby), two
# `sigil serve` nodes on the multi-host URL (target_session_attrs=read-write). Under a bounded REST
# issuance load on both nodes, the primary is stopped (immediate: what a crash looks like), then
# the standby promoted. The nodes keep running: requests during the switch fail with 503 and
# Retry-After (never a 500, never a connection dropped), service resumes within seconds of the
# promotion (the gap is measured and printed), and every certificate a client received (HTTP 201
# with a PEM) is in the promoted database with the same DER, no serial twice: zero acknowledged
# certificates lost.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/a" HOME_B="$WORK/b"

section "set-up: primary + synchronous standby, two nodes on the multi-host URL"
pg_start "$WORK/pg1" >/dev/null || { fail "the primary starts"; finish; }
pg_createdb "$WORK/pg1" sigil >/dev/null
P1="$(cat "$WORK/pg1/port")"
pg_standby "$WORK/pg2" "$WORK/pg1" >/dev/null || { fail "the standby starts"; finish; }
P2="$(cat "$WORK/pg2/port")"
# The reload that names the standby synchronous takes effect a moment later: wait for it, or a
# commit acknowledged just before the stop could be missing on the standby.
sync_state() { pg_sql "postgresql://postgres@127.0.0.1:$P1/postgres" "SELECT sync_state FROM pg_stat_replication"; }
sync_ok() { [[ "$(sync_state)" == sync ]]; }
wait_for 15 sync_ok || true
expect_eq "the standby is synchronous (pg_stat_replication on the primary)" "$(sync_state)" sync
URL="postgresql://postgres@127.0.0.1:$P1,127.0.0.1:$P2/sigil?target_session_attrs=read-write"
read -r A_API A_ACME A_PUB B_API B_ACME B_PUB <<<"$(free_ports 6 "$P1" "$P2")"
check "sigil init --database on the multi-host URL" serve_init "$H" --database "$URL"
cp -a "$H" "$HOME_B"
listeners() { config_edit "$1" "j['listeners'] = {'api': '127.0.0.1:$2', 'acme': '127.0.0.1:$3', 'public': '127.0.0.1:$4'}"; }
listeners "$H" "$A_API" "$A_ACME" "$A_PUB"
listeners "$HOME_B" "$B_API" "$B_ACME" "$B_PUB"
node_start a "$H" || { fail "node A starts"; finish; }
node_start b "$HOME_B" || { fail "node B starts"; finish; }
pass "nodes A (api :$A_API) and B (api :$B_API) on $URL"
SERVE_HOME="$H"
SERVE_ERR="$WORK/a.err"

section "the primary stops under load, the standby is promoted"
load_run "$WORK/load" 20 2 "https://localhost:$A_API/api/v1/certificates" "https://localhost:$B_API/api/v1/certificates" &
LOAD=$!
sleep 4
T_STOP="$(date +%s.%N)"
pg_stop "$WORK/pg1"
sleep 2
T_PROMOTE="$(date +%s.%N)"
if pg_promote "$WORK/pg2"; then pass "pg_ctl promote (the primary stopped 2 s before)"; else fail "pg_ctl promote"; fi
T_PROMOTED="$(date +%s.%N)"
# Enough after the promotion to see the service resume, then stop the load.
sleep 8
touch "$WORK/load.stop"
wait "$LOAD" || true
echo "  load: $(load_summary "$WORK/load")"

python3 - "$WORK/load" "$T_STOP" "$T_PROMOTE" "$T_PROMOTED" >"$WORK/verdict" <<'PY'
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["t0"])
stop, promote, promoted = map(float, sys.argv[2:5])
bad = [r for r in recs if r["code"] not in (0, 201, 503)]
dropped = [r for r in recs if r["code"] == 0]
no_retry = [r for r in recs if r["code"] == 503 and not r.get("retry_after")]
before = [r for r in recs if r["t1"] < stop and r["code"] == 201]
fails = [r for r in recs if r["code"] != 201 and r["t0"] >= stop - 1]
after = [r for r in recs if r["t0"] > promoted and r["code"] == 201]
first_fail = min((r["t1"] for r in fails), default=None)
resumed = min((r["t1"] for r in recs if r["code"] == 201 and first_fail and r["t0"] > first_fail), default=None)
print("bad", len(bad), "; ".join(f"{r['code']} {r.get('error') or r.get('body', '')[:80]}" for r in bad[:3]))
print("noretry", len(no_retry))
print("dropped", len(dropped), "; ".join(r.get("error", "") for r in dropped[:2]))
print("counts", len(before), len(fails), len(after))
if first_fail and resumed:
    print(f"gap {resumed - first_fail:.2f} {resumed - promoted:.2f}")
else:
    print("gap none none")
PY
read -r _ NBAD BADWHY <<<"$(grep '^bad' "$WORK/verdict")"
read -r _ NORETRY <<<"$(grep '^noretry' "$WORK/verdict")"
read -r _ NDROP DROPWHY <<<"$(grep '^dropped' "$WORK/verdict")"
read -r _ NBEFORE NFAIL NAFTER <<<"$(grep '^counts' "$WORK/verdict")"
read -r _ GAP SINCE_PROMOTE <<<"$(grep '^gap' "$WORK/verdict")"
if [[ $NBEFORE -gt 0 ]]; then pass "certificates issued before the stop: $NBEFORE"; else fail "certificates issued before the stop"; fi
expect_eq "every HTTP answer was 201 or 503 (never a 500)" "$NBAD" 0
[[ $NBAD == 0 ]] || echo "        e.g. $BADWHY"
# A connection closed without an answer tells a client nothing (no Retry-After): the switch must
# look like 503s.
expect_eq "no connection closed without an HTTP answer" "$NDROP" 0
if [[ $NDROP != 0 ]]; then
  echo "        e.g. $DROPWHY; node A's TLS refusals:"
  { grep -m2 -E 'client certificate refused|tls handshake refused' "$WORK/a.err" || true; } | cut -c1-260 |
    sed 's/^/        a| /'
fi
if [[ $NFAIL -gt 0 ]]; then pass "requests during the switch were refused: $NFAIL"; else fail "the switch was seen by the load (no refused request)"; fi
expect_eq "every 503 carried Retry-After" "$NORETRY" 0
if [[ $NAFTER -gt 0 && $GAP != none ]] && python3 -c "import sys; sys.exit(0 if $SINCE_PROMOTE < 10 else 1)"; then
  pass "service resumed: $NAFTER certificates after the promotion; gap ${GAP} s from the first refusal, ${SINCE_PROMOTE} s after the promotion"
else
  fail "service resumes within 10 s of the promotion" "$NAFTER after; gap $GAP, $SINCE_PROMOTE s after the promotion"
fi
echo "  failover timings: primary stopped at 0 s, promoted at $(python3 -c "print(round($T_PROMOTED - $T_STOP, 2))") s; service gap ${GAP} s"

section "zero acknowledged certificates lost"
PROMOTED_URL="postgresql://postgres@127.0.0.1:$P2/sigil"
expect_received_in_db "every certificate a client received is in the promoted database" "$WORK/load" "$PROMOTED_URL"
for n in a b; do
  p=$A_PUB
  [[ $n == b ]] && p=$B_PUB
  if wait_for 10 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$p/health) == 200 ]]"; then
    pass "node $n's /health is 200 again"
  else fail "node $n's /health is 200 again" "$(curl -s "http://127.0.0.1:$p/health" | head -c 200)"; fi
done

finish
