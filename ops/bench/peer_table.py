#!/usr/bin/env python3
"""Tables for the peer benchmarks (rest.sh, handshake.sh): medians and ratios of their runs.

Input: one run per line, `key=value` pairs separated by spaces (the scripts write them). Runs are
grouped by the --by keys; each --col is the median over a group's runs of one numeric key; --sum
keys are added up over the group (error counts). --ratio KEY:FIELD=NUM/DEN prints, for every
group that differs from another only in FIELD, the ratio NUM/DEN of the medians of KEY and the
ratios round by round (runs paired by their `round`).

Usage: peer_table.py RUNS --by a,b --col "Title=key" ... [--sum key] [--ratio key:field=num/den]
"""
import argparse
import collections
import statistics


def parse_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            pairs = [p.split("=", 1) for p in line.split() if "=" in p]
            if pairs:
                runs.append(dict(pairs))
    return runs


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def median_of(runs, key):
    vals = [num(r.get(key)) for r in runs]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--by", required=True)
    ap.add_argument("--col", action="append", default=[], help="Title=key")
    ap.add_argument("--sum", action="append", default=[])
    ap.add_argument("--ratio", action="append", default=[], help="key:field=num/den")
    a = ap.parse_args()
    by = a.by.split(",")
    cols = [c.rsplit("=", 1) for c in a.col]
    runs = parse_runs(a.runs)
    groups = collections.OrderedDict()
    for r in runs:
        groups.setdefault(tuple(r.get(k, "") for k in by), []).append(r)

    head = by + [t for t, _ in cols] + a.sum + [f"runs ({cols[0][1]})" if cols else "runs"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < len(by) else "---:" for i in range(len(head) - 1)) + "|---|")
    for key, rs in groups.items():
        row = list(key) + [fmt(median_of(rs, k)) for _, k in cols]
        row += [str(int(sum(num(r.get(s)) or 0 for r in rs))) for s in a.sum]
        row.append("/".join(fmt(num(r.get(cols[0][1]))) for r in rs) if cols else str(len(rs)))
        print("| " + " | ".join(row) + " |")

    for spec in a.ratio:
        metric, rest = spec.split(":", 1)
        field, pair = rest.split("=", 1)
        top, bottom = pair.split("/", 1)
        i = by.index(field)
        print()
        print(f"{metric} ratio {top}/{bottom}:")
        seen = set()
        for key in groups:
            other = key[:i] + key[i + 1 :]
            if other in seen:
                continue
            seen.add(other)
            n = groups.get(key[:i] + (top,) + key[i + 1 :])
            d = groups.get(key[:i] + (bottom,) + key[i + 1 :])
            if not n or not d:
                continue
            mn, md = median_of(n, metric), median_of(d, metric)
            rounds = {r.get("round"): num(r.get(metric)) for r in d}
            per = [
                fmt(num(r.get(metric)) / rounds[r.get("round")])
                for r in n
                if rounds.get(r.get("round")) and num(r.get(metric)) is not None
            ]
            label = " ".join(f"{k}={v}" for k, v in zip(by[:i] + by[i + 1 :], other))
            ratio = fmt(mn / md) if mn is not None and md else "-"
            print(f"  {label}: {ratio} (medians); per round {'/'.join(per) or '-'}")


if __name__ == "__main__":
    main()
