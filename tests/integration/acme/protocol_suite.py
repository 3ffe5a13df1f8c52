"""The suite of test_protocol.py: features and peers, the Suite (checks, clients, expectations) and
the registry the test modules add to with @test, in the order they are imported."""

from __future__ import annotations

import os
import secrets
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_client import ERROR_PREFIX, AccountKey, AcmeClient, AcmeError, Http01Responder, Response  # noqa: E402


FEATURES = {
    "eddsa": "EdDSA (Ed25519) account keys",
    "ip": "ip identifiers (RFC 8738) over http-01",
    "ari": "renewalInfo (RFC 9773) in the directory, its GET, and 'replaces' in newOrder",
    "ari_defaults": "renewalInfo window between 2/3 and 3/4 of the lifetime; 'now' once revoked",
    "profile": "the order's 'profile' field (Sigil profiles)",
    "validity": "notAfter in newOrder honoured in the certificate",
    "forbidden": "validation never contacts a forbidden address",
    "retry_after": "Retry-After on pending authorizations and processing orders",
    "subproblems": "rejectedIdentifier carries subproblems naming the identifier",
    "algorithms_field": "badSignatureAlgorithm lists the supported 'algorithms'",
    "nonce_on_errors": "Replay-Nonce on error responses too",
    "nonce_get_204": "GET newNonce answers 204",
    "deactivated_newaccount": "newAccount with a deactivated account's key gets unauthorized",
    "weak_account_key": "an RSA-1024 account key is refused with badPublicKey",
    "invalid_jwk": "a JWK whose point is not on its curve is refused",
    "weak_csr_key": "a CSR with an RSA-1024 key is refused",
    "csr_signature": "a CSR whose signature does not verify is refused",
    "csr_subset": "a CSR missing one of the order's names is refused",
    "revoke_foreign": "revocation by an account without authorizations is refused",
    "revoke_size_limit": "revokeCert refuses a certificate larger than any the CA issues as malformed",
    "nonce_no_store": "newNonce answers carry Cache-Control: no-store (RFC 8555 §7.2)",
    "keychange_conflict": "keyChange to a key another account holds: 409 with its Location (RFC 8555 §7.3.5)",
    "foreign_url_refused": "a request to another account's URL (own valid kid) is refused, not applied to the signer",
    "rfc_error_types": "error types as RFC 8555 names them (off: also accept the types Pebble uses instead)",
    "eab": "external account binding (needs --eab-directory and --eab-key)",
    "eab_single_use": "an EAB key bound to one account is refused for another",
    "eab_allow": "an EAB key narrowed to a pattern (needs --eab-allow-key)",
    "restart": "the restart test (needs --restart-cmd)",
    "orders_list": "the account's orders list (RFC 8555 §7.1.2.1), paginated with Link rel=\"next\"",
    "authz_reuse": "a new order reuses the account's valid authorization for the same identifier",
    "nonce_after_signature": "a request whose signature does not verify does not spend its nonce",
    "operator_deactivation": "an operator deactivates an account (needs --deactivate-cmd; EAB part --eab-revoke-cmd)",
}

PEERS = {
    "sigil": set(FEATURES),
    # What Debian's Pebble 2.4.0 does not do (observed; see the report in the wrapper).
    "pebble": set(FEATURES) - {"eddsa", "ari", "ari_defaults", "profile", "validity", "forbidden", "retry_after",
                               "subproblems", "eab_allow", "eab_single_use", "restart", "weak_account_key",
                               "weak_csr_key", "csr_signature", "nonce_no_store", "keychange_conflict",
                               "foreign_url_refused", "rfc_error_types", "orders_list", "authz_reuse",
                               "nonce_after_signature", "operator_deactivation"},
}

# Sigil's own limit (RFC 8555 sets none), so not expected of Pebble.
PEERS["pebble"] -= {"revoke_size_limit"}


