#!/usr/bin/env bash
# Issue 4, acceptance 4: revoke through the API, SIGKILL the server the moment the call returns,
# restart it on the same home: OCSP still says revoked, the CRL lists the certificate, and the
# CRL number served after the restart is higher than every number served before the kill (a
# poller records every CRL the server served). Three rounds: killed before the debounced CRL could
# be built, after it was published, and around the build.
# Issue 11: then SIGKILL under load until CRASH_CYCLES kills in all (default 21): ACME orders for
# 127.0.0.1 through http-01, finalize and download, and REST issuances and revocations, killed at
# a random moment (CRASH_SEED) once the load runs. After each kill the store holds every
# acknowledged operation, no certificate is duplicate or corrupt, integrity_check says ok; after
# each restart every certificate acknowledged before the kill is served again, byte for byte.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/revocation_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ROOT="$H/ca/root.crt"
INTER="$C/inter.pem"
SEEN="$WORK/numbers.seen"  # every CRL number any fetch saw, one a line
: >"$SEEN"

section "set-up"
# No nameConstraints in the intermediate: the load orders 127.0.0.1 (as acme_protocol.sh).
check "init the CA (--no-name-constraints)" serve_init "$H" --no-name-constraints
for n in k1 k2 k3; do
  check "CLI issues $n.example.internal" cli_cert "$H" "$C/$n" server "" "$n.example.internal"
  split_chain "$C/$n.crt" "$C/$n.pem" "$INTER"
done
CRL_PATH="/$(cert_cdp_url "$C/k1.pem" | sed 's|^[a-z]*://[^/]*/||')"
# The load validates 127.0.0.1 over http-01: an explicit forbidden_ranges replaces the default
# list (which has 127.0.0.0/8), so the VA may contact loopback here.
check "config: ip identifier 127.0.0.1 allowed and validated on loopback, ACME rate limits out of the way" config_edit "$H" "
j.setdefault('policy', {})['allowed_ip_ranges'] = ['127.0.0.1/32']
j['acme'] = {'rate_limits': {'new_orders_per_account_per_hour': 1000000, 'new_accounts_per_address_per_hour': 1000,
                             'failed_validations_per_identifier_per_hour': 1000},
             'validation': {'forbidden_ranges': ['127.0.0.9/32']}}"

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

section "rounds 4-${CRASH_CYCLES:-21}: SIGKILL under load (ACME finalizations, REST issuance and revocation)"
CRASH_SEED="${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}"
RANDOM=$CRASH_SEED
echo "CRASH_SEED=$CRASH_SEED (kill moments; set it to repeat a run)"
LOAD="$WORK/crash_load.py"
ACKS="$WORK/acks.jsonl"
ACME_CLIENT_DIR="$(cd "$(dirname "$0")" && pwd)/acme"
export ACME_CLIENT_DIR
cat >"$LOAD" <<'PY'
# crash_load.py: the load and the checks of the SIGKILL cycles (written by revocation_crash.sh).
#   load DIRECTORY CA ADMIN_CERT ADMIN_KEY API_PORT HTTP01_PORT ACCOUNT_KEY ACKS CYCLE SECONDS
#        ACME orders for 127.0.0.1 (http-01, then reused authorizations) through finalize and
#        download, and REST issuances and revocations, on two threads until the server is gone.
#        Each acknowledged operation is appended to ACKS (JSON lines) the moment its answer came.
#        First, every certificate acknowledged in the previous cycle is downloaded again over
#        ACME/REST and compared with what was acknowledged.
#   check DB ACKS CYCLE   (server down) every acknowledged operation is in the store, nothing
#        duplicate or corrupt, PRAGMA integrity_check ok.
# Prints "ok - ..." / "not ok - ..." lines for revocation_crash.sh to count.
import http.client, json, os, sqlite3, ssl, sys, threading, time, urllib.parse
sys.path.insert(0, os.environ["ACME_CLIENT_DIR"])
from acme_client import AccountKey, AcmeClient, Http01Responder, key_authorization, make_csr, b64u  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

