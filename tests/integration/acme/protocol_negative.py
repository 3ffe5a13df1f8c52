"""test_protocol.py: negative tests (JWS, nonces, URLs, keys; orders, finalize, validation), the
restart test, and the sweep over every response of the run."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_client import (ERROR_PREFIX, AccountKey, AcmeClient, AcmeError, Http01Responder, b64u, b64u_decode,  # noqa: E402
                         compact_json, key_authorization, load_chain, make_csr, new_cert_key)
from cryptography import x509  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
from protocol_suite import Suite, test  # noqa: E402


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
