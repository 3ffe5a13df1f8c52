"""test_protocol.py: the directory, nonces and accounts (key types, keyChange, deactivation,
external account binding), and ip identifiers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_client import AccountKey, AcmeClient, AcmeError, b64u, compact_json, eab_jws  # noqa: E402
from cryptography import x509  # noqa: E402
from protocol_suite import Suite, test  # noqa: E402


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
    # cert-manager's lookup (RFC 8555 §7.3.1): onlyReturnExisting, no EAB, on a server that requires EAB.
    r = c.new_account(only_return_existing=True, tos=None)
    s.check(f"onlyReturnExisting without EAB on an EAB server -> 200, the bound account (HTTP {r.status})",
            r.status == 200 and r.location == c.account_url, r.summary())
    s.check("  its body is the account (status valid)", isinstance(r.json, dict) and r.json.get("status") == "valid",
            r.summary())
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
