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

from __future__ import annotations

import argparse
import fnmatch
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_client import (ERROR_PREFIX, PEM_CHAIN, AccountKey, AcmeClient, AcmeError,  # noqa: E402
                         Http01Responder, Response, ari_cert_id, b64u, b64u_decode, cert_lifetime, compact_json,
                         eab_jws, key_authorization, load_chain, make_csr, new_cert_key, parse_rfc3339)
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402

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

@test("directory and nonces")
def t_directory(s: Suite):
    c = s.client(register=False)
    d = c.directory
    missing = [k for k in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange") if not d.get(k)]
    s.check("directory lists newNonce, newAccount, newOrder, revokeCert, keyChange", not missing, f"missing {missing}")
    if s.has("ari"):
        s.check("directory lists renewalInfo (RFC 9773)", bool(d.get("renewalInfo")), str(d))
    r = c.http("HEAD", d["newNonce"])
    s.check(f"HEAD newNonce: 200 with Replay-Nonce (HTTP {r.status})", r.status == 200 and r.nonce, r.summary())
    if s.has("nonce_no_store"):
        s.check("HEAD newNonce: Cache-Control: no-store (RFC 8555 §7.2)",
                "no-store" in (r.header("Cache-Control") or ""), f"Cache-Control: {r.header('Cache-Control')!r}")
    r = c.http("GET", d["newNonce"])
    if s.has("nonce_get_204"):
        s.check(f"GET newNonce: 204 with Replay-Nonce (HTTP {r.status})", r.status == 204 and r.nonce, r.summary())
    else:
        s.check(f"GET newNonce: 200/204 with Replay-Nonce (HTTP {r.status})", r.status in (200, 204) and r.nonce,
                r.summary())
    seen = {c.new_nonce() for _ in range(20)}
    s.check("20 newNonce requests give 20 distinct nonces", len(seen) == 20, f"{len(seen)} distinct")
    body = compact_json(c.sign(d["newAccount"], {"termsOfServiceAgreed": True}, use_jwk=True))
    r = c.http("POST", d["newAccount"], body, {"Content-Type": "application/json"})
    s.expect_error("a JWS POSTed as application/json, not application/jose+json", r, "malformed", status=415)
    s.expect_error("  state: no account for that key", c.new_account(only_return_existing=True, tos=None),
                   "accountDoesNotExist")
    r = c.http("POST", d["newAccount"], b"not json", {"Content-Type": "application/jose+json"})
    s.expect_error("POST newAccount with a body that is not JSON", r, "malformed")


# =========================================================================== accounts

@test("accounts with every key type")
def t_accounts(s: Suite):
    for alg in AccountKey.ALGS:
        if alg == "EdDSA" and not s.has("eddsa"):
            s.skip("EdDSA account", "feature eddsa off")
            continue
        c = s.client(alg, register=False)
        contact = [f"mailto:{alg.lower()}-{secrets.token_hex(3)}@{s.args.zone}"]
        r = c.new_account(contact=contact)
        if not s.check(f"{alg}: newAccount -> 201 with Location (HTTP {r.status})",
                       r.status == 201 and r.location and (r.json or {}).get("status") == "valid", r.summary()):
            continue
        url = r.location
        r = c.new_account(contact=contact)
        s.check(f"{alg}: newAccount again with the same key -> 200, same Location (HTTP {r.status})",
                r.status == 200 and r.location == url, r.summary())
        r = c.account()
        s.check(f"{alg}: POST-as-GET account -> 200, valid, contact kept",
                r.status == 200 and r.json.get("status") == "valid" and r.json.get("contact") == contact, r.summary())
        new_contact = [f"mailto:changed-{alg.lower()}@{s.args.zone}"]
        r = c.update_account(contact=new_contact)
        s.check(f"{alg}: account update (contact) -> 200", r.status == 200 and r.json.get("contact") == new_contact,
                r.summary())
        s.check(f"{alg}: the new contact is stored", s.contact_of(c) == new_contact, str(s.contact_of(c)))
        o = c.new_order([s.name(alg.lower())])
        s.check(f"{alg}: newOrder signed with {alg} -> 201 with Location (HTTP {o.status})",
                o.status == 201 and o.location, o.summary())


@test("onlyReturnExisting")
def t_only_return_existing(s: Suite):
    c = s.client()
    r = c.new_account(only_return_existing=True, tos=None)
    s.check(f"onlyReturnExisting for an existing key -> 200 with its Location (HTTP {r.status})",
            r.status == 200 and r.location == c.account_url, r.summary())
    u = s.client(register=False)
    r = u.new_account(only_return_existing=True, tos=None)
    s.expect_error("onlyReturnExisting for an unknown key", r, "accountDoesNotExist")
    s.check("... and no Location, no account", r.location is None, r.summary())
    r = u.new_account(contact=[f"mailto:late@{s.args.zone}"])
    s.check(f"state: the probe created nothing (a real newAccount with that key is 201, HTTP {r.status})",
            r.status == 201, r.summary())


@test("key rollover (keyChange)")
def t_key_change(s: Suite):
    c = s.client("ES256")
    old_key, url = c.key, c.account_url
    other = s.client("ES384")
    # Refusals first: each leaves the account on its old key.
    r = c.key_change(AccountKey.generate("ES256"), inner_payload={"oldKey": AccountKey.generate("ES256").jwk()})
    s.expect_error("keyChange whose inner oldKey is not the account key", r, ("malformed", "unauthorized"))
    r = c.key_change(AccountKey.generate("ES256"), inner_protected={"url": c.url("newOrder")})
    s.expect_error("keyChange whose inner url differs from the outer one", r, "malformed")
    r = c.key_change(AccountKey.generate("ES256"), inner_payload={"account": other.account_url})
    s.expect_error("keyChange whose inner account is another account", r, ("malformed", "unauthorized"))
    r = c.key_change(other.key)
    if s.has("keychange_conflict"):
        s.check(f"keyChange to a key another account holds -> 409 with that account's Location (HTTP {r.status})",
                r.status == 409 and r.location == other.account_url, r.summary())
    else:
        s.check(f"keyChange to a key another account holds is refused (HTTP {r.status})", r.status >= 400, r.summary())
    s.check("state: after the refused rollovers the old key still works", c.key is old_key and c.account().status == 200)
    new_key = AccountKey.generate("ES256")
    r = c.key_change(new_key)
    if not s.check(f"keyChange to a new ES256 key -> 200 (HTTP {r.status})", r.status == 200, r.summary()):
        return
    r = c.post_as_get(url, key=old_key)
    s.expect_error("the old key (with the account's kid) is refused after the rollover", r,
                   ("malformed", "unauthorized"))
    r = c.update_account(contact=[f"mailto:rolled@{s.args.zone}"])
    s.check(f"the new key works: account update -> 200 (HTTP {r.status})", r.status == 200, r.summary())
    # Across key types: ES256 -> RS256.
    es_key, new_key = new_key, AccountKey.generate("RS256")
    r = c.key_change(new_key)
    if not s.check(f"keyChange ES256 -> RS256 -> 200 (HTTP {r.status})", r.status == 200, r.summary()):
        return
    r = c.post_as_get(url, key=es_key)
    s.expect_error("the previous ES256 key is refused after the rollover to RS256", r,
                   ("malformed", "unauthorized", "badSignatureAlgorithm"))
    r = c.new_account(only_return_existing=True, tos=None, key=old_key)
    s.expect_error("onlyReturnExisting with the old key", r, "accountDoesNotExist")
    r = c.post_as_get(url)
    s.check(f"the new key works: POST-as-GET account -> 200 (HTTP {r.status})", r.status == 200, r.summary())
    probe = AcmeClient(c.directory_url, s.args.ca, new_key, observer=s.observe(c.directory_url))
    r = probe.new_account(only_return_existing=True, tos=None)
    s.check(f"onlyReturnExisting with the new key -> 200, same account (HTTP {r.status})",
            r.status == 200 and r.location == url, r.summary())
    r = c.new_order([s.name("rolled")])
    s.check(f"the new key orders: newOrder -> 201 (HTTP {r.status})", r.status == 201, r.summary())
    r = other.account()
    s.check("state: the other account is untouched", r.status == 200 and r.json.get("status") == "valid", r.summary())


@test("account deactivation")
def t_deactivation(s: Suite):
    c = s.client()
    o = c.new_order([s.name("deact")], expect=(201,))
    r = c.deactivate_account()
    if not s.check(f"deactivation -> 200, status deactivated (HTTP {r.status})",
                   r.status == 200 and (r.json or {}).get("status") == "deactivated", r.summary()):
        return
    s.expect_error("after deactivation: POST-as-GET the account", c.account(), "unauthorized")
    s.expect_error("after deactivation: account update", c.update_account(contact=[f"mailto:x@{s.args.zone}"]),
                   "unauthorized")
    s.expect_error("after deactivation: newOrder", c.new_order([s.name("deact2")]), "unauthorized")
    s.expect_error("after deactivation: POST-as-GET its order", c.post_as_get(o.location), "unauthorized")
    s.expect_error("after deactivation: POST-as-GET its authorization",
                   c.post_as_get(o.json["authorizations"][0]), "unauthorized")
    s.expect_error("after deactivation: deactivating again", c.deactivate_account(), "unauthorized")
    if s.has("deactivated_newaccount"):
        s.expect_error("after deactivation: newAccount with its key", c.new_account(), "unauthorized")


@test("operator deactivation: every request of the account refused", needs=("operator_deactivation",))
def t_operator_deactivation(s: Suite):
    a = s.args
    if not a.deactivate_cmd:
        s.not_ok("operator deactivation: --deactivate-cmd is needed")
        return
    c = s.client()
    o = c.new_order([s.name("cutoff")], expect=(201,))
    authz_url = o.json["authorizations"][0]
    chall = [x for x in c.post_as_get(authz_url).json["challenges"] if x["type"] == "http-01"][0]
    cmd = a.deactivate_cmd.replace("{}", c.account_url)
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    if not s.check(f"the operator deactivates the account by its URL (exit {p.returncode})", p.returncode == 0,
                   p.stdout + p.stderr):
        return
    s.expect_error("after operator deactivation: POST-as-GET the account", c.account(), "unauthorized")
    s.expect_error("after operator deactivation: account update",
                   c.update_account(contact=[f"mailto:x@{a.zone}"]), "unauthorized")
    s.expect_error("after operator deactivation: newOrder", c.new_order([s.name("cutoff2")]), "unauthorized")
    s.expect_error("after operator deactivation: POST-as-GET its order", c.post_as_get(o.location), "unauthorized")
    s.expect_error("after operator deactivation: POST-as-GET its authorization", c.post_as_get(authz_url),
                   "unauthorized")
    s.expect_error("after operator deactivation: answering its challenge", c.post(chall["url"], {}), "unauthorized")
    s.expect_error("after operator deactivation: its orders list", c.post_as_get(c.account_url + "/orders"),
                   "unauthorized")
    s.expect_error("after operator deactivation: keyChange", c.key_change(AccountKey.generate("ES256")),
                   "unauthorized")
    s.expect_error("after operator deactivation: reactivating itself", c.update_account(contact=[]), "unauthorized")
    s.expect_error("after operator deactivation: newAccount with its key", c.new_account(), "unauthorized")
    if a.eab_revoke_cmd and a.eab_cutoff_key:
        kid, mac = a.eab_cutoff_key.split(":", 1)
        e = s.client(register=False, directory=a.eab_directory, ca=a.eab_ca or a.ca)
        r = e.new_account(eab=(kid, mac))
        if not s.expect_status("EAB: an account bound to the key that will be revoked", r, 201):
            return
        s.expect_status("  it orders", e.new_order([s.name("eabcut")]), 201)
        p = subprocess.run(a.eab_revoke_cmd.replace("{}", kid), shell=True, capture_output=True, text=True,
                           timeout=60)
        s.check(f"the operator revokes the EAB key with --deactivate-account (exit {p.returncode})",
                p.returncode == 0, p.stdout + p.stderr)
        s.expect_error("after the EAB revocation: newOrder of the bound account", e.new_order([s.name("eabcut2")]),
                       "unauthorized")
        s.expect_error("after the EAB revocation: POST-as-GET the account", e.account(), "unauthorized")


# =========================================================================== EAB

@test("external account binding", needs=("eab",))
def t_eab(s: Suite):
    a = s.args
    if not a.eab_directory or len(a.eab_key) < 1:
        s.not_ok("EAB: --eab-directory and at least one --eab-key are needed")
        return
    kid, mac = a.eab_key[0].split(":", 1)
    ca = a.eab_ca or a.ca

    def eclient(alg="ES256"):
        return s.client(alg, register=False, directory=a.eab_directory, ca=ca)

    c = eclient()
    s.check("EAB server: directory meta.externalAccountRequired is true",
            (c.directory.get("meta") or {}).get("externalAccountRequired") is True, str(c.directory.get("meta")))
    r = c.new_account(contact=[f"mailto:eab@{a.zone}"])
    s.expect_error("EAB required: newAccount without externalAccountBinding", r, "externalAccountRequired")
    s.expect_error("state: no account was created", c.new_account(only_return_existing=True, tos=None),
                   "accountDoesNotExist")
    bad_mac = b64u(secrets.token_bytes(32))
    r = c.new_account(eab=(kid, bad_mac))
    s.expect_error("EAB with a MAC under the wrong key", r, ("unauthorized", "malformed"))
    s.expect_error("state: no account was created", c.new_account(only_return_existing=True, tos=None),
                   "accountDoesNotExist")
    r = c.new_account(eab=("no-such-kid-" + secrets.token_hex(4), mac))
    s.expect_error("EAB with an unknown kid", r, ("unauthorized", "malformed"))
    # The MAC is right but it covers another key than the account's.
    url = c.url("newAccount")
    wrong = eab_jws(kid, mac, url, AccountKey.generate("ES256").jwk())
    r = c.new_account(extra={"externalAccountBinding": wrong})
    s.expect_error("EAB whose payload is another key than the account key", r, ("malformed", "unauthorized"),
                   lenient="badPublicKey")
    wrong_url = eab_jws(kid, mac, c.url("newOrder"), c.key.jwk())
    r = c.new_account(extra={"externalAccountBinding": wrong_url})
    s.expect_error("EAB whose url is not newAccount", r, ("malformed", "unauthorized"))
    s.expect_error("state: still no account", c.new_account(only_return_existing=True, tos=None),
                   "accountDoesNotExist")
    r = c.new_account(contact=[f"mailto:eab@{a.zone}"], eab=(kid, mac))
    if not s.check(f"EAB with the right MAC -> 201 with Location (the refusals consumed nothing) (HTTP {r.status})",
                   r.status == 201 and r.location, r.summary()):
        return
    r = c.new_account()
    s.check(f"newAccount again with the bound account's key, without EAB -> 200, same account (HTTP {r.status})",
            r.status == 200 and r.location == c.account_url, r.summary())
    try:
        res = s.issue(c, [s.name("eab")])
        s.ok(f"the EAB-bound account gets a certificate (serial {res.cert.serial_number:x})")
    except (AcmeError, TimeoutError) as e:
        s.not_ok("the EAB-bound account gets a certificate", str(e))
    if s.has("eab_single_use"):
        d = eclient("ES384")
        r = d.new_account(eab=(kid, mac))
        s.expect_error("EAB key already bound to an account, for another key", r, ("unauthorized", "malformed"))
        s.expect_error("state: no account for the second key", d.new_account(only_return_existing=True, tos=None),
                       "accountDoesNotExist")
    if s.has("eab_allow"):
        if not a.eab_allow_key:
            s.not_ok("EAB narrowed key: --eab-allow-key KID:HMAC:PATTERN is needed")
            return
        akid, amac, pattern = a.eab_allow_key.split(":", 2)
        e = eclient()
        r = e.new_account(eab=(akid, amac))
        if not s.expect_status("EAB with the key narrowed to " + pattern, r, 201):
            return
        inside = pattern.replace("*", "in-" + secrets.token_hex(3), 1)
        outside = s.name("outside-allow")
        r = e.new_order([inside])
        s.expect_status(f"narrowed account: newOrder for {inside} (inside {pattern}) -> 201", r, 201)
        r = e.new_order([outside])
        s.expect_error(f"narrowed account: newOrder for {outside} (outside {pattern})", r, "rejectedIdentifier")


# =========================================================================== orders, headers

@test("ip identifier", needs=("ip",))
def t_ip(s: Suite):
    c = s.client()
    try:
        res = s.issue(c, ["127.0.0.1"])
    except (AcmeError, TimeoutError) as e:
        s.not_ok("order for the ip identifier 127.0.0.1, validated by http-01", str(e))
        return
    sans = res.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = [str(i) for i in sans.get_values_for_type(x509.IPAddress)]
    s.check("order for the ip identifier 127.0.0.1: the certificate has IP SAN 127.0.0.1", ips == ["127.0.0.1"],
            str(sans))


@test("issuance, certificate download, headers")
def t_issue(s: Suite):
    c = s.client()
    n1, n2 = s.name("multi-a"), s.name("multi-b")
    r = c.new_order([n1, n2])
    if not s.check(f"newOrder for two names -> 201 with Location, pending, two authorizations (HTTP {r.status})",
                   r.status == 201 and r.location and r.json.get("status") == "pending"
                   and len(r.json.get("authorizations", [])) == 2 and r.json.get("finalize"), r.summary()):
        return
    idents = sorted(i["value"] for i in r.json.get("identifiers", []))
    s.check("the order lists its identifiers", idents == sorted([n1, n2]), str(r.json.get("identifiers")))
    order_url, order = r.location, r.json
    a = c.post_as_get(order["authorizations"][0])
    aj = a.json or {}
    ch = next((x for x in aj.get("challenges", []) if x.get("type") == "http-01"), None)
    s.check("authorization: pending, http-01 challenge with token and url",
            a.status == 200 and aj.get("status") == "pending" and ch and ch.get("token") and ch.get("url"), a.summary())
    if not ch:
        return
    s.responder.add(ch["token"], key_authorization(ch["token"], c.key))
    r = c.respond_challenge(ch["url"])
    s.check(f"challenge response {{}} -> 200, status processing/valid/pending (HTTP {r.status})",
            r.status == 200 and r.json.get("status") in ("pending", "processing", "valid"), r.summary())
    s.check("challenge response has Link rel=\"up\" to its authorization",
            order["authorizations"][0] in r.links("up"), f"Link: {r.header_all('Link')}")
    r = c.poll(order["authorizations"][0], ("valid",))
    s.check("the authorization becomes valid", r.json.get("status") == "valid", r.summary())
    c.authorize(order, s.responder)
    r = c.poll(order_url, ("ready",))
    s.check("order is ready once both authorizations are valid", r.json.get("status") == "ready", r.summary())
    key, csr = make_csr([n2, n1])
    r = c.finalize(order["finalize"], csr)
    s.check(f"finalize -> 200 (HTTP {r.status})", r.status == 200, r.summary())
    r = c.poll(order_url, ("valid",))
    s.check("order becomes valid with a certificate URL", r.json.get("status") == "valid" and r.json.get("certificate"),
            r.summary())
    cert_url = r.json.get("certificate")
    if not cert_url:
        return
    d = c.download(cert_url)
    s.check(f"certificate download: 200, Content-Type {PEM_CHAIN} (HTTP {d.status})",
            d.status == 200 and d.content_type == PEM_CHAIN, f"{d.status} {d.header('Content-Type')}")
    chain = load_chain(d.body) if d.status == 200 else []
    s.check(f"the chain has the leaf and its issuer ({len(chain)} certificates)", len(chain) >= 2, d.text[:200])
    if chain:
        leaf = chain[0]
        sans = sorted(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                      .get_values_for_type(x509.DNSName))
        s.check("the leaf carries exactly the order's names", sans == sorted([n1, n2]), str(sans))
        s.check("the leaf certifies the CSR's key", leaf.public_key().public_numbers() == key.public_key().public_numbers())
        if len(chain) > 1:
            s.check("the leaf is issued by the next certificate of the chain", leaf.issuer == chain[1].subject)
    r = c.finalize(order["finalize"], csr)
    s.expect_error("finalize of an order that is already valid", r, "orderNotReady", status=403)


@test("the account's orders list", needs=("orders_list",))
def t_orders_list(s: Suite):
    c = s.client()
    r = c.account(expect=(200,), what="account")
    orders_url = (r.json or {}).get("orders")
    if not s.check("the account object carries an orders URL", isinstance(orders_url, str) and orders_url, r.summary()):
        return
    r = c.post_as_get(orders_url)
    s.check(f"a new account's orders list: 200, no orders, no next link (HTTP {r.status})",
            r.status == 200 and (r.json or {}).get("orders") == [] and not r.links("next"), r.summary())

    # One order more than a page (Sigil: 100 a page); one more made invalid, which is not listed.
    made = []
    name = s.name("list")
    for _ in range(101):
        made.append(c.new_order([name], expect=(201,), what="newOrder").location)
    dead = c.new_order([s.name("list-dead")], expect=(201,), what="newOrder")
    c.deactivate_authorization(dead.json["authorizations"][0], expect=(200,), what="deactivate authorization")
    s.check("the order whose authorization was deactivated is invalid", s.order_status(c, dead.location) == "invalid")

    pages, listed, url = [], [], orders_url
    while url and len(pages) < 10:
        r = c.post_as_get(url)
        if not s.check(f"orders list page {len(pages) + 1}: 200 with an orders array (HTTP {r.status})",
                       r.status == 200 and isinstance((r.json or {}).get("orders"), list), r.summary()):
            return
        pages.append(r)
        listed += r.json["orders"]
        nxt = r.links("next")
        url = nxt[0] if nxt else None
    s.check(f"the list comes in pages linked by rel=\"next\" ({len(pages)} pages of "
            f"{[len(p.json['orders']) for p in pages]})", len(pages) >= 2 and len(pages[0].json["orders"]) >= 1
            and not pages[-1].links("next"))
    s.check("every order is listed once, the invalid one not at all",
            sorted(listed) == sorted(made) and dead.location not in listed,
            f"{len(listed)} listed, {len(set(listed))} distinct, {len(made)} made; invalid listed: "
            f"{dead.location in listed}")

    other = s.client()
    r = other.post_as_get(orders_url)
    s.expect_error("another account's kid for this orders list", r, "unauthorized", status=403)
    r = c.post(orders_url, {})
    s.expect_error("the orders list fetched by POST with a payload", r, "malformed", status=400)
    r = c.post_as_get(orders_url + "?cursor=nonsense")
    s.expect_error("an orders list cursor that is not one", r, "malformed", status=400)
    r = other.post_as_get(other.account(expect=(200,), what="account").json["orders"])
    s.check("the other account's own list is empty", r.status == 200 and r.json.get("orders") == [], r.summary())


@test("authorization reuse", needs=("authz_reuse",))
def t_authz_reuse(s: Suite):
    c = s.client()
    name = s.name("reuse")
    _, first = s.ready_order(c, [name])
    authz = first["authorizations"][0]
    r = c.new_order([name], expect=(201,), what="newOrder")
    s.check("a second order for a validated name: ready at once, naming the same authorization",
            r.json.get("status") == "ready" and r.json.get("authorizations") == [authz], r.summary())
    key, csr = make_csr([name])
    f = c.finalize(r.json["finalize"], csr)
    s.check(f"finalize of the order with the reused authorization -> 200 (HTTP {f.status})", f.status == 200,
            f.summary())
    done = c.poll(r.location, ("valid",))
    s.check("it becomes valid with a certificate", done.json.get("status") == "valid"
            and c.download(done.json.get("certificate", "")).status == 200, done.summary())

    w = c.new_order(["*." + name], expect=(201,), what="newOrder")
    s.check("a wildcard of the name is another identifier: a new, pending authorization",
            w.json.get("status") == "pending" and authz not in w.json.get("authorizations", []), w.summary())
    other = s.client()
    o = other.new_order([name], expect=(201,), what="newOrder")
    s.check("another account's order for the name gets its own authorization",
            o.json.get("status") == "pending" and authz not in o.json.get("authorizations", []), o.summary())
    c.deactivate_authorization(authz, expect=(200,), what="deactivate authorization")
    d = c.new_order([name], expect=(201,), what="newOrder")
    s.check("once deactivated, the authorization is not reused",
            d.json.get("status") == "pending" and authz not in d.json.get("authorizations", []), d.summary())


@test("profile and validity in newOrder", needs=("profile",))
def t_profile(s: Suite):
    c = s.client()
    r = c.new_order([s.name("prof")], profile="server")
    s.check(f"newOrder with profile \"server\" -> 201 and the order echoes it (HTTP {r.status})",
            r.status == 201 and r.json.get("profile") == "server", r.summary())
    r = c.new_order([s.name("prof")], profile="no-such-profile")
    s.expect_error("newOrder with an unknown profile", r, ("invalidProfile", "malformed"))
    try:
        res = s.issue(c, [s.name("prof")], profile="server")
        eku = res.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        s.check("a certificate under profile server has serverAuth", ExtendedKeyUsageOID.SERVER_AUTH in eku, str(eku))
    except (AcmeError, TimeoutError) as e:
        s.not_ok("issuance under profile server", str(e))


@test("notAfter in newOrder", needs=("validity",))
def t_validity(s: Suite):
    c = s.client()
    not_after = int(time.time()) + 2 * 3600
    try:
        res = s.issue(c, [s.name("short")], not_after=not_after)
    except (AcmeError, TimeoutError) as e:
        s.not_ok("newOrder with notAfter = now + 2 h", str(e))
        return
    nb, na = cert_lifetime(res.cert)
    s.check(f"newOrder with notAfter = now + 2 h: the certificate ends then (off by {na - not_after:+.0f} s)",
            abs(na - not_after) <= 60, f"notAfter {na}, asked {not_after}")
    s.check("the order echoes notAfter", abs(parse_rfc3339(res.order.get("notAfter", "1970-01-01T00:00:00Z")) -
                                             not_after) <= 1, str(res.order))


@test("Retry-After while processing", needs=("retry_after",))
def t_retry_after(s: Suite):
    c = s.client()
    r = c.new_order([s.name("slow")], expect=(201,))
    order = r.json
    a = c.post_as_get(order["authorizations"][0]).json
    ch = next(x for x in a["challenges"] if x["type"] == "http-01")
    s.responder.add(ch["token"], key_authorization(ch["token"], c.key))
    s.responder.delay(ch["token"], 2.5)   # the validation takes 2.5 s: the authorization stays pending
    c.respond_challenge(ch["url"], expect=(200,))
    time.sleep(0.3)
    r = c.post_as_get(order["authorizations"][0])
    st = (r.json or {}).get("status")
    s.check(f"authorization still pending while the http-01 answer is slow (status {st})", st == "pending", r.summary())
    s.check(f"... and the response carries Retry-After ({r.header('Retry-After')!r})",
            r.retry_after() is not None, r.summary())
    r = c.poll(order["authorizations"][0], ("valid",))
    s.check("the authorization becomes valid after the slow answer", r.json.get("status") == "valid", r.summary())
    s.responder.remove(ch["token"])


# =========================================================================== renewalInfo, replaces

@test("renewalInfo (RFC 9773)", needs=("ari",))
def t_ari(s: Suite):
    c = s.client()
    res = s.issue(c, [s.name("ari")])
    cert = res.cert
    r = c.renewal_info(cert)
    j = r.json or {}
    win = j.get("suggestedWindow") or {}
    ok = s.check(f"renewalInfo GET -> 200 with suggestedWindow start/end (HTTP {r.status})",
                 r.status == 200 and "start" in win and "end" in win, r.summary())
    if ok:
        start, end = parse_rfc3339(win["start"]), parse_rfc3339(win["end"])
        s.check("suggestedWindow start < end", start < end, str(win))
        if r.header("Retry-After") is None:
            print("# note: renewalInfo response without Retry-After (RFC 9773 §4.3: SHOULD)")
        if s.has("ari_defaults"):
            nb, na = cert_lifetime(cert)
            life = na - nb
            lo, hi = nb + life * 2 / 3, nb + life * 3 / 4
            slack = 360  # the 5 minute backdate of notBefore, and rounding
            s.check(f"the window lies between 2/3 and 3/4 of the lifetime "
                    f"(start at {(start - nb) / life:.3f}, end at {(end - nb) / life:.3f} of {life / 3600:.1f} h)",
                    lo - slack <= start and end <= hi + slack, f"window {win}, lifetime {nb}..{na}")
    fake = b64u(secrets.token_bytes(20)) + "." + b64u(b"\x01" + secrets.token_bytes(8))
    r = c.renewal_info(fake)
    s.check(f"renewalInfo for an unknown certificate -> 404 (HTTP {r.status})", r.status == 404, r.summary())
    r = c.renewal_info("not-a-cert-id")
    s.check(f"renewalInfo for a malformed certID -> 400 or 404 (HTTP {r.status})", r.status in (400, 404), r.summary())
    # After revocation, the window is "now".
    rr = c.revoke(cert)
    s.expect_status("revoke the certificate", rr, 200)
    r = c.renewal_info(cert)
    win = (r.json or {}).get("suggestedWindow") or {}
    if s.check(f"renewalInfo after revocation -> 200 with a window (HTTP {r.status})",
               r.status == 200 and "start" in win, r.summary()) and s.has("ari_defaults"):
        start = parse_rfc3339(win["start"])
        s.check(f"after revocation the window starts now or earlier (start - now = {start - time.time():+.0f} s)",
                start <= time.time() + 5, str(win))


@test("replaces (RFC 9773 §5)", needs=("ari",))
def t_replaces(s: Suite):
    a = s.client()
    b = s.client()
    name = s.name("repl")
    res = s.issue(a, [name])
    cid = ari_cert_id(res.cert)
    # Another account may not replace a's certificate (even for the same name, once authorized).
    r = b.new_order([name], replaces=cid)
    s.expect_error("replaces naming another account's certificate", r, ("unauthorized", "malformed"))
    r = a.new_order([name], replaces="not-a-cert-id")
    s.expect_error("replaces with a malformed certID", r, "malformed")
    r = a.new_order([name], replaces=cid)
    if not s.check(f"replaces naming the account's own certificate -> 201, the order echoes it (HTTP {r.status})",
                   r.status == 201 and r.json.get("replaces") == cid, r.summary()):
        return
    first = r.location
    r = a.new_order([name], replaces=cid)
    s.expect_error("a second order replacing the same certificate", r, ("alreadyReplaced", "conflict"))
    s.check("state: the first replacing order is untouched (pending/ready)",
            s.order_status(a, first) in ("pending", "ready"), str(s.order_status(a, first)))
    # The first replacement completes.
    try:
        a.authorize(a.post_as_get(first).json, s.responder)
        o = a.poll(first, ("ready",))
        _, csr = make_csr([name])
        a.finalize(o.json["finalize"], csr, expect=(200,))
        o = a.poll(first, ("valid",))
        s.check("the replacing order completes", o.json.get("status") == "valid", o.summary())
    except (AcmeError, TimeoutError) as e:
        s.not_ok("the replacing order completes", str(e))


# =========================================================================== revocation

def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + content


def extension_bomb(key, count: int) -> bytes:
    """A certificate with `count` distinct private extensions (1.3.6.1.4.1.55555.i), signed by
    the EC P-256 `key`: what anyone may send to revokeCert, no account needed."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    alg = _der(0x30, _der(0x06, bytes.fromhex("2a8648ce3d040302")))  # ecdsa-with-SHA256
    name = _der(0x30, _der(0x31, _der(0x30, _der(0x06, b"\x55\x04\x03") + _der(0x0C, b"bomb.example"))))
    validity = _der(0x30, _der(0x17, b"300101000000Z") + _der(0x17, b"300102000000Z"))
    exts = b"".join(
        _der(0x30, _der(0x06, bytes.fromhex("2b0601040183b203")
                        + bytes([0x80 | ((i >> 14) + 1), 0x80 | ((i >> 7) & 0x7F), i & 0x7F]))
             + _der(0x04, b"\x05\x00"))
        for i in range(count))
    tbs = _der(0x30, _der(0xA0, _der(0x02, b"\x02")) + _der(0x02, b"\x4e\x01") + alg + name + validity + name + spki
               + _der(0xA3, _der(0x30, exts)))
    sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _der(0x30, tbs + alg + _der(0x03, b"\x00" + sig))


@test("revocation")
def t_revocation(s: Suite):
    a = s.client()
    b = s.client()
    c1 = s.issue(a, [s.name("rev1")])
    c2 = s.issue(a, [s.name("rev2")])
    # Refused attempts first; each must leave the certificate unrevoked.
    r = a.revoke(c1.cert, reason=7)
    s.expect_error("revocation with reason 7 (unused)", r, "badRevocationReason")
    r = a.revoke(c1.cert, cert_key=new_cert_key())
    s.expect_error("revocation signed by an unrelated key (jwk)", r, "unauthorized")
    if s.has("revoke_foreign"):
        r = b.revoke(c1.cert)
        s.expect_error("revocation by another account without authorizations for the names", r, "unauthorized")
    r = a.revoke(c1.cert)
    s.check(f"state: the refusals revoked nothing: revocation by the account (kid) -> 200 (HTTP {r.status})",
            r.status == 200, r.summary())
    r = a.revoke(c1.cert)
    s.expect_error("revoking the same certificate again", r, "alreadyRevoked")
    r = a.revoke(c2.cert, reason=1, cert_key=c2.cert_key)
    s.check(f"revocation signed by the certificate's own key (jwk), reason keyCompromise -> 200 (HTTP {r.status})",
            r.status == 200, r.summary())
    r = a.revoke(c2.cert)
    s.expect_error("revoking it again by the account", r, "alreadyRevoked")
    r = a.revoke(c2.cert, cert_key=c2.cert_key)
    s.expect_error("revoking it again by the certificate key", r, "alreadyRevoked")
    if s.has("revoke_size_limit"):
        # 25,000 extensions, ~475 KB: still inside the default 1 MiB body once base64url'd twice.
        bomb_key = new_cert_key()
        bomb = extension_bomb(bomb_key, 25_000)
        r = a.revoke(bomb, cert_key=bomb_key)
        if s.expect_error(f"revocation of a {len(bomb)}-octet certificate (25,000 extensions) signed by a fresh key",
                          r, "malformed"):
            detail = r.json.get("detail", "")
            s.check("  refused for its size, before parsing", "larger than any this CA issues" in detail, detail)


# =========================================================================== negative tests

@test("negative: JWS, nonces, urls, keys")
def t_negative_jws(s: Suite):
    n = s.client()
    other = s.client()
    contact0 = [f"mailto:neg-{secrets.token_hex(3)}@{s.args.zone}"]
    n.update_account(contact=contact0, expect=(200,))
    order_url, order = s.ready_order(n, [s.name("neg")])

    def unchanged(what: str, want_contact):
        st = s.account_state(n)
        s.check(f"  state after {what}: account valid, contact unchanged",
                st[0] == 200 and st[1] == "valid" and list(st[2]) == want_contact, str(st))

    def still_ready(what: str):
        st = s.order_status(n, order_url)
        s.check(f"  state after {what}: the order is still ready", st == "ready", str(st))

    # -- replayed nonce
    nonce = n.take_nonce()
    first = n.sign(n.account_url, {"contact": [f"mailto:replay-1@{s.args.zone}"]}, nonce=nonce)
    s.expect_status("account update with nonce N", n.post_raw(n.account_url, first), 200)
    c2 = [f"mailto:replay-2@{s.args.zone}"]
    n.update_account(contact=c2, expect=(200,))
    r = n.post_raw(n.account_url, first)
    s.expect_error("the same JWS again (replayed nonce)", r, "badNonce", status=400)
    unchanged("the replay", c2)
    r = n.post(order["finalize"], {"csr": b64u(make_csr([order["identifiers"][0]["value"]])[1])},
               nonce="AAAA" + b64u(secrets.token_bytes(16)), retry_bad_nonce=False)
    s.expect_error("finalize with a nonce the server never issued", r, "badNonce", status=400)
    still_ready("the unknown nonce")
    r = n.post(n.account_url, {"contact": [f"mailto:nononce@{s.args.zone}"]}, protected={"nonce": None},
               retry_bad_nonce=False)
    s.expect_error("a JWS without a nonce", r, "badNonce")
    unchanged("the missing nonce", c2)

    # -- url
    r = n.post(n.account_url, {"contact": [f"mailto:url@{s.args.zone}"]}, protected={"url": n.url("newOrder")})
    s.expect_error("url header differs from the request URL (account update)", r, "unauthorized", lenient="malformed")
    unchanged("the url mismatch", c2)
    r = n.post(order["finalize"], {"csr": b64u(make_csr([order["identifiers"][0]["value"]])[1])},
               protected={"url": order_url})
    s.expect_error("url header differs from the request URL (finalize)", r, "unauthorized", lenient="malformed")
    still_ready("the url mismatch")
    r = n.post(n.account_url, {"contact": [f"mailto:nourl@{s.args.zone}"]}, protected={"url": None})
    s.expect_error("a JWS without a url header", r, ("malformed", "unauthorized"))
    unchanged("the missing url", c2)

    # -- bad signature
    def flip(body: dict) -> dict:
        raw = bytearray(b64u_decode(body["signature"]))
        raw[len(raw) // 2] ^= 0x55
        body = dict(body)
        body["signature"] = b64u(bytes(raw))
        return body
    r = n.post(n.account_url, {"contact": [f"mailto:sig@{s.args.zone}"]}, mutate=flip)
    s.expect_error("a bad signature (account update)", r, "malformed")
    unchanged("the bad signature", c2)
    r = n.post(order["finalize"], {"csr": b64u(make_csr([order["identifiers"][0]["value"]])[1])}, mutate=flip)
    s.expect_error("a bad signature (finalize)", r, "malformed")
    still_ready("the bad signature")
    if s.has("nonce_after_signature"):
        # A forged request carrying someone's fresh nonce must not spend it: the nonce is
        # redeemed only once the signature verifies.
        nonce = n.take_nonce()
        r = n.post(n.account_url, {"contact": [f"mailto:sig2@{s.args.zone}"]}, nonce=nonce, mutate=flip,
                   retry_bad_nonce=False)
        s.expect_error("a bad signature carrying a fresh nonce N", r, "malformed")
        r = n.post(n.account_url, {"contact": c2}, nonce=nonce, retry_bad_nonce=False)
        s.expect_status("  the owner's request with the same nonce N afterwards is accepted", r, 200)
        unchanged("the forged request", c2)

    def payload_swap(body: dict) -> dict:
        body = dict(body)
        body["payload"] = b64u(compact_json({"contact": [f"mailto:swapped@{s.args.zone}"]}))
        return body
    r = n.post(n.account_url, {"contact": [f"mailto:orig@{s.args.zone}"]}, mutate=payload_swap)
    s.expect_error("a payload changed after signing", r, "malformed")
    unchanged("the changed payload", c2)

    # -- algorithms
    cases = [
        ("alg none, empty signature", {"alg": "none"}, lambda data: b""),
        ("alg HS256 (MAC keyed with the account's thumbprint)", {"alg": "HS256"},
         lambda data: hmac.new(n.key.thumbprint().encode(), data, hashlib.sha256).digest()),
        ("an unknown alg (XS999)", {"alg": "XS999"}, None),
        ("alg RS256 on an EC key", {"alg": "RS256"}, None),
    ]
    for desc, prot, signer in cases:
        r = n.post(n.account_url, {"contact": [f"mailto:alg@{s.args.zone}"]}, protected=prot, signer=signer)
        types = ("badSignatureAlgorithm", "malformed") if "on an EC key" in desc else "badSignatureAlgorithm"
        if s.expect_error(desc, r, types, lenient="malformed") and s.has("algorithms_field") and r.error == "badSignatureAlgorithm":
            algs = (r.json or {}).get("algorithms")
            s.check("  the problem lists the supported algorithms (RFC 8555 §6.2)",
                    isinstance(algs, list) and "ES256" in algs, str(r.json))
        unchanged(desc, c2)

    # -- kid / jwk
    oc0 = s.contact_of(other)
    r = n.post(other.account_url, {"contact": [f"mailto:hijack@{s.args.zone}"]}, kid=other.account_url)
    s.expect_error("kid of another account (signed by this account's key)", r, ("unauthorized", "malformed"))
    s.check("  state: the other account's contact is unchanged", s.contact_of(other) == oc0, str(s.contact_of(other)))
    r = other.post(n.account_url, {"contact": [f"mailto:hijack@{s.args.zone}"]})
    if s.has("foreign_url_refused"):
        s.expect_error("an account updating another account's URL (its own valid kid)", r, "unauthorized")
    unchanged("the foreign update", c2)
    # Another account's resource: unauthorized, or 404 (as if it did not exist, like Boulder).
    r = other.post_as_get(order_url)
    s.expect_foreign("POST-as-GET of another account's order", r)
    r = other.finalize(order["finalize"], make_csr([order["identifiers"][0]["value"]])[1])
    s.expect_foreign("finalize of another account's order", r)
    still_ready("the foreign finalize")
    r = n.post(order["finalize"], {"csr": b64u(make_csr([order["identifiers"][0]["value"]])[1])}, use_jwk=True)
    s.expect_error("jwk where kid is required (finalize)", r, "malformed")
    still_ready("jwk instead of kid")
    r = n.post_as_get(n.account_url, use_jwk=True)
    s.expect_error("jwk where kid is required (POST-as-GET account)", r, "malformed")
    fresh = s.client(register=False)
    r = n.post(n.url("newAccount"), {"termsOfServiceAgreed": True, "contact": [f"mailto:kid@{s.args.zone}"]})
    s.expect_error("kid where jwk is required (newAccount, signed by the account's own key)", r, "malformed")
    unchanged("kid instead of jwk", c2)
    r = fresh.post(fresh.url("newAccount"), {"termsOfServiceAgreed": True}, use_jwk=True,
                   protected={"kid": n.account_url})
    s.expect_error("both jwk and kid (newAccount)", r, "malformed")
    s.expect_error("  state: no account for that key", fresh.new_account(only_return_existing=True, tos=None),
                   "accountDoesNotExist")
    r = n.post_as_get(n.account_url, kid=n.account_url.rstrip("/") + "-nope")
    s.expect_error("kid naming no account", r, ("accountDoesNotExist", "unauthorized", "malformed"))

    # -- bad public keys in newAccount
    if s.has("weak_account_key"):
        weak = AcmeClient(s.args.directory, s.args.ca, AccountKey.generate("RS256", rsa_bits=1024),
                          observer=s.observe(s.args.directory))
        r = weak.new_account(contact=[f"mailto:weak@{s.args.zone}"])
        s.expect_error("newAccount with an RSA-1024 key", r, "badPublicKey")
        s.check("  state: no account (no Location)", r.location is None, r.summary())
    if s.has("invalid_jwk"):
        k = AccountKey.generate("ES256")
        bad = k.jwk()
        y = bytearray(b64u_decode(bad["y"]))
        y[-1] ^= 1
        bad["y"] = b64u(bytes(y))
        r = fresh.post(fresh.url("newAccount"), {"termsOfServiceAgreed": True}, key=k, use_jwk=True,
                       protected={"jwk": bad})
        s.expect_error("newAccount with a JWK whose point is not on P-256", r, ("badPublicKey", "malformed"))
        s.check("  state: no account (no Location)", r.location is None, r.summary())
    r = fresh.post(fresh.url("newAccount"), {"termsOfServiceAgreed": True}, use_jwk=True,
                   protected={"jwk": {"kty": "oct", "k": b64u(b"secret")}})
    s.expect_error("newAccount with a symmetric (oct) JWK", r, ("badPublicKey", "malformed", "badSignatureAlgorithm"))


@test("negative: orders, finalize, validation")
def t_negative_orders(s: Suite):
    n = s.client()
    name = s.name("negord")
    order_url, order = s.ready_order(n, [name])

    def still_ready(what):
        st = s.order_status(n, order_url)
        s.check(f"  state after {what}: the order is still ready", st == "ready", str(st))

    _, csr = make_csr([name, s.name("extra")])
    s.expect_error("finalize with a CSR naming an extra name", n.finalize(order["finalize"], csr), "badCSR",
                   lenient="unauthorized")
    still_ready("the extra name")
    if s.has("csr_subset"):
        n2, n3 = s.name("sub-a"), s.name("sub-b")
        url2, order2 = s.ready_order(n, [n2, n3])
        _, csr = make_csr([n2])
        s.expect_error("finalize with a CSR missing one of the order's names", n.finalize(order2["finalize"], csr),
                       "badCSR", lenient="unauthorized")
        s.check("  state: that order is still ready", s.order_status(n, url2) == "ready")
    if s.has("weak_csr_key"):
        _, csr = make_csr([name], key=new_cert_key("rsa1024"))
        s.expect_error("finalize with a CSR whose key is RSA-1024", n.finalize(order["finalize"], csr),
                       ("badCSR", "badPublicKey"))
        still_ready("the weak CSR key")
    if s.has("csr_signature"):
        mangled = bytearray(make_csr([name])[1])
        mangled[-5] ^= 0xFF   # inside the signature's s
        s.expect_error("finalize with a CSR whose signature is broken", n.finalize(order["finalize"], bytes(mangled)),
                       ("badCSR", "malformed"))
        still_ready("the broken CSR")
    r = n.post(order["finalize"], {"csr": "!!not base64url!!"})
    s.expect_error("finalize with a csr that is not base64url", r, ("malformed", "badCSR"))
    still_ready("the undecodable CSR")

    pending = n.new_order([s.name("notready")], expect=(201,))
    r = n.finalize(pending.json["finalize"], make_csr([pending.json["identifiers"][0]["value"]])[1])
    s.expect_error("finalize before the order is ready", r, "orderNotReady", status=403)
    s.check("  state: that order is still pending", s.order_status(n, pending.location) == "pending")

    # Pebble refuses no name by policy; an illegal character is the nearest it has (malformed).
    outside = s.args.outside_name or (f"outside-{secrets.token_hex(3)}.example.com" if s.args.peer != "pebble"
                                      else f"outside_{secrets.token_hex(3)}.example.com")
    inside = s.name("inside")
    r = n.new_order([inside, outside])
    if s.expect_error(f"newOrder for a name outside policy ({outside})", r, "rejectedIdentifier", lenient="malformed"):
        if s.has("subproblems"):
            subs = (r.json or {}).get("subproblems") or []
            named = [p for p in subs if (p.get("identifier") or {}).get("value") == outside
                     and p.get("type", "").startswith(ERROR_PREFIX)]
            s.check("  the problem has a subproblem naming that identifier (RFC 8555 §6.7.1)", named, str(r.json))
            s.check("  ... and none naming the allowed one",
                    not [p for p in subs if (p.get("identifier") or {}).get("value") == inside], str(subs))
    s.check("  state: no order (no Location)", r.location is None, r.summary())
    r = n.new_order(identifiers=[{"type": "email", "value": f"x@{s.args.zone}"}])
    s.expect_error("newOrder with an identifier type that is not dns/ip", r,
                   ("unsupportedIdentifier", "rejectedIdentifier"), lenient="malformed")
    r = n.new_order(identifiers=[])
    s.expect_error("newOrder without identifiers", r, ("malformed", "rejectedIdentifier"))

    # Validation against a name that resolves to nothing.
    nx = f"h{secrets.token_hex(3)}.nx.{s.args.zone}"
    validate_fail(s, n, nx, ("dns",), "a name with no address (NXDOMAIN)", lenient=("connection",))
    if s.has("forbidden"):
        watcher = Http01Responder(s.args.http01_port, host=s.args.forbidden_address).start()
        try:
            validate_fail(s, n, f"forbidden.{s.args.zone}", ("rejectedIdentifier", "connection"),
                          f"a name resolving to a forbidden address ({s.args.forbidden_address})", watcher)
            s.check(f"  nothing connected to {s.args.forbidden_address}:{s.args.http01_port}",
                    not watcher.log, str(watcher.log[:3]))
        finally:
            watcher.stop()

    _, csr = make_csr([name])
    r = n.finalize(order["finalize"], csr)
    s.check(f"state: after all the refusals the order finalizes with the right CSR (HTTP {r.status})",
            r.status == 200, r.summary())
    r = n.poll(order_url, ("valid",))
    s.check("... and becomes valid", r.json.get("status") == "valid", r.summary())


def validate_fail(s: Suite, c: AcmeClient, name: str, types: tuple, desc: str, watcher=None, lenient=()):
    if not s.has("rfc_error_types"):
        types = tuple(types) + tuple(lenient)
    r = c.new_order([name])
    if not s.expect_status(f"newOrder for {name} ({desc})", r, 201):
        return
    order_url, order = r.location, r.json
    authz_url = order["authorizations"][0]
    a = c.post_as_get(authz_url).json
    ch = next(x for x in a["challenges"] if x["type"] == "http-01")
    ka = key_authorization(ch["token"], c.key)
    s.responder.add(ch["token"], ka)
    if watcher:
        watcher.add(ch["token"], ka)
    c.respond_challenge(ch["url"], expect=(200,))
    try:
        r = c.poll(authz_url, ("valid", "invalid"))
    except (AcmeError, TimeoutError) as e:
        s.not_ok(f"validation of {name} ends", str(e))
        return
    finally:
        s.responder.remove(ch["token"])
    aj = r.json
    s.check(f"validation of {desc}: the authorization becomes invalid", aj.get("status") == "invalid", r.summary())
    chj = next((x for x in aj.get("challenges", []) if x.get("type") == "http-01"), {})
    err = chj.get("error") or {}
    et = err.get("type", "")
    short = et[len(ERROR_PREFIX):] if et.startswith(ERROR_PREFIX) else et
    s.check(f"  the challenge is invalid with error {short or None} (want {' or '.join(types)})",
            chj.get("status") == "invalid" and short in types, str(chj))
    st = s.order_status(c, order_url)
    s.check(f"  the order is invalid ({st})", st == "invalid", str(st))


# =========================================================================== restart

@test("restart between validation and finalize", needs=("restart",))
def t_restart(s: Suite):
    if not s.args.restart_cmd:
        s.not_ok("restart: --restart-cmd is needed")
        return
    c = s.client()
    name = s.name("restart")
    order_url, order = s.ready_order(c, [name])
    stale = c.new_nonce()
    stale2 = c.new_nonce()
    t0 = time.monotonic()
    p = subprocess.run(s.args.restart_cmd, shell=True, capture_output=True, text=True, timeout=180)
    if not s.check(f"restart command exits 0 ({time.monotonic() - t0:.1f} s)", p.returncode == 0,
                   f"exit {p.returncode}: {p.stdout[-500:]} {p.stderr[-500:]}"):
        return
    r = c.post_as_get(order_url, nonce=stale, retry_bad_nonce=False)
    s.expect_error("a nonce issued before the restart", r, "badNonce", status=400)
    s.check(f"after the restart the account is valid and the order still ready ({s.order_status(c, order_url)})",
            s.account_state(c)[:2] == (200, "valid") and s.order_status(c, order_url) == "ready")
    c.nonces = [stale2]        # the next request uses a pre-restart nonce: badNonce, then a retry
    before = c.bad_nonce_retries
    _, csr = make_csr([name])
    r = c.finalize(order["finalize"], csr)
    s.check(f"finalize after the restart -> 200 (HTTP {r.status}), after one badNonce retry "
            f"({c.bad_nonce_retries - before})", r.status == 200 and c.bad_nonce_retries - before == 1, r.summary())
    r = c.poll(order_url, ("valid",))
    if s.check("the order becomes valid", r.json.get("status") == "valid", r.summary()):
        d = c.download(r.json["certificate"])
        chain = load_chain(d.body) if d.status == 200 else []
        s.check("the certificate downloads and names the order's identifier", chain and name in [
            v for v in chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            .get_values_for_type(x509.DNSName)], d.summary())


# =========================================================================== header sweep

def sweep(s: Suite):
    """Every response seen in the run: Replay-Nonce (POST and newNonce), Link rel=index (all but
    the directory and renewalInfo), problem+json on errors, and no nonce issued twice."""
    no_nonce, no_index, not_problem, seen, dup = [], [], [], {}, []
    for test_name, r, directory in s.responses:
        is_dir = r.url == directory
        is_ari = "renewal" in r.url.lower() and r.method == "GET"
        nonce_ep = r.method in ("HEAD", "GET") and r.url in s.nonce_urls
        if r.method == "POST" or nonce_ep:
            if not r.nonce and (r.status < 400 or s.has("nonce_on_errors")):
                no_nonce.append(f"[{test_name}] {r.method} {r.url} -> {r.status}")
        if r.nonce:
            if r.nonce in seen:
                dup.append(f"{r.nonce} ({seen[r.nonce]} and {r.method} {r.url})")
            seen[r.nonce] = f"{r.method} {r.url}"
        if not is_dir and not is_ari and directory not in r.links("index"):
            no_index.append(f"[{test_name}] {r.method} {r.url} -> {r.status} Link: {r.header_all('Link')}")
        if r.status >= 400 and not r.is_problem:
            not_problem.append(f"[{test_name}] {r.method} {r.url} -> {r.status} {r.header('Content-Type')}")
    total = len(s.responses)
    posts = sum(1 for _, r, _ in s.responses if r.method == "POST")
    nonce_gets = sum(1 for _, r, _ in s.responses if r.method in ("HEAD", "GET") and r.url in s.nonce_urls)
    s.check(f"headers: Replay-Nonce on every POST response{' (errors included)' if s.has('nonce_on_errors') else ''}"
            f" ({posts}) and newNonce response ({nonce_gets})", not no_nonce and nonce_gets > 0, "\n".join(no_nonce[:8]))
    s.check(f"headers: no nonce handed out twice ({len(seen)} nonces)", not dup, "\n".join(dup[:5]))
    s.check(f"headers: Link rel=\"index\" to the directory on every response but the directory ({total} responses)",
            not no_index, "\n".join(no_index[:8]))
    s.check("headers: every error is application/problem+json", not not_problem, "\n".join(not_problem[:8]))
    if s.has("retry_after"):
        processing = [(t, r) for t, r, _ in s.responses
                      if r.status == 200 and isinstance(r.json, dict) and r.json.get("status") == "processing"
                      and "finalize" in r.json]
        bad = [f"[{t}] {r.url}" for t, r in processing if r.retry_after() is None]
        s.check(f"headers: every processing order carries Retry-After ({len(processing)} seen)", not bad,
                "\n".join(bad[:5]))


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
