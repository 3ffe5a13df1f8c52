#!/usr/bin/env python3
"""Time from `sigil serve` exec to the first good answer of each listener (ops/bench/scale.sh).

Usage: scale_start.py SIGIL HOME API_PORT ACME_PORT PUBLIC_PORT OCSP_GET_PATH OUT_PREFIX
       scale_start.py time COMMAND...   (one command's wall_ms= and cpu_ms=, user + system)

Starts `SIGIL --home HOME serve` on 127.0.0.1 ports (stdout/stderr to OUT_PREFIX.out/.err), then
polls, every 2 ms, until both answer (deadline: $SCALE_START_DEADLINE seconds, default 60):
  api     GET /health/live over mTLS with HOME/admin/admin.{crt,key}, trusting HOME/ca/root.crt
  public  GET OCSP_GET_PATH (an OCSP GET for a valid certificate): HTTP 200 and a successful
          OCSPResponse (responseStatus 0; tryLater is 30 03 0a 01 03, five octets)
Prints one line: pid=.. api_ms=.. public_ms=.. ready_cpu_s=.. (serve's utime+stime when both answered)
and leaves serve running (the caller stops it by pid).
"""
import http.client
import os
import ssl
import subprocess
import sys
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_ok(ctx, port):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=2)
    try:
        c.request("GET", "/health/live")
        return c.getresponse().status == 200
    finally:
        c.close()


def public_ok(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", path)
        resp = c.getresponse()
        body = resp.read()
        # OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... }: 0 is successful.
        if resp.status != 200 or len(body) < 8 or body[0] != 0x30:
            return False
        at = 2 + (body[1] & 0x7F if body[1] & 0x80 else 0)
        return body[at:at + 3] == b"\x0a\x01\x00"
    finally:
        c.close()


def main():
    sigil, home, api, acme, public, path, out = sys.argv[1:8]
    api, acme, public = int(api), int(acme), int(public)
    ctx = ssl.create_default_context(cafile=f"{home}/ca/root.crt")
    ctx.load_cert_chain(f"{home}/admin/admin.crt", f"{home}/admin/admin.key")
    ctx.check_hostname = False  # the server's name is localhost; we dial 127.0.0.1
    deadline = float(os.environ.get("SCALE_START_DEADLINE", "60"))  # seconds
    start = time.monotonic()
    proc = subprocess.Popen(
        [sigil, "--home", home, "serve", "--api-listen", f"127.0.0.1:{api}", "--acme-listen",
         f"127.0.0.1:{acme}", "--public-listen", f"127.0.0.1:{public}"],
        stdout=open(out + ".out", "w"), stderr=open(out + ".err", "w"), start_new_session=True)
    done = {}
    checks = {"api": lambda: api_ok(ctx, api), "public": lambda: public_ok(public, path)}
    while len(done) < len(checks):
        if proc.poll() is not None:
            sys.exit(f"scale_start: serve exited with {proc.returncode}; see {out}.err")
        if time.monotonic() - start > deadline:
            proc.kill()
            sys.exit(f"scale_start: no answer within {deadline} s from {sorted(set(checks) - set(done))}")
        for name, check in checks.items():
            if name in done:
                continue
            try:
                if check():
                    done[name] = (time.monotonic() - start) * 1000
            except (OSError, http.client.HTTPException, ssl.SSLError):
                pass
        time.sleep(0.002)
    print(f"pid={proc.pid} api_ms={done['api']:.0f} public_ms={done['public']:.0f} "
          f"ready_cpu_s={cpu_seconds(proc.pid):.2f}")


def time_command(argv):
    """CPU time is what the 2-core machine's other load does not inflate; wall time is."""
    before = os.times()
    start = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = (time.monotonic() - start) * 1000
    after = os.times()
    cpu = (after.children_user + after.children_system - before.children_user - before.children_system) * 1000
    print(f"wall_ms={wall:.0f} cpu_ms={cpu:.0f}")


if __name__ == "__main__":
    if sys.argv[1] == "time":
        time_command(sys.argv[2:])
    else:
        main()
