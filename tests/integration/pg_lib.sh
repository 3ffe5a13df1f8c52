# PostgreSQL helpers for the integration scripts (sourced by serve_lib.sh, never run): throw-away
# clusters under $WORK (ops/pg.sh), the SIGIL_TEST_DATABASE=postgresql opt-in of serve_init, and
# what the multi-node and failover scripts share (a node per home, a bounded REST issuance load,
# the check that every certificate a client received is in the database).
#
#   pg_start DIR [PORT] / pg_standby DIR PRIMARY_DIR / pg_promote DIR / pg_stop DIR
#                                ops/pg.sh on a directory under $WORK; pg_start and pg_standby
#                                set PG_URL (database "postgres"); every cluster under $WORK is
#                                stopped when the script exits (pg_cleanup, from serve_lib's trap)
#   pg_createdb DIR NAME         a new database; sets PG_URL to it
#   pg_sql URL SQL               psql -At (fields separated by |, as sqlite3 prints them); each
#                                statement's rows in turn; non-zero on any error
#   pg_opt_in                    true when SIGIL_TEST_DATABASE=postgresql
#   pg_init_args HOME            (opt-in) `--database URL` of a fresh database for HOME, the
#                                cluster $WORK/pg started on first use; nothing otherwise
#   node_start TAG HOME [serve args]   `sigil serve` on HOME with the listeners of its sigil.json;
#                                waits (bounded) for its public /health/live; sets NODE_PID
#   load_run OUT SECONDS THREADS URL...   REST issuance (POST /api/v1/certificates with the admin
#                                certificate of $SERVE_HOME, a fresh key per request, one
#                                connection per request, URLs taken in turn) for at most SECONDS or
#                                until $OUT.stop exists; one JSON line per request in OUT
#   load_summary OUT             "N requests: HTTP code xcount, ..." of a load_run
#   expect_received_in_db DESC OUT URL   every certificate a client received (HTTP 201 with a PEM)
#                                is in the database at URL with the same DER; no serial twice
# With SIGIL_TEST_DATABASE=postgresql, `sqlite3 HOME/sigil.db SQL` (as the scripts call it) asks the
# PostgreSQL database named in HOME/sigil.json instead, so the suites' own checks keep working.
# shellcheck shell=bash

PG_OPS="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/ops/pg.sh"

pg_opt_in() { [[ "${SIGIL_TEST_DATABASE:-sqlite}" == postgresql ]]; }

# The server runs as `postgres` when the tests run as root: it must be able to reach its directory.
_pg_work_reachable() { if [[ $(id -u) == 0 ]]; then chmod o+x "$WORK"; fi; }

pg_start() {
  _pg_work_reachable
  PG_URL="$(bash "$PG_OPS" start "$@")"
}
pg_standby() {
  PG_URL="$(bash "$PG_OPS" standby "$@")"
}
pg_promote() { bash "$PG_OPS" promote "$1"; }
pg_stop() { bash "$PG_OPS" stop "$1"; }
pg_createdb() { PG_URL="$(bash "$PG_OPS" createdb "$1" "$2")"; }

pg_sql() {
  psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<<"$2"
}

# Every cluster this script started: a directory under $WORK with a running server's pid file.
pg_cleanup() {
  local pid
  for pid in "$WORK"/*/data/postmaster.pid; do
    [[ -f "$pid" ]] || continue
    bash "$PG_OPS" stop "$(dirname "$(dirname "$pid")")" || true
  done
}

pg_init_args() {
  pg_opt_in || return 0
  if [[ ! -f "$WORK/pg/url" ]]; then
    pg_start "$WORK/pg" >/dev/null || return 1
  fi
  # One database per home (a script may make several CAs), named after it.
  local n name
  n=$(($(cat "$WORK/pg/homes" 2>/dev/null || echo 0) + 1))
  echo "$n" >"$WORK/pg/homes"
  name="h${n}_$(basename "$1" | tr -c 'a-zA-Z0-9\n' '_')"
  pg_createdb "$WORK/pg" "$name" >/dev/null || return 1
  echo "--database $PG_URL"
}

if pg_opt_in; then
  echo "(SIGIL_TEST_DATABASE=postgresql: the CAs of this script live on a PostgreSQL 15 cluster under \$WORK/pg)"
  sqlite3() {
    if [[ $# == 2 && "$1" == */sigil.db && ! -e "$1" ]]; then
      local url
      url="$(json_field "$(dirname "$1")/sigil.json" database)"
      if [[ "$url" == postgresql://* ]]; then
        pg_sql "$url" "$2"
        return
      fi
    fi
    command sqlite3 "$@"
  }
fi

_node_live() { curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health/live" | grep -q '^200$'; }

node_start() {
  local tag="$1" home="$2"
  shift 2
  local pub
  pub="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"]["public"].rsplit(":",1)[1])' \
    "$home/sigil.json")"
  "$SIGIL" --home "$home" serve "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
  NODE_PID=$!
  SERVE_PIDS+=("$NODE_PID")
  if ! wait_for 20 _node_live "$pub"; then
    echo "node $tag did not answer /health/live on :$pub within 20 s; its log:"
    sed -n '1,20s/^/        '"$tag"'| /p' "$WORK/$tag.err"
    return 1
  fi
}

