#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for tests and benchmarks, on loopback only.
#
#   ops/pg.sh start DIR [PORT]          initdb in DIR/data, start on 127.0.0.1:PORT (a free one when
#                                       omitted); prints the URL of database "postgres", also left in DIR/url
#   ops/pg.sh standby DIR PRIMARY_DIR [PORT]
#                                       a streaming standby of PRIMARY_DIR's cluster (pg_basebackup -R);
#                                       the primary then waits for it on every commit (synchronous_commit)
#   ops/pg.sh promote DIR               the standby becomes a primary
#   ops/pg.sh stop DIR                  immediate stop (what a crash looks like), if running
#   ops/pg.sh createdb DIR NAME         a new empty database; prints its URL
#
# initdb refuses to run as root: as root, DIR is handed to the `postgres` user and every server
# command runs as that user. Trust authentication on loopback: for tests only.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
[[ -x $BIN/initdb ]] || { echo "pg.sh: PostgreSQL 15 not installed (apt-get install postgresql)" >&2; exit 1; }

as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

prepare_dir() {
  mkdir -p "$1"
  if [[ $(id -u) == 0 ]]; then
    chown postgres: "$1"
    runuser -u postgres -- test -w "$1" || {
      echo "pg.sh: the postgres user cannot reach $1 (a parent directory is closed to it); use a directory under /tmp" >&2
      exit 1
    }
  fi
}

url_of() {  # DIR [DBNAME]
  echo "postgresql://postgres@127.0.0.1:$(cat "$1/port")/${2:-postgres}"
}

start_server() {  # DIR
  as_pg "$BIN/pg_ctl" -D "$1/data" -l "$1/log" -w -t 60 \
    -o "-h 127.0.0.1 -p $(cat "$1/port") -k $1" start >/dev/null
}

cmd=${1:-}
case "$cmd" in
  start)
    dir=$(realpath -m "$2")
    port=${3:-$(free_port)}
    prepare_dir "$dir"
    as_pg "$BIN/initdb" -D "$dir/data" --auth=trust -U postgres -E UTF8 --locale=C >"$dir/initdb.log"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 4
max_connections = 200
fsync = on
synchronous_commit = on
CONF
    echo "$port" >"$dir/port"
    start_server "$dir"
    url_of "$dir" | tee "$dir/url"
    ;;
  standby)
    dir=$(realpath -m "$2")
    primary=$(realpath "$3")
    port=${4:-$(free_port)}
    prepare_dir "$dir"
    as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$(cat "$primary/port")" -U postgres -D "$dir/data" -R -X stream \
      --checkpoint=fast >"$dir/basebackup.log" 2>&1
    echo "$port" >"$dir/port"
    start_server "$dir"
    # Every commit on the primary now waits until the standby has it (an acknowledged write
    # survives losing the primary).
    as_pg "$BIN/psql" -q -h 127.0.0.1 -p "$(cat "$primary/port")" -U postgres -d postgres \
      -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
    url_of "$dir" | tee "$dir/url"
    ;;
  promote)
    dir=$(realpath "$2")
    as_pg "$BIN/pg_ctl" -D "$dir/data" -w promote >/dev/null
    ;;
  stop)
    dir=$(realpath -m "$2")
    if [[ -f $dir/data/postmaster.pid ]]; then
      as_pg "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    ;;
  createdb)
    dir=$(realpath "$2")
    as_pg "$BIN/psql" -q -h 127.0.0.1 -p "$(cat "$dir/port")" -U postgres -d postgres -c "CREATE DATABASE \"$3\"" >/dev/null
    url_of "$dir" "$3"
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
