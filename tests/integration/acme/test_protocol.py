#!/usr/bin/python3
"""ACME protocol and negative tests, on the wire (acme_client.py), against one ACME server.

    test_protocol.py DIRECTORY_URL CA_FILE HTTP01_PORT [options]

The server must validate http-01 on 127.0.0.1:HTTP01_PORT (this script answers there) and
resolve every name under --zone to 127.0.0.1, except `<label>.nx.<zone>` (NXDOMAIN) and
`forbidden.<zone>` (an address the server must refuse to contact, --forbidden-address).
Prints `ok - ...` / `not ok - ...` (and `skip - ...`) lines, then exactly `N passed, N failed`;
exits non-zero on any failure.

--peer sigil (default) expects everything; --peer pebble turns off what Pebble 2.4 (Debian)
does not do, so the client and the tests can be validated against a real RFC 8555 server.
--without/--with FEATURE adjust single features; --only PATTERN runs matching tests only.

Error expectations are exact ACME error types (urn:ietf:params:acme:error:X) in an RFC 7807
body served as application/problem+json; every negative test also checks that nothing changed
(the account, the order, the certificate are as before), usually by completing the operation
correctly afterwards.
"""

import argparse
import fnmatch
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The test modules register their tests on import: this order is the order they run in.
import protocol_accounts  # noqa: E402,F401
import protocol_orders  # noqa: E402,F401
from protocol_negative import sweep  # noqa: E402
from protocol_suite import FEATURES, PEERS, TESTS, Suite  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory")
    ap.add_argument("ca")
    ap.add_argument("http01_port", type=int)
    ap.add_argument("--peer", choices=sorted(PEERS), default="sigil")
    ap.add_argument("--without", action="append", choices=sorted(FEATURES), metavar="FEATURE")
    ap.add_argument("--with", dest="with_", action="append", choices=sorted(FEATURES), metavar="FEATURE")
    ap.add_argument("--only", action="append", help="run the tests whose name matches this glob (repeatable)")
    ap.add_argument("--zone", default="example.internal")
    ap.add_argument("--outside-name", help="a name the server's policy refuses (default: outside-*.example.com)")
    ap.add_argument("--forbidden-address", default="127.0.0.9",
                    help="the address forbidden.<zone> resolves to, which the server must not contact")
    ap.add_argument("--restart-cmd", help="a shell command that restarts the server (same directory URL)")
    ap.add_argument("--eab-directory", help="directory of a server that requires EAB")
    ap.add_argument("--eab-ca", help="CA file for that server (default: CA_FILE)")
    ap.add_argument("--eab-key", action="append", default=[], metavar="KID:HMAC", help="an unused EAB key")
    ap.add_argument("--eab-allow-key", metavar="KID:HMAC:PATTERN", help="an EAB key narrowed to PATTERN")
    ap.add_argument("--deactivate-cmd", help="a shell command deactivating the account whose URL replaces {}")
    ap.add_argument("--eab-revoke-cmd", help="a shell command revoking EAB key {} and deactivating its account")
    ap.add_argument("--eab-cutoff-key", metavar="KID:HMAC", help="an unused EAB key for --eab-revoke-cmd")
    ap.add_argument("--list-features", action="store_true")
    args = ap.parse_args()
    if args.list_features:
        for k, v in FEATURES.items():
            print(f"{k:24} {'on ' if k in PEERS[args.peer] else 'off'} {v}")
        return 0
    s = Suite(args)
    print(f"# {args.directory} (peer {args.peer}); features off: {', '.join(sorted(set(FEATURES) - s.features)) or 'none'}")
    try:
        for name, needs, fn in TESTS:
            if args.only and not any(fnmatch.fnmatch(name, p) for p in args.only):
                continue
            missing = [f for f in needs if not s.has(f)]
            if missing:
                s.skip(name, f"feature {', '.join(missing)} off")
                continue
            s.test = name
            print(f"# -- {name}", flush=True)
            t0 = time.monotonic()
            try:
                fn(s)
            except Exception as e:  # an unexpected response or a bug: one failure, then go on
                s.not_ok(f"{name}: unexpected {type(e).__name__}", f"{e}\n{traceback.format_exc(limit=4)}")
            print(f"#    ({time.monotonic() - t0:.1f} s)", flush=True)
        if not args.only:
            s.test = "sweep"
            print("# -- headers over the whole run", flush=True)
            sweep(s)
    finally:
        s.responder.stop()
    if s.failures:
        print("# failed:")
        for f in s.failures:
            print(f"#   - {f}")
    if s.skipped:
        print(f"# {s.skipped} skipped")
    print(f"{s.passed} passed, {s.failed} failed")
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
