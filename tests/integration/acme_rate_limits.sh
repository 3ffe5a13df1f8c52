#!/usr/bin/env bash
# ACME rate limits (RFC 8555 §6.6): new accounts per client address, new orders per account and
# failed validations per account and identifier, each per hour and stored in the database. Exceeding one
# gets 429 `rateLimited` with Retry-After, and changes nothing; the limits survive a restart.
source "$(dirname "$0")/serve_lib.sh" "$@"
HERE="$(cd "$(dirname "$0")" && pwd)"
PY=/usr/bin/python3

# The windows are fixed hours: start clear of an hour boundary so one test sees one window.
left=$((3600 - $(date +%s) % 3600))
if [[ $left -lt 90 ]]; then sleep $((left + 1)); fi

H="$WORK/home"
serve_init "$H"
# Nothing answers DNS at 127.0.0.1:9 (discard): every validation fails at once with `dns`.
check "config: low limits, a resolver that never answers, a 2 s validation timeout" config_edit "$H" "
j['acme'] = {'rate_limits': {'new_accounts_per_address_per_hour': 2, 'new_orders_per_account_per_hour': 3,
                             'failed_validations_per_identifier_per_hour': 1},
             'validation': {'dns_resolver': '127.0.0.1:9', 'timeout': '2s'}}"
serve_start "$H"

run_py() {
  "$PY" - "https://localhost:$ACME_PORT/acme/directory" "$H/ca/root.crt" "$HERE/acme" "$1" <<'PY'
import sys, time
directory, ca, lib, phase = sys.argv[1:5]
sys.path.insert(0, lib)
from acme_client import AcmeClient

def client():
    return AcmeClient(directory, ca, resolve={"localhost": "127.0.0.1"})

def report(ok, what):
    print(("ok " if ok else "FAIL ") + what, flush=True)

def limited(r, what):
    ra = r.header("Retry-After")
    good = (r.status == 429 and r.error == "rateLimited" and r.content_type == "application/problem+json"
            and ra is not None and 0 < int(ra) <= 3600 and r.header("Replay-Nonce") is not None)
    report(good, f"{what}: 429 rateLimited with Retry-After {ra} (got {r.status} {r.error})")

def fail_validation(c, name):
    o = c.new_order([name])
    authz_url = o.json["authorizations"][0]
    chall = [x for x in c.post_as_get(authz_url).json["challenges"] if x["type"] == "http-01"][0]
    r = c.respond_challenge(chall["url"])
    return o, authz_url, chall, r

if phase == "first":
    a, b, c = client(), client(), client()
    report(a.new_account().status == 201, "first account from this address: 201")
    report(b.new_account().status == 201, "second account: 201")
    limited(c.new_account(), "third account from the same address")
    report(c.new_account(only_return_existing=True).error == "accountDoesNotExist", "no account was made for it")
    report(a.new_account().status == 200, "an existing account's key still gets 200")
    for i in (1, 2):
        report(a.new_order([f"o{i}.example.internal"]).status == 201, f"order {i} of account A: 201")
    oa = a.new_order(["fail.example.internal"])  # answered after B has spent its failures on the name
    report(oa.status == 201, "order 3 of account A (fail.example.internal): 201")
    limited(a.new_order(["o4.example.internal"]), "fourth order of account A within the hour")
    report(b.new_order(["o4.example.internal"]).status == 201, "account B's order: 201 (the limit is per account)")
    # The first validation of fail.example.internal fails (no DNS); the identifier is then spent.
    o, authz_url, chall, r = fail_validation(b, "fail.example.internal")
    report(r.status == 200, "the first challenge answer is accepted")
    st, deadline = "pending", time.time() + 15
    while st == "pending" and time.time() < deadline:
        time.sleep(0.2)
        st = b.post_as_get(authz_url).json["status"]
    report(st == "invalid", f"its validation failed ({st})")
    o2, authz2, chall2, r2 = fail_validation(b, "fail.example.internal")
    limited(r2, "a new validation of the same identifier within the hour")
    report(b.post_as_get(authz2).json["status"] == "pending" and
           b.post_as_get(chall2["url"]).json["status"] == "pending", "and that challenge was not started")
    # The count is per account and identifier (Boulder's FailedAuthorizationsPerDomainPerAccount):
    # B's failures do not block A's validation of the same name.
    authz_a = oa.json["authorizations"][0]
    chall_a = [x for x in a.post_as_get(authz_a).json["challenges"] if x["type"] == "http-01"][0]
    ra = a.respond_challenge(chall_a["url"])
    report(ra.status == 200, f"account A's challenge for the same name is accepted, not limited ({ra.status} {ra.error})")
    st, deadline = "pending", time.time() + 15
    while st == "pending" and time.time() < deadline:
        time.sleep(0.2)
        st = a.post_as_get(authz_a).json["status"]
    report(st == "invalid", f"A's validation ran (and failed: no DNS) ({st})")
else:
    limited(client().new_account(), "after a restart: a third account from the same address")
PY
}

report_py() {
  local out="$1"
  while read -r verdict rest; do
    case "$verdict" in ok) pass "$rest" ;; FAIL) fail "$rest" ;; esac
  done <"$out"
  grep -q "$2" "$out" || { sed -n '1,40s/^/        py| /p' "$out"; fail "the python part ran to its end"; }
}

section "limits"
run_py first >"$WORK/py1.out" 2>&1 || true
report_py "$WORK/py1.out" "not started"
check "the failed validation is audited with its dns error" bash -c \
  "sqlite3 \"$H/sigil.db\" \"SELECT outcome || ' ' || detail FROM audit_log WHERE action = 'acme-validate'\" | grep -q '^refused http-01.*dns'"
check "one failure counted per account for the identifier (two accounts, two counters of 1)" bash -c \
  "sqlite3 \"$H/sigil.db\" \"SELECT group_concat(hits) FROM acme_rate_counters WHERE key LIKE 'failed-validation:%:fail.example.internal'\" | grep -qx 1,1"

section "limits survive a restart (they live in the database)"
serve_stop
serve_start "$H" serve2
run_py second >"$WORK/py2.out" 2>&1 || true
report_py "$WORK/py2.out" "after a restart"
serve_stop

finish
