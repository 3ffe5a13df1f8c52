#!/usr/bin/env bash
# `sigil renew` end to end (issue 6, acceptance 2): nginx (Debian's) serves two certificates with a
# lifetime of two minutes on 127.0.0.1; the test runs `sigil renew` every few seconds, as cron
# would, for one through the REST API (renew-self on the acme listener, --rotate-key) and one
# through ACME (http-01 answered by the agent, BIND resolving the names for the validation
# authority), each with `--exec 'nginx -s reload'`. A client makes a fresh TLS connection to each
# site every 0.2 s the whole time. Passes when both certificates rotated at least twice, each
# time once the renewal window opened (not forced), the client saw every new certificate served
# in turn, and not one of its requests failed.
#
#   unshare -n bash -c "ip link set lo up && bash tests/integration/renew_e2e.sh build/cli/sigil"
# shellcheck shell=bash

source "$(dirname "$0")/acme_lib.sh" "$@"

LIFE="${RENEW_E2E_LIFE:-120}"  # seconds: the certificates' lifetime
ROTATIONS=2                    # per path, at least
TICK=4                         # seconds between scheduled runs of `sigil renew`
API_NAME=api.example.internal
ACME_NAME=acme.example.internal

section "set-up: BIND, sigil serve (server profile ${LIFE}s, no backdating), nginx"
acme_ports
dns_start || bail "BIND"
H="$WORK/home"
serve_init "$H" || bail "sigil init" "$(tail -5 "$WORK/init.out")"
# The server profile's default lifetime is what renew-self and ACME orders get; its maximum
# stays large enough for sigil serve's own certificate (tls.server_cert_ttl, 1d). Without
# backdating, the renewal window (2/3..3/4 of notBefore..notAfter) opens 2/3 of LIFE after issue.
config_edit "$H" "
j['profiles'] = {'server': {'default_ttl': '${LIFE}s', 'max_ttl': '1d'}}
j['issuance'] = {'backdate': '0s'}
j['authorization'].append({'identity': '$API_NAME', 'role': 'renew-self'})
"
allow_loopback_validation "$H"
serve_start "$H" serve --dns-resolver "127.0.0.1:$DNS_PORT" --http01-port "$HTTP01_PORT" ||
  bail "sigil serve starts" "$(tail -5 "$SERVE_ERR")"
ROOT="$H/ca/root.crt"
pass "sigil serve: acme listener :$ACME_PORT (http-01 :$HTTP01_PORT, dns 127.0.0.1:$DNS_PORT)"

# Two more free ports for nginx (below the ephemeral range, like acme_ports').
read -r NGX_API NGX_ACME <<<"$(free_ports 2 "$HTTP01_PORT" "$DNS_PORT" "$PUBLIC_FIXED" "$TLSALPN_PORT")"

for site in api acme; do
  mkdir -p "$WORK/$site"
  name=$([[ $site == api ]] && echo "$API_NAME" || echo "$ACME_NAME")
  if "$SIGIL" --home "$H" issue --name "$name" --ttl "${LIFE}s" --key-out "$WORK/$site/svc.key" \
    --out "$WORK/$site/svc.crt" >"$WORK/issue-$site.out" 2>&1; then
    pass "the starting certificate of $name (${LIFE}s, sigil issue on the host)"
  else
    bail "sigil issue $name" "$(cat "$WORK/issue-$site.out")"
  fi
done