lock = threading.Lock()


def ack(path, rec):
    with lock, open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()


def acks(path, cycle=None):
    if not os.path.exists(path):
        return []
    out = [json.loads(l) for l in open(path) if l.strip()]
    return [a for a in out if cycle is None or a["cycle"] == cycle]


def der_of(pem):
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def say(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)


class Rest:
    def __init__(self, ca, cert, key, port):
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.port = port

    def call(self, method, path, body=None):
        c = http.client.HTTPSConnection("localhost", self.port, context=self.ctx, timeout=5)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


def load(a):
    directory, ca, acert, akey, api_port, http01, keyfile, ackfile, cycle, seconds = a
    cycle, deadline = int(cycle), time.monotonic() + float(seconds)
    rest = Rest(ca, acert, akey, int(api_port))
    if os.path.exists(keyfile):
        key = AccountKey.from_private_key(serialization.load_pem_private_key(open(keyfile, "rb").read(), None))
    else:
        key = AccountKey.generate("ES256")
        open(keyfile, "wb").write(key.private_pem())
    client = AcmeClient(directory, ca_file=ca, key=key, timeout=5)
    client.max_retry_after = 0.2
    r = client.new_account(contact=["mailto:crash@example.internal"])
    if r.status not in (200, 201):
        say(False, f"cycle {cycle}: the ACME account is there after the restart ({r.status})")
        return 1
    # Nothing acknowledged before the last SIGKILL is lost: the same bytes are served again.
    prev = [p for p in acks(ackfile, cycle - 1) if "pem" in p]
    lost = []
    for p in prev:
        if p["kind"] == "acme":
            # The listeners have new ports after a restart: same path, today's origin.
            got = client.download(directory.rsplit("/acme/", 1)[0] + urllib.parse.urlsplit(p["cert_url"]).path)
            if got.status != 200 or der_of(got.text) != der_of(p["pem"]):
                lost.append(f"{p['cert_url']} ({got.status})")
        else:
            st, body = rest.call("GET", f"/api/v1/certificates/{p['serial']}")
            if st != 200 or der_of(json.loads(body)["certificate"]) != der_of(p["pem"]):
                lost.append(f"REST {p['serial']} ({st})")
    if prev or cycle > 4:
        say(not lost, f"cycle {cycle}: after the restart, the {len(prev)} certificates acknowledged before the "
                      f"SIGKILL are served again, byte for byte" + (f"; lost: {lost[:3]}" if lost else ""))
    stop = threading.Event()
    errors = []

    def acme_loop():
        with Http01Responder(int(http01)) as responder:
            n = 0
            while not stop.is_set() and time.monotonic() < deadline and n < 100:
                n += 1
                try:
                    r = client.new_order(["127.0.0.1"])
                    if r.status != 201:
                        errors.append(f"newOrder {r.status}")
                        return
                    order_url, order = r.location, r.json
                    client.authorize(order, responder, timeout=10, interval=(0.02, 0.05, 0.1))
                    r = client.poll(order_url, ("ready", "valid"), 10, (0.02, 0.05))
                    _, csr = make_csr(["127.0.0.1"])
                    r = client.finalize(r.json["finalize"], csr)
                    if r.status != 200:
                        errors.append(f"finalize {r.status}: {r.summary()}")
                        return
                    if r.json.get("status") != "valid":
                        r = client.poll(order_url, ("valid",), 10, (0.02, 0.05))
                    ack(ackfile, {"cycle": cycle, "kind": "acme-final", "order": order_url})
                    c = client.download(r.json["certificate"])
                    if c.status == 200:
                        ack(ackfile, {"cycle": cycle, "kind": "acme", "order": order_url,
                                      "cert_url": r.json["certificate"], "pem": c.text})
                except Exception:  # noqa: BLE001 - the server was killed: this thread is done
                    return

    def rest_loop():
        last = None
        n = 0
        while not stop.is_set() and time.monotonic() < deadline and n < 100:
            n += 1
            try:
                key, csr = make_csr([f"crash-{cycle}-{n}.example.internal"])
                pem = x509.load_der_x509_csr(csr).public_bytes(serialization.Encoding.PEM).decode()
                st, body = rest.call("POST", "/api/v1/certificates", {"csr": pem, "profile": "server"})
                if st != 201:
                    errors.append(f"REST issue {st}: {body[:200]!r}")
                    return
                j = json.loads(body)
                ack(ackfile, {"cycle": cycle, "kind": "rest", "serial": j["serial"], "pem": j["certificate"]})
                if last:
                    st, body = rest.call("POST", f"/api/v1/certificates/{last}/revoke", {"reason": "superseded"})
                    if st != 200:
                        errors.append(f"REST revoke {st}: {body[:200]!r}")
                        return
                    ack(ackfile, {"cycle": cycle, "kind": "revoked", "serial": last})
                last = j["serial"]
            except Exception:  # noqa: BLE001
                return

    threads = [threading.Thread(target=acme_loop), threading.Thread(target=rest_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stop.set()
    mine = acks(ackfile, cycle)
    kinds = {k: sum(1 for m in mine if m["kind"] == k) for k in ("acme-final", "acme", "rest", "revoked")}
    say(not errors, f"cycle {cycle}: load until the SIGKILL: {kinds['acme-final']} ACME finalizations, "
                    f"{kinds['rest']} REST issuances, {kinds['revoked']} revocations acknowledged"
                    + (f"; refused: {errors[:2]}" if errors else ""))
    return 0


def check(a):
    db, ackfile, cycle = a
    cycle = int(cycle)
    con = sqlite3.connect(db)  # the server is dead: this opening recovers its WAL like a restart
    q = lambda sql, *p: con.execute(sql, p).fetchall()  # noqa: E731
    ok = q("PRAGMA integrity_check") == [("ok",)]
    say(ok, f"cycle {cycle}: PRAGMA integrity_check after the SIGKILL")
    all_acks = acks(ackfile)
    missing = []
    for m in all_acks:
        if m["kind"] in ("acme-final", "acme"):
            oid = m["order"].rstrip("/").rsplit("/", 1)[1]
            row = q("SELECT o.status, c.status, c.der FROM acme_orders o LEFT JOIN certificates c "
                    "ON c.serial = o.certificate_serial WHERE o.id = ?", oid)
            # An order's "valid" is derived (acme/model): processing, with its certificate stored.
            if not row or row[0][0] not in ("valid", "processing") or row[0][1] not in ("valid", "revoked") \
                    or row[0][2] is None:
                missing.append(f"order {oid}: {row[0][:2] if row else 'no row'}")
            elif "pem" in m and bytes(row[0][2]) != der_of(m["pem"]):
                missing.append(f"order {oid}: another certificate")
        elif m["kind"] == "rest":
            row = q("SELECT status, der FROM certificates WHERE serial = ?", m["serial"])
            if not row or row[0][1] is None or bytes(row[0][1]) != der_of(m["pem"]):
                missing.append(f"certificate {m['serial']}: {row[0][0] if row else 'no row'}")
        elif m["kind"] == "revoked":
            row = q("SELECT status FROM certificates WHERE serial = ?", m["serial"])
            if row != [("revoked",)]:
                missing.append(f"revocation of {m['serial']}: {row}")
    say(not missing, f"cycle {cycle}: all {len(all_acks)} acknowledged operations so far are in the store"
                     + (f"; missing: {missing[:3]}" if missing else ""))
    dup = q("SELECT certificate_serial, COUNT(*) FROM acme_orders WHERE certificate_serial <> '' "
            "GROUP BY 1 HAVING COUNT(*) > 1")
    corrupt = []
    rows = q("SELECT serial, status, tbs_der, der FROM certificates")
    for serial, status, tbs, der in rows:
        if der is None:
            continue
        try:
            c = x509.load_der_x509_certificate(bytes(der))
            if format(c.serial_number, "x") != serial.lstrip("0").lower() or c.tbs_certificate_bytes != bytes(tbs):
                corrupt.append(serial)
        except Exception:  # noqa: BLE001
            corrupt.append(serial)
    pending = sum(1 for r in rows if r[1] == "pending")
    orders = dict(q("SELECT status, COUNT(*) FROM acme_orders GROUP BY 1"))
    # Informational: orders a kill caught between finalize and the signed certificate.
    orders["processing without a stored certificate"] = q(
        "SELECT COUNT(*) FROM acme_orders o LEFT JOIN certificates c ON c.serial = o.certificate_serial "
        "WHERE o.status = 'processing' AND (c.der IS NULL)")[0][0]
    say(not dup and not corrupt,
        f"cycle {cycle}: no duplicate or corrupt certificate ({len(rows)} rows, {pending} pending; orders {orders})"
        + (f"; duplicates {dup[:3]}, corrupt {corrupt[:3]}" if dup or corrupt else ""))
    con.close()
    return 0


sys.exit(load(sys.argv[2:]) if sys.argv[1] == "load" else check(sys.argv[2:]))
PY
# A free port below the ephemeral range for http-01 (the loader's responder), the same every round.
HTTP01_PORT="$(free_ports 1)"
# Folds a driver's "ok - " / "not ok - " lines into this script's counts.
fold() {
  local line
  while IFS= read -r line; do
    case "$line" in
      "ok - "*) pass "${line#ok - }" ;;
      "not ok - "*) fail "${line#not ok - }" ;;
    esac
  done <"$1"
}
load_round() {
  local round="$1" delay lp
  delay="$(printf '0.%03d' $((200 + RANDOM % 800)))"
  if ! serve_start "$H" "load$round" --http01-port "$HTTP01_PORT"; then
    fail "round $round: sigil serve restarts on the same home after SIGKILL"
    sed -n '1,10s/^/        serve| /p' "$SERVE_ERR"
    return 0
  fi
  rm -f "$WORK/loading"
  ( "$PY" "$LOAD" load "https://localhost:$ACME_PORT/acme/directory" "$ROOT" "$H/admin/admin.crt" "$H/admin/admin.key" \
      "$API_PORT" "$HTTP01_PORT" "$WORK/account.pem" "$ACKS" "$round" 20 >"$WORK/load.$round.out" 2>&1 ) &
  lp=$!
  BG_PIDS+=("$lp")
  # The kill lands while orders and issuances are in flight: after the loader's first
  # acknowledgement of this round, plus a random 0.2-1.0 s.
  wait_for 20 grep -q "\"cycle\": $round," "$ACKS" || true
  sleep "$delay"
  kill -KILL "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
  wait "$lp" 2>/dev/null || true
  fold "$WORK/load.$round.out"
  if grep -q Traceback "$WORK/load.$round.out"; then fail "round $round: the loader ran" "$(tail -n 3 "$WORK/load.$round.out")"; fi
  "$PY" "$LOAD" check "$H/sigil.db" "$ACKS" "$round" >"$WORK/check.$round.out" 2>&1 || true
  fold "$WORK/check.$round.out"
  if grep -q Traceback "$WORK/check.$round.out"; then fail "round $round: the check ran" "$(tail -n 3 "$WORK/check.$round.out")"; fi
  echo "   (round $round: SIGKILL ${delay}s after the first acknowledgement)"
}
for ((round = 4; round <= ${CRASH_CYCLES:-21}; round++)); do load_round "$round"; done
KILLS=$((${CRASH_CYCLES:-21}))
check "$KILLS SIGKILL cycles in all (>= 20), with ACME finalizations acknowledged" \
  bash -c "[[ $KILLS -ge 20 ]] && grep -q '\"acme-final\"' '$ACKS'"

section "after all rounds"
ALL="$(tr '\n' ' ' <"$SEEN")"
check "the store has the three certificates revoked" \
  bash -c "sqlite3 '$H/sigil.db' \"select count(*) from certificates where status = 'revoked' and serial in
    ('$(cert_serial "$C/k1.pem")', '$(cert_serial "$C/k2.pem")', '$(cert_serial "$C/k3.pem")')\" | grep -qx 3"
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
