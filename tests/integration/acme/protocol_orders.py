"""test_protocol.py: issuance and orders (orders list, authorization reuse, profile, validity,
Retry-After), renewalInfo and replaces (RFC 9773), and revocation."""

from __future__ import annotations

import os
import secrets
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_client import (PEM_CHAIN, AcmeError, ari_cert_id, b64u, cert_lifetime, key_authorization,  # noqa: E402
                         load_chain, make_csr, new_cert_key, parse_rfc3339)
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: E402
from protocol_suite import Suite, test  # noqa: E402


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