class Suite:
    def __init__(self, args):
        self.args = args
        self.features = set(PEERS[args.peer])
        for f in args.without or []:
            self.features.discard(f)
        for f in args.with_ or []:
            self.features.add(f)
        self.passed = self.failed = self.skipped = 0
        self.failures: list = []
        self.responses: list = []   # (test name, Response, client directory url) for the header sweep
        self.test = ""
        self.responder = Http01Responder(args.http01_port).start()
        self.resp_lock = threading.Lock()
        self.nonce_urls: set = set()

    # ---- reporting
    def ok(self, desc: str):
        self.passed += 1
        print(f"ok - {desc}", flush=True)

    def not_ok(self, desc: str, why: str = ""):
        self.failed += 1
        self.failures.append(desc)
        print(f"not ok - {desc}", flush=True)
        for line in (why or "").splitlines()[:12]:
            print(f"#   {line[:400]}", flush=True)

    def check(self, desc: str, cond, why: str = "") -> bool:
        if cond:
            self.ok(desc)
        else:
            self.not_ok(desc, why)
        return bool(cond)

    def skip(self, desc: str, why: str):
        self.skipped += 1
        print(f"skip - {desc} ({why})", flush=True)

    def has(self, feature: str) -> bool:
        return feature in self.features

    # ---- helpers
    def observe(self, directory_url: str):
        def obs(r: Response):
            with self.resp_lock:
                self.responses.append((self.test, r, directory_url))
                if r.url == directory_url and isinstance(r.json, dict) and r.json.get("newNonce"):
                    self.nonce_urls.add(r.json["newNonce"])
        return obs

    def client(self, alg: str = "ES256", register: bool = True, directory: str | None = None, ca: str | None = None,
               contact: list | None = None, eab: tuple | None = None) -> AcmeClient:
        d = directory or self.args.directory
        c = AcmeClient(d, ca or self.args.ca, AccountKey.generate(alg), observer=self.observe(d))
        c.poll_interval = 0.2
        if register:
            c.new_account(contact=contact if contact is not None else [f"mailto:{alg.lower()}@{self.args.zone}"],
                          eab=eab, expect=(201,), what="newAccount")
        return c

    def name(self, tag: str) -> str:
        return f"{tag}-{secrets.token_hex(4)}.{self.args.zone}"

    def expect_error(self, desc: str, r: Response, types, status: int | None = None, lenient=()) -> bool:
        """An RFC 7807 problem of one of `types` (short ACME error names); `lenient` types are
        accepted too while the feature rfc_error_types is off (Pebble's deviations)."""
        types = (types,) if isinstance(types, str) else tuple(types)
        lenient = (lenient,) if isinstance(lenient, str) else tuple(lenient)
        if not self.has("rfc_error_types") and lenient:
            types = types + lenient
            if status is not None and r.error in lenient:
                status = None
        problems = []
        if r.status < 400:
            problems.append(f"HTTP {r.status}, not an error")
        if status is not None and r.status != status:
            problems.append(f"HTTP {r.status}, expected {status}")
        if not r.is_problem:
            problems.append(f"Content-Type {r.header('Content-Type')!r}, expected application/problem+json")
        j = r.json
        if not isinstance(j, dict):
            problems.append("the body is not a JSON object")
        else:
            if r.error not in types:
                problems.append(f"type {j.get('type')!r}, expected " + " or ".join(ERROR_PREFIX + t for t in types))
            if "status" in j and j["status"] != r.status:
                problems.append(f"problem status {j['status']} != HTTP status {r.status}")
        if problems:
            self.not_ok(desc, "; ".join(problems) + "\n" + r.summary())
            return False
        self.ok(f"{desc}: {r.error} (HTTP {r.status})")
        return True

    def expect_foreign(self, desc: str, r: Response) -> bool:
        """A request for another account's resource: unauthorized, or a 404 problem (hidden)."""
        if r.status == 404 and r.is_problem:
            self.ok(f"{desc}: HTTP 404 ({r.error}), as if it did not exist")
            return True
        return self.expect_error(desc, r, "unauthorized")

    def expect_status(self, desc: str, r: Response, *statuses) -> bool:
        return self.check(f"{desc} (HTTP {r.status})", r.status in statuses,
                          f"expected HTTP {' or '.join(map(str, statuses))}\n{r.summary()}")

    def contact_of(self, c: AcmeClient, key: AccountKey | None = None, kid: str | None = None):
        r = c.post_as_get(kid or c.account_url, key=key, kid=kid)
        return (r.json or {}).get("contact") if r.status == 200 else f"HTTP {r.status} {r.error}"

    def account_state(self, c: AcmeClient):
        r = c.post_as_get(c.account_url)
        j = r.json or {}
        return (r.status, j.get("status"), tuple(j.get("contact") or ()))

    def order_status(self, c: AcmeClient, order_url: str):
        r = c.post_as_get(order_url)
        return (r.json or {}).get("status") if r.status == 200 else f"HTTP {r.status} {r.error}"

    def ready_order(self, c: AcmeClient, names: list[str]) -> tuple[str, dict]:
        """An order for names, validated by http-01, in state ready."""
        r = c.new_order(names, expect=(201,), what="newOrder")
        c.authorize(r.json, self.responder)
        r = c.poll(r.location, ("ready",))
        if r.json["status"] != "ready":
            raise AcmeError(r, "order not ready")
        return r.url, r.json

    def issue(self, c: AcmeClient, names: list[str], **kw):
        return c.issue(names, self.responder, **kw)


TESTS: list = []


def test(name: str, needs: tuple = ()):
    def deco(fn):
        TESTS.append((name, needs, fn))
        return fn
    return deco


# =========================================================================== directory, nonces