NG="$WORK/nginx"
mkdir -p "$NG/tmp"
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log notice;
events { worker_connections 512; }
http {
  access_log $NG/access.log;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  # Every connection a full handshake: each sees the certificate nginx serves now.
  ssl_session_cache off;
  ssl_session_tickets off;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$NGX_API ssl;
    server_name $API_NAME;
    ssl_certificate $WORK/api/svc.crt;
    ssl_certificate_key $WORK/api/svc.key;
    location / { return 200 "$API_NAME ok\n"; }
  }
  server {
    listen 127.0.0.1:$NGX_ACME ssl;
    server_name $ACME_NAME;
    ssl_certificate $WORK/acme/svc.crt;
    ssl_certificate_key $WORK/acme/svc.key;
    location / { return 200 "$ACME_NAME ok\n"; }
  }
}
EOF
NGINX=(nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log")
"${NGINX[@]}" >"$NG/stdout" 2>&1 &
BG_PIDS+=($!)
RELOAD="${NGINX[*]} -s reload"
_nginx_serves() {
  curl -s --max-time 2 --cacert "$ROOT" --resolve "$1:$2:127.0.0.1" "https://$1:$2/" | grep -q ' ok$'
}
if wait_for 15 _nginx_serves "$API_NAME" "$NGX_API" && wait_for 5 _nginx_serves "$ACME_NAME" "$NGX_ACME"; then
  pass "nginx serves both certificates (127.0.0.1:$NGX_API, 127.0.0.1:$NGX_ACME)"
else
  tail -5 "$NG/error.log" | sed 's/^/        nginx| /'
  bail "nginx serves both certificates"
fi

# The client: a fresh TLS connection (verified against the root, by name) and one GET per site
# every 0.2 s; one line per request: time, site, ok|FAIL, the serial served.
cat >"$WORK/client.py" <<'PY'
import os, socket, ssl, sys, time
root, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
sites = [(a.split(":")[0], int(a.split(":")[1])) for a in sys.argv[4:]]
ctx = ssl.create_default_context(cafile=root)
log = open(out, "a", buffering=1)

def get(name, port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            serial = format(int(tls.getpeercert()["serialNumber"], 16), "x")
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if length and len(body) >= length[0]:
                        break
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    if status.startswith("HTTP/1.1 200") and data.endswith(f"{name} ok\n".encode()):
        return f"ok {serial}"
    return f"FAIL {serial} unexpected answer {status!r}"

while not os.path.exists(stop):
    for name, port in sites:
        t = time.time()
        try:
            verdict = get(name, port)
        except Exception as e:  # any failure at all counts
            verdict = f"FAIL - {type(e).__name__}: {e}"
        log.write(f"{t:.3f} {name} {verdict}\n")
    time.sleep(0.2)
PY
CLIENT_LOG="$WORK/client.log"
STOP="$WORK/client.stop"
python3 "$WORK/client.py" "$ROOT" "$STOP" "$CLIENT_LOG" "$API_NAME:$NGX_API" "$ACME_NAME:$NGX_ACME" \
  2>"$WORK/client.err" &
CLIENT_PID=$!
BG_PIDS+=("$CLIENT_PID")

# --- The schedule ---------------------------------------------------------------------------------

declare -A RENEWED=([api]=0 [acme]=0) RUNS=([api]=0 [acme]=0) INSTALLED=([api]="" [acme]="")
BAD_RC=()        # runs that did not exit 0
BAD_LOG=()       # runs whose stderr was not exactly one log line
EARLY=()         # renewals before the window opened
NOT_CA_WINDOW=() # runs decided on the local window although the CA offers one
REASONS=()       # decisions of the renewals
INSTALLED[api]="$(cert_serial "$WORK/api/svc.crt")"
INSTALLED[acme]="$(cert_serial "$WORK/acme/svc.crt")"
ACME_KEY0="$(openssl pkey -in "$WORK/acme/svc.key" -pubout -outform DER | sha256sum | cut -c1-16)"

agent() {  # agent SITE: one scheduled run of sigil renew for that site
  local site="$1" n out err rc=0 nb na now
  n=${RUNS[$site]}
  RUNS[$site]=$((n + 1))
  out="$WORK/run-$site-$n.json"
  err="$WORK/run-$site-$n.err"
  nb=$(cert_not_before "$WORK/$site/svc.crt")
  na=$(cert_not_after "$WORK/$site/svc.crt")
  local path=()
  if [[ $site == api ]]; then
    # A server-profile certificate has no clientAuth: it renews itself on the acme listener.
    path=(--server "https://localhost:$ACME_PORT" --rotate-key)
  else
    path=(--acme "https://localhost:$ACME_PORT/acme/directory" --http01-listen "127.0.0.1:$HTTP01_PORT")
  fi
  now=$(date +%s)
  "$SIGIL" renew --json --cert "$WORK/$site/svc.crt" --key "$WORK/$site/svc.key" --ca "$ROOT" --no-jitter \
    "${path[@]}" --exec "$RELOAD" >"$out" 2>"$err" || rc=$?
  [[ $rc -eq 0 ]] || BAD_RC+=("$site run $n: exit $rc: $(tr '\n' ' ' <"$err" | cut -c1-300)")
  [[ $(wc -l <"$err") -eq 1 ]] && grep -q '^ts=.* msg=renew ' "$err" ||
    BAD_LOG+=("$site run $n: $(wc -l <"$err") lines: $(head -c 300 "$err")")
  [[ "$(json_field "$out" window)" == ca ]] || NOT_CA_WINDOW+=("$site run $n: $(head -c 200 "$out")")
  local decision
  decision="$(json_field "$out" decision)"
  if [[ "$decision" == renewed* ]]; then
    RENEWED[$site]=$((RENEWED[$site] + 1))
    REASONS+=("$site: $decision")
    INSTALLED[$site]+=" $(json_field "$out" new_serial)"
    # Two thirds of the lifetime, with slack for whole seconds.
    if ((now + 2 < nb + (na - nb) * 2 / 3)); then EARLY+=("$site run $n at $now, window $((nb + (na - nb) * 2 / 3))"); fi
  fi
}

# The serials the client saw for NAME, in order, repeats collapsed.
served() { awk -v n="$1" '$2 == n && $3 == "ok" && $4 != prev { printf "%s%s", sep, $4; sep = " "; prev = $4 }' "$CLIENT_LOG"; }
last_served_is() { [[ "$(served "$1")" == *"$2" ]]; }
# The installed serials, leading zeros dropped (the client prints the integer in hex).
norm() { local s out=""; for s in $1; do out+="${out:+ }$(python3 -c "print(format(int('$s', 16), 'x'))")"; done; echo "$out"; }

section "the schedule: sigil renew every ${TICK}s for both, until each rotated $ROTATIONS times"
T0=$SECONDS
# Each rotation comes at most 3/4 of LIFE after the one before (the window's end), plus a tick;
# the bound keeps the script (and its diagnosis) inside ctest's 300 s.
DEADLINE=$((SECONDS + LIFE * ROTATIONS * 3 / 4 + 45))
while ((SECONDS < DEADLINE)); do
  agent api
  agent acme
  if ((RENEWED[api] >= ROTATIONS && RENEWED[acme] >= ROTATIONS)); then
    # Until the client has been served the last one of each (nginx reloads asynchronously).
    wait_for 10 last_served_is "$API_NAME" "$(norm "${INSTALLED[api]##* }")" || true
    wait_for 10 last_served_is "$ACME_NAME" "$(norm "${INSTALLED[acme]##* }")" || true
    sleep 1
    break
  fi
  sleep "$TICK"
done
touch "$STOP"
wait "$CLIENT_PID" 2>/dev/null || true
echo "  (the schedule ran $((SECONDS - T0)) s: ${RUNS[api]} + ${RUNS[acme]} runs of sigil renew)"

section "results"
for site in api acme; do
  if ((RENEWED[$site] >= ROTATIONS)); then
    pass "$site path: ${RENEWED[$site]} renewals in ${RUNS[$site]} scheduled runs"
  else
    fail "$site path: at least $ROTATIONS renewals" "${RENEWED[$site]} in ${RUNS[$site]} runs"
  fi
done
if [[ ${#BAD_RC[@]} -eq 0 ]]; then pass "every run exited 0 (renewed or not yet due)"; else
  fail "every run exited 0" "$(printf '%s; ' "${BAD_RC[@]:0:3}")"; fi
if [[ ${#BAD_LOG[@]} -eq 0 ]]; then pass "every run wrote exactly one log line"; else
  fail "every run wrote exactly one log line" "$(printf '%s; ' "${BAD_LOG[@]:0:3}")"; fi
if [[ ${#NOT_CA_WINDOW[@]} -eq 0 ]]; then pass "every decision used the CA's window (renewal-info / ACME renewalInfo)"; else
  fail "every decision used the CA's window" "$(printf '%s; ' "${NOT_CA_WINDOW[@]:0:3}")"; fi
if [[ ${#EARLY[@]} -eq 0 ]] && ! printf '%s\n' "${REASONS[@]}" | grep -qv 'renewed (window opened)'; then
  pass "every renewal happened once the window had opened (not forced, not early)"
else
  fail "every renewal happened once the window had opened" "$(printf '%s; ' "${EARLY[@]}" "${REASONS[@]}")"
fi

total=$(wc -l <"$CLIENT_LOG")
failures=$(awk '$3 != "ok"' "$CLIENT_LOG" | wc -l)
for name in "$API_NAME" "$ACME_NAME"; do
  n=$(awk -v n="$name" '$2 == n' "$CLIENT_LOG" | wc -l)
  if ((n >= 100)); then pass "the client made $n requests to $name"; else fail "the client made >= 100 requests to $name" "$n"; fi
done
if [[ $failures -eq 0 && -s "$CLIENT_LOG" ]]; then
  pass "zero failed requests out of $total, across every rotation and reload"
else
  fail "zero failed requests" "$failures of $total failed: $(awk '$3 != "ok"' "$CLIENT_LOG" | head -3 | tr '\n' ';')"
  tail -5 "$WORK/client.err" 2>/dev/null | sed 's/^/        client| /'
fi

for site in api acme; do
  name=$([[ $site == api ]] && echo "$API_NAME" || echo "$ACME_NAME")
  want="$(norm "${INSTALLED[$site]}")"
  got="$(served "$name")"
  # The client may have been served a renewal after the last one the schedule waited for.
  if [[ "$got" == "$want" || "$got" == "$want "* ]] && (($(wc -w <<<"$want") >= ROTATIONS + 1)); then
    pass "$site path: the client was served each certificate in turn ($(wc -w <<<"$got") serials: $got)"
  else
    fail "$site path: the client was served each installed certificate in turn" "served '$got', installed '$want'"
  fi
done

# The files the consumer reads: a matching pair, verifying to the root, the previous kept.
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -c1-16; }
pubkey_of_key() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | sha256sum | cut -c1-16; }
for site in api acme; do
  d="$WORK/$site"
  expect_eq "$site: svc.crt and svc.key are a matching pair" "$(pubkey_of_cert "$d/svc.crt")" "$(pubkey_of_key "$d/svc.key")"
  check "$site: svc.crt (leaf + intermediate) verifies to the root" openssl verify -CAfile "$ROOT" -untrusted "$d/svc.crt" "$d/svc.crt"
  if [[ -L "$d/svc.crt" && -L "$d/svc.key" && "$(readlink "$d/svc.crt")" == .sigil-renew/live/cert.pem ]]; then
    pass "$site: the plain paths are relative symlinks into .sigil-renew/live/"
  else
    fail "$site: the plain paths are relative symlinks into .sigil-renew/live/" "$(ls -l "$d" | tr '\n' ';')"
  fi
  expect_eq "$site: svc.crt.prev is the certificate before the last renewal" \
    "$(cert_serial "$d/svc.crt.prev" | python3 -c 'import sys; print(format(int(sys.stdin.read(), 16), "x"))')" \
    "$(norm "$(awk '{ print $(NF - 1) }' <<<"${INSTALLED[$site]}")")"
  expect_eq "$site: svc.key.prev matches svc.crt.prev" "$(pubkey_of_cert "$d/svc.crt.prev")" "$(pubkey_of_key "$d/svc.key.prev")"
  expect_eq "$site: the key is private (0600)" "$(stat -L -c %a "$d/svc.key")" 600
done
if [[ "$(pubkey_of_key "$WORK/api/svc.key")" != "$(pubkey_of_key "$WORK/api/svc.key.prev")" ]]; then
  pass "api path (--rotate-key): the last renewal brought a new key"
else
  fail "api path (--rotate-key): the last renewal brought a new key"
fi
expect_eq "acme path (key kept): the key is the one the first certificate had" \
  "$(pubkey_of_key "$WORK/acme/svc.key")" "$ACME_KEY0"
reloads=$(grep -c 'signal 1 (SIGHUP) received' "$NG/error.log" || true)
if ((reloads >= RENEWED[api] + RENEWED[acme])); then
  pass "--exec reloaded nginx after each renewal ($reloads reloads)"
else
  fail "--exec reloaded nginx after each renewal" "$reloads reloads for $((RENEWED[api] + RENEWED[acme])) renewals"
fi
if grep -Eq '\[(emerg|alert|crit)\]' "$NG/error.log"; then
  fail "nginx logged no emerg/alert/crit" "$(grep -Em2 '\[(emerg|alert|crit)\]' "$NG/error.log")"
else
  pass "nginx logged no emerg/alert/crit"
fi

finish
