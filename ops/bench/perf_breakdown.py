#!/usr/bin/env python3
"""Where sigil's CPU goes while it serves OCSP GETs: reads `perf script -F comm,tid,ip,sym`
output (a `perf record --call-graph dwarf` of the server) on stdin and prints the share of
samples per stage of a request, with the biggest costs inside each stage.

Each sample goes to the stage of the innermost frame that names one; kernel samples go to
the system call they were taken in. Used by ops/bench/ocsp.sh when OCSP_PROFILE=1.

--flat: the top of any profile by where the CPU was spent (the innermost frame): by DSO and by
symbol, from `perf script -F comm,tid,ip,sym,dso`. Used by ops/bench/rest.sh when PERF=1.
"""
import collections
import re
import sys

KERNEL = [
    ("kernel: sendmsg (TCP send, loopback delivery, waking the client)", r"__libc_sendmsg|\bsendmsg$"),
    ("kernel: recvmsg", r"__libc_recvmsg|\brecvmsg$|__libc_recv\b"),
    ("kernel: epoll_wait", r"epoll_wait"),
    ("kernel: futex (threads handing work over)", r"futex|lll_lock_wait|cond_wait"),
]
STAGES = [
    ("Metrics::add/observe (one mutex, std::map keyed by label vectors)", r"sigil::Metrics::(add|observe)"),
    ("format_http_date (snprintf/strftime, per response)", r"format_http_date"),
    ("ocsp::parse_request (DER)", r"ocsp::parse_request"),
    ("base64 decode", r"base64_decode|unb64"),
    ("percent_decode", r"percent_decode"),
    ("Router::match (segments, params map)", r"Router::match"),
    ("respond_cached (cache key, shared lock, clock)", r"respond_cached"),
    ("fast handler: Response and its headers", r"public_router"),
    ("Session::write: beast response, serializer, async_write", r"Session<.*>::write"),
    ("Session::on_read: Request object (strings, headers)", r"Session<.*>::on_read"),
    ("beast request parser", r"basic_parser"),
    ("Session::read: re-arm (parser, timer, async_read)", r"Session<.*>::read\b"),
]
DETAILS = [
    ("malloc/free", r"malloc|_int_free|cfree|__libc_free|operator new|operator delete|tcache"),
    ("shared_ptr reference counts", r"_M_release|_M_add_ref|__exchange_and_add"),
    ("asio executor/strand/scheduler plumbing",
     r"any_executor|any_io_executor|strand|prefer|work_started|work_finished|executor_function|handler_work|scheduler"),
    ("beast buffer-sequence iteration", r"buffers_cat_view|buffers_prefix_view|buffers_suffix|mp_with_index|buffers_ref"),
    ("timer re-arm (expires_after)", r"expires_after|timer_queue|schedule_timer|cancel_timer|waitable_timer"),
    ("mutex", r"pthread_mutex|lll_lock|mutex_unlock|mutex_lock"),
    ("printf machinery", r"printf|_IO_|xsputn|strftime|tz_convert|offtime"),
]


def compile_rules(rules):
    return [(name, re.compile(pattern)) for name, pattern in rules]


KERNEL, STAGES, DETAILS = compile_rules(KERNEL), compile_rules(STAGES), compile_rules(DETAILS)


def first(names, rules):
    for i, f in enumerate(names):
        for name, r in rules:
            if r.search(f):
                return name, i
    return None, len(names)


def split_frame(rest):
    """'sym+0x1 (dso)' -> (sym, dso basename)."""
    m = re.match(r"(.*?)\s*\(([^()]*)\)\s*$", rest)
    sym, dso = (m.group(1), m.group(2)) if m else (rest, "?")
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym) or "?"
    return sym, dso.rsplit("/", 1)[-1] or "?"


def flat(lines, top_dsos=12, top_syms=30):
    by_dso, by_sym = collections.Counter(), collections.Counter()
    leaf = None
    total = 0
    for line in lines:
        if line and not line[0].isspace():
            leaf = None
        elif line.strip() and leaf is None:
            parts = line.strip().split(" ", 1)
            leaf = split_frame(parts[1] if len(parts) > 1 else "?")
            total += 1
            by_dso[leaf[1]] += 1
            by_sym[leaf] += 1
    if not total:
        print("no samples")
        return
    print(f"{total} samples, by DSO (innermost frame):")
    for dso, c in by_dso.most_common(top_dsos):
        print(f"  {100 * c / total:5.1f}%  {dso}")
    print("by symbol:")
    for (sym, dso), c in by_sym.most_common(top_syms):
        print(f"  {100 * c / total:5.1f}%  {sym[:110]}  [{dso}]")


def main():
    if "--flat" in sys.argv[1:]:
        flat(sys.stdin)
        return
    stages = collections.Counter()
    details = collections.defaultdict(collections.Counter)
    total = 0
    frames = []

    def flush():
        nonlocal total
        if not frames:
            return
        total += 1
        names = [f[1] for f in frames]
        if frames[0][0].startswith("ffffffff"):
            stage, _ = first(names, KERNEL)
            stages[stage or "kernel: other"] += 1
            return
        stage, idx = first(names, STAGES)
        stage = "user: " + (stage or "asio runtime between handlers (scheduler, strand, reactor)")
        stages[stage] += 1
        detail, _ = first(names[: idx + 1], DETAILS)
        details[stage][detail or "other"] += 1

    for line in sys.stdin:
        if line and not line[0].isspace():
            flush()
            frames = []
        elif line.strip():
            parts = line.strip().split(" ", 1)
            frames.append((parts[0], parts[1] if len(parts) > 1 else "?"))
    flush()
    if not total:
        print("no samples")
        return
    user = sum(c for s, c in stages.items() if s.startswith("user: "))
    print(f"{total} samples; user space {100 * user / total:.1f}%, kernel {100 * (total - user) / total:.1f}%")
    for stage, c in stages.most_common():
        print(f"{100 * c / total:5.1f}%  {stage}")
        for d, k in details[stage].most_common(4):
            if k / total >= 0.003:
                print(f"         {100 * k / total:4.1f}%  {d}")


if __name__ == "__main__":
    main()