load_run() {
  local out="$1" secs="$2" threads="$3"
  shift 3
  python3 - "$out" "$secs" "$threads" "$SERVE_HOME/admin/admin.crt" "$SERVE_HOME/admin/admin.key" \
    "$SERVE_HOME/ca/root.crt" "$@" <<'PY'
import http.client, itertools, json, os, socket, ssl, sys, threading, time, urllib.parse
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out, secs, threads, cert, key, ca = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:7]
urls = [urllib.parse.urlsplit(u) for u in sys.argv[7:]]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
turn, counter, lock = itertools.cycle(urls), itertools.count(), threading.Lock()
deadline = time.time() + secs
f = open(out, "w", buffering=1)

class Conn(http.client.HTTPSConnection):
    def connect(self):  # to 127.0.0.1, the name checked being the URL's (localhost)
        s = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(s, server_hostname=self.host)

def csr(name):
    k = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return b.sign(k, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

def one():
    with lock:
        u, i = next(turn), next(counter)
    body = json.dumps({"csr": csr(f"load-{i}.example.internal"), "profile": "server"})
    rec = {"i": i, "port": u.port, "t0": time.time(), "code": 0}
    try:
        c = Conn(u.hostname, u.port, context=ctx, timeout=15)
        c.request("POST", u.path, body, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        rec.update(code=r.status, retry_after=r.getheader("Retry-After"))
        if r.status == 201:
            j = json.loads(data)
            pem = j["certificate"]
            der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
            rec.update(serial=j["serial"], der=der.hex())
        else:
            rec["body"] = data[:200].decode("utf-8", "replace")
        c.close()
    except Exception as e:  # no HTTP answer: recorded as code 0 with the reason
        rec["error"] = f"{type(e).__name__}: {e}"[:200]
    rec["t1"] = time.time()
    f.write(json.dumps(rec) + "\n")

def worker():
    while time.time() < deadline and not os.path.exists(out + ".stop"):
        one()
        time.sleep(0.02)  # a bounded load: the machine is shared

ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
PY
}

# load_summary OUT: "N requests: code count, ..." on one line.
load_summary() {
  python3 - "$1" <<'PY'
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
c = collections.Counter(r["code"] for r in recs)
print(f"{len(recs)} requests: " + ", ".join(f"HTTP {k} x{v}" for k, v in sorted(c.items())))
PY
}

expect_received_in_db() {
  local desc="$1" out="$2" url="$3" why
  pg_sql "$url" "SELECT serial, encode(der, 'hex') FROM certificates WHERE der IS NOT NULL" >"$out.db" 2>"$out.db.err" ||
    { fail "$desc" "psql: $(head -c 200 "$out.db.err")"; return 0; }
  pg_sql "$url" "SELECT serial, count(*) FROM certificates GROUP BY serial HAVING count(*) > 1" >"$out.dups" 2>&1 || true
  why="$(python3 - "$out" "$out.db" <<'PY'
import json, sys
db = dict(l.rstrip("\n").split("|", 1) for l in open(sys.argv[2]) if "|" in l)
got = [json.loads(l) for l in open(sys.argv[1])]
got = [r for r in got if r["code"] == 201]
missing = [r["serial"] for r in got if r.get("serial") not in db]
differ = [r["serial"] for r in got if r.get("serial") in db and db[r["serial"]] != r["der"]]
twice = len(got) - len({r.get("serial") for r in got})
if not got:
    print("no certificate was received at all")
elif missing or differ or twice:
    print(f"of {len(got)} received: missing {missing[:5]} ({len(missing)}), DER differs {differ[:5]}, "
          f"{twice} serial(s) received twice")
else:
    print(f"ok {len(got)}")
PY
)"
  if [[ "$why" == ok* && ! -s "$out.dups" ]]; then
    pass "$desc (all ${why#ok } received certificates in the database, same DER; no serial twice)"
  else
    fail "$desc" "$why; duplicate serials in the database: $(head -3 "$out.dups" | tr '\n' ' ')"
  fi
}
