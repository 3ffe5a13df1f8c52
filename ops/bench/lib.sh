# Helpers shared by the benchmarks that start servers (rest.sh, handshake.sh, scaleout.sh);
# sourced, never run.
# shellcheck shell=bash
bench_lib_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")

# The common start of rest.sh and handshake.sh: sets $seconds (default 5) and $concurrencies
# (default 16 1) from the arguments, and PERF=1 for --perf. Outside: packages, the build, then the script again inside
# a private network namespace when root (nothing can leave loopback), which sets up loopback.
bench_start() {  # SCRIPT [--perf] [seconds] [concurrency ...]
  local script=$1
  shift
  if [ "${1:-}" = --perf ]; then
    export PERF=1
    shift
  fi
  seconds=${1:-5}
  shift || true
  concurrencies=("$@")
  [ ${#concurrencies[@]} -gt 0 ] || concurrencies=(16 1)
  if [ "${SIGIL_BENCH_INNER:-}" != 1 ]; then
    bash "$bench_lib_dir/../install-deps.sh"
    if [ "${PERF:-}" = 1 ] && ! command -v perf >/dev/null; then
      apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
    fi
    bash "$bench_lib_dir/../build.sh" build -DSIGIL_BENCH=ON >/dev/null
    if [ "$(id -u)" = 0 ]; then exec unshare -n env SIGIL_BENCH_INNER=1 bash "$script" "$seconds" "${concurrencies[@]}"; fi
  fi
  [ "$(id -u)" != 0 ] || ip link set lo up
  export PATH=$PATH:/usr/sbin
}

# Stops the given processes (children of this shell), then the PostgreSQL cluster in PG_DIR if
# one runs there.
stop_all() {  # PG_DIR PID...
  local pg=$1 p
  shift
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$pg" ] || bash "$bench_lib_dir/../pg.sh" stop "$pg" >/dev/null 2>&1 || true
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# CPU seconds (user+system, reaped children included) of the given processes, from /proc/PID/stat.
cpu_of() {
  local hz total=0 p
  hz=$(getconf CLK_TCK)
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name, which may hold spaces: utime is the 12th, cutime the 14th.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13 + $14 + $15}')))
  done
  awk -v t="$total" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}'
}

# A process and its children (nginx's master and worker, PostgreSQL's postmaster and backends).
with_children() { echo "$1"; pgrep -P "$1" || true; }

# KEY=VALUE out of a load generator's result line.
field() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# Waits until FILE has a line starting with WORD (sigil serve prints its listeners).
wait_line() {  # FILE WORD
  for _ in $(seq 150); do
    grep -q "^$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

machine() {  # one line: cores, CPU model, load average
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
}

# The commit measured (and whether the server's sources differ from it).
sigil_version() { echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- ca cli store acme || echo '+local changes')"; }

code_block() {
  local fence='```'
  printf '%s\n%s\n%s\n' "$fence" "$1" "$fence"
}

# peer_table.py's output for results.md: its markdown table, then its ratio lines as a code block.
print_table() {  # TABLE
  sed '/ratio/,$d' <<<"$1"
  echo
  code_block "$(sed -n '/ratio/,$p' <<<"$1")"
}

# What the load generators printed about failed requests (the tables count them; this says why).
show_errors() {  # WORK_DIR
  local f
  for f in "$1"/*.load.err; do
    [ -s "$f" ] || continue
    echo "errors from the load against $(basename "$f" .load.err) (first lines):" >&2
    head -5 "$f" >&2
  done
}
