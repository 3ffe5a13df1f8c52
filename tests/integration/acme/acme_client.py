"""An ACME client for tests and benchmarks: RFC 8555 (with RFC 8738 IP identifiers) and
RFC 9773 renewal information, spoken directly on the wire (HTTP/1.1 over TLS, flattened JWS
JSON). Standard library plus python3-cryptography only (Debian 12: /usr/bin/python3 3.11,
cryptography 38).

It is deliberately small and explicit rather than clever: every request is one method, every
response is kept whole (status, headers, body) so that tests can look at anything, and the
JWS layer can be bent (protected header overrides, a chosen nonce, a mangled signature, an
arbitrary alg, another account's kid) to send the broken requests a server must refuse.

    key = AccountKey.generate("ES256")
    c = AcmeClient("https://localhost:8443/acme/directory", ca_file="root.crt", key=key)
    c.new_account(contact=["mailto:ops@example.internal"])
    with Http01Responder(5002) as http01:
        result = c.issue(["www.example.internal"], http01)
    print(result.cert_pem)

Conventions
- Requests return a `Response`; nothing raises on an HTTP error status unless `expect=` names
  the statuses that are acceptable (then `AcmeError`, which carries the response).
- `post()` takes a nonce from the pool (or a HEAD newNonce), records the Replay-Nonce of every
  response, and retries once on badNonce with the nonce that came with the error.
- `client.observer(response)` (optional) sees every response, for header sweeps.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization

# The names below are this module's interface too (tests and benchmarks import them from here).
from acme_jose import (ERROR_PREFIX, JOSE_JSON, PROBLEM_JSON, PEM_CHAIN, b64u, b64u_decode, compact_json,  # noqa: F401
                       rfc3339, parse_rfc3339, AccountKey, jwk_thumbprint, key_authorization, jws, eab_jws,
                       identifier, new_cert_key, make_csr, load_chain, serial_der_bytes, ari_cert_id,
                       cert_lifetime)
from acme_http import Response, AcmeError, Transport  # noqa: F401


# --------------------------------------------------------------------------- the client

@dataclass
class IssueResult:
    order_url: str
    order: dict
    cert_url: str
    cert_pem: str
    cert_key: Any
    timings: dict = field(default_factory=dict)

    @property
    def cert(self) -> x509.Certificate:
        return load_chain(self.cert_pem)[0]


class AcmeClient:
    """One ACME account's view of a server. Not thread-safe: one client per thread."""

    def __init__(self, directory_url: str, ca_file: Optional[str] = None, key: Optional[AccountKey] = None,
                 timeout: float = 30.0, observer: Optional[Callable[[Response], None]] = None,
                 transport: Optional[Transport] = None, resolve: Optional[dict] = None):
        self.directory_url = directory_url
        self.transport = transport or Transport(ca_file, timeout, resolve)
        self.key = key or AccountKey.generate("ES256")
        self.account_url: Optional[str] = None
        self.observer = observer
        self.nonces: list[str] = []
        self.bad_nonce_retries = 0
        self.poll_interval = 1.0       # when the server sends no Retry-After
        self.honour_retry_after = True
        self.max_retry_after = 10.0    # a server asking for longer gets this (tests stay bounded)
        self._directory: Optional[dict] = None

    # ---- plumbing
    def close(self):
        self.transport.close()

    def _record(self, r: Response) -> Response:
        n = r.header("Replay-Nonce")
        if n:
            self.nonces.append(n)
        if self.observer:
            self.observer(r)
        return r

    def http(self, method: str, url: str, body: Optional[bytes] = None, headers: Optional[dict] = None) -> Response:
        return self._record(self.transport.request(method, url, body, headers))

    @property
    def directory(self) -> dict:
        if self._directory is None:
            r = self.http("GET", self.directory_url)
            if r.status != 200 or not isinstance(r.json, dict):
                raise AcmeError(r, "directory")
            self._directory = r.json
        return self._directory

    def url(self, name: str) -> str:
        u = self.directory.get(name)
        if not u:
            raise KeyError(f"the directory has no {name!r}")
        return u

    def new_nonce(self, method: str = "HEAD") -> str:
        r = self.http(method, self.url("newNonce"))
        n = r.header("Replay-Nonce")
        if not n:
            raise AcmeError(r, "newNonce without Replay-Nonce")
        self.nonces.remove(n)
        return n

    def take_nonce(self) -> str:
        return self.nonces.pop() if self.nonces else self.new_nonce()

    def sign(self, url: str, payload: Any, *, key: Optional[AccountKey] = None, kid: Optional[str] = None,
             use_jwk: bool = False, nonce: Optional[str] = None, protected: Optional[dict] = None,
             signer: Optional[Callable[[bytes], bytes]] = None) -> dict:
        """A flattened JWS for `url`. payload: None (POST-as-GET), a dict/list (JSON) or bytes.
        `protected` overrides header members (a value of None removes the member)."""
        key = key or self.key
        header = {"alg": key.alg, "nonce": nonce if nonce is not None else self.take_nonce(), "url": url}
        if use_jwk:
            header["jwk"] = key.jwk()
        else:
            k = kid or self.account_url
            if not k:
                raise ValueError("no account URL (kid) yet: call new_account() first or pass use_jwk=True")
            header["kid"] = k
        for name, value in (protected or {}).items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        body = None if payload is None else (payload if isinstance(payload, bytes) else compact_json(payload))
        return jws(key, header, body, signer=signer)

    def post_raw(self, url: str, body: Any, content_type: str = JOSE_JSON) -> Response:
        """POSTs exactly this body (a JWS dict is serialised as JSON); no nonce handling beyond
        recording the response's."""
        data = body if isinstance(body, bytes) else compact_json(body)
        return self.http("POST", url, data, {"Content-Type": content_type})

    def post(self, url: str, payload: Any, *, expect: Optional[Iterable[int]] = None, retry_bad_nonce: bool = True,
             what: str = "", mutate: Optional[Callable[[dict], dict]] = None, **sign_kw) -> Response:
        """A signed POST. On badNonce, once more with a fresh nonce. `mutate` may alter the JWS
        dict before it is sent (a mangled signature, say). `expect`: acceptable statuses."""
        r = None
        for attempt in (0, 1):
            body = self.sign(url, payload, **sign_kw)
            if mutate:
                body = mutate(body)
            r = self.post_raw(url, body)
            if r.error == "badNonce" and retry_bad_nonce and attempt == 0 and "nonce" not in (sign_kw.get("protected") or {}):
                self.bad_nonce_retries += 1
                sign_kw.pop("nonce", None)
                continue
            break
        if expect is not None and r.status not in tuple(expect):
            raise AcmeError(r, what or url)
        return r

    def post_as_get(self, url: str, **kw) -> Response:
        return self.post(url, None, **kw)

    # ---- accounts (RFC 8555 §7.3)
    def new_account(self, contact: Optional[list] = None, tos: Optional[bool] = True, only_return_existing: bool = False,
                    eab: Optional[tuple] = None, key: Optional[AccountKey] = None, extra: Optional[dict] = None,
                    **kw) -> Response:
        """eab: (kid, hmac_key_base64url). Sets account_url (and the key, if given) on 200/201."""
        key = key or self.key
        url = self.url("newAccount")
        payload: dict = {}
        if contact is not None:
            payload["contact"] = contact
        if tos is not None:
            payload["termsOfServiceAgreed"] = tos
        if only_return_existing:
            payload["onlyReturnExisting"] = True
        if eab is not None:
            payload["externalAccountBinding"] = eab_jws(eab[0], eab[1], url, key.jwk())
        payload.update(extra or {})
        kw.setdefault("use_jwk", True)
        r = self.post(url, payload, key=key, **kw)
        if r.status in (200, 201) and r.location:
            self.account_url = r.location
            self.key = key
        return r

    def account(self, **kw) -> Response:
        return self.post_as_get(self.account_url, **kw)

    def update_account(self, **fields) -> Response:
        expect = fields.pop("expect", None)
        return self.post(self.account_url, fields, expect=expect)

    def deactivate_account(self, **kw) -> Response:
        return self.post(self.account_url, {"status": "deactivated"}, **kw)

    def key_change_body(self, new_key: AccountKey, *, inner_protected: Optional[dict] = None,
                        inner_payload: Optional[dict] = None) -> bytes:
        """The payload of a keyChange request: the inner JWS (RFC 8555 §7.3.5), signed by new_key."""
        url = self.url("keyChange")
        header = {"alg": new_key.alg, "jwk": new_key.jwk(), "url": url}
        for k, v in (inner_protected or {}).items():
            if v is None:
                header.pop(k, None)
            else:
                header[k] = v
        payload = {"account": self.account_url, "oldKey": self.key.jwk()}
        payload.update(inner_payload or {})
        return compact_json(jws(new_key, header, compact_json(payload)))

    def key_change(self, new_key: AccountKey, *, inner_protected: Optional[dict] = None,
                   inner_payload: Optional[dict] = None, **kw) -> Response:
        """Rolls the account over to new_key; on 200 the client signs with it from then on."""
        body = self.key_change_body(new_key, inner_protected=inner_protected, inner_payload=inner_payload)
        r = self.post(self.url("keyChange"), body, **kw)
        if r.status == 200:
            self.key = new_key
        return r

    # ---- orders (RFC 8555 §7.4)
    def new_order(self, names: Iterable[str] = (), *, identifiers: Optional[list] = None,
                  not_before: Optional[float] = None, not_after: Optional[float] = None,
                  profile: Optional[str] = None, replaces: Optional[str] = None,
                  extra: Optional[dict] = None, **kw) -> Response:
        payload: dict = {"identifiers": identifiers if identifiers is not None else [identifier(n) for n in names]}
        if not_before is not None:
            payload["notBefore"] = rfc3339(not_before)
        if not_after is not None:
            payload["notAfter"] = rfc3339(not_after)
        if profile is not None:
            payload["profile"] = profile
        if replaces is not None:
            payload["replaces"] = replaces
        payload.update(extra or {})
        return self.post(self.url("newOrder"), payload, **kw)

    def respond_challenge(self, challenge_url: str, **kw) -> Response:
        return self.post(challenge_url, {}, **kw)

    def deactivate_authorization(self, authz_url: str, **kw) -> Response:
        return self.post(authz_url, {"status": "deactivated"}, **kw)

    def poll(self, url: str, until: Iterable[str], timeout: float = 30.0,
             interval=None) -> Response:
        """POST-as-GET until the object's status is one of `until` (or a terminal "invalid"),
        sleeping Retry-After (bounded by max_retry_after) or `interval`/poll_interval between
        tries; an `interval` given here wins over Retry-After, and may be a sequence of waits
        (the last one repeats), e.g. (0.005, 0.01, 0.02, 0.05). Raises TimeoutError with the
        last response when time runs out."""
        until = tuple(until)
        deadline = time.monotonic() + timeout
        waits = list(interval) if isinstance(interval, (list, tuple)) else None
        while True:
            r = self.post_as_get(url)
            if r.status >= 400:
                raise AcmeError(r, f"poll {url}")
            status = (r.json or {}).get("status")
            if status in until or status == "invalid":
                return r
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"{url} still {status!r} after {timeout}s: {r.summary()}")
            ra = r.retry_after() if self.honour_retry_after and interval is None else None
            if waits is not None:
                step = waits.pop(0) if len(waits) > 1 else waits[0]
            else:
                step = interval if interval is not None else self.poll_interval
            wait = ra if ra is not None else step
            wait = min(max(wait, 0.0), self.max_retry_after, max(0.0, deadline - now))
            time.sleep(wait)

    def finalize(self, finalize_url: str, csr_der: bytes, **kw) -> Response:
        return self.post(finalize_url, {"csr": b64u(csr_der)}, **kw)

    def download(self, cert_url: str, **kw) -> Response:
        return self.post_as_get(cert_url, **kw)

    # ---- revocation (RFC 8555 §7.6)
    def revoke(self, cert: x509.Certificate | bytes, reason: Optional[int] = None, *,
               cert_key: Any = None, **kw) -> Response:
        """By the account (kid), or, with cert_key (a private key), signed by the certificate's
        own key (jwk)."""
        der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
        payload: dict = {"certificate": b64u(der)}
        if reason is not None:
            payload["reason"] = reason
        if cert_key is not None:
            kw.setdefault("key", cert_key if isinstance(cert_key, AccountKey) else AccountKey.from_private_key(cert_key))
            kw.setdefault("use_jwk", True)
        return self.post(self.url("revokeCert"), payload, **kw)

    # ---- renewal information (RFC 9773)
    def renewal_info(self, cert: x509.Certificate | str) -> Response:
        cert_id = cert if isinstance(cert, str) else ari_cert_id(cert)
        base = self.url("renewalInfo").rstrip("/")
        return self.http("GET", f"{base}/{cert_id}")

    # ---- the whole flow
    def authorize(self, order: dict, responder: "Http01Responder", timeout: float = 30.0,
                  interval=None) -> list[Response]:
        """Answers http-01 for every pending authorization of the order and waits until each
        is valid (AcmeError when one becomes invalid)."""
        pending = []
        for authz_url in order.get("authorizations", []):
            a = self.post_as_get(authz_url, expect=(200,), what="authorization").json
            if a["status"] == "valid":
                continue
            ch = next((c for c in a["challenges"] if c["type"] == "http-01"), None)
            if ch is None:
                raise ValueError(f"no http-01 challenge in {authz_url}")
            responder.add(ch["token"], key_authorization(ch["token"], self.key))
            if ch.get("status", "pending") == "pending":  # else already answered: only wait
                self.respond_challenge(ch["url"], expect=(200,), what="challenge")
            pending.append((authz_url, ch["token"]))
        out = []
        try:
            for authz_url, _ in pending:
                r = self.poll(authz_url, ("valid",), timeout, interval)
                if r.json.get("status") != "valid":
                    raise AcmeError(r, "authorization became invalid")
                out.append(r)
        finally:
            for _, token in pending:
                responder.remove(token)
        return out

    def issue(self, names: Iterable[str], responder: "Http01Responder", *, cert_key=None, csr_names=None,
              timeout: float = 30.0, interval=None, **order_kw) -> IssueResult:
        """newOrder -> http-01 -> finalize -> download. Raises AcmeError/TimeoutError."""
        names = list(names)
        t = {"start": time.monotonic()}
        r = self.new_order(names, expect=(201,), what="newOrder", **order_kw)
        order_url, order = r.location, r.json
        self.authorize(order, responder, timeout, interval)
        t["authorized"] = time.monotonic()
        r = self.poll(order_url, ("ready", "processing", "valid"), timeout, interval)
        if r.json["status"] == "invalid":
            raise AcmeError(r, "order became invalid")
        cert_key, csr = make_csr(csr_names or names, cert_key)
        r = self.finalize(r.json["finalize"], csr, expect=(200,), what="finalize")
        if r.json.get("status") != "valid":
            r = self.poll(order_url, ("valid",), timeout, interval)
            if r.json["status"] != "valid":
                raise AcmeError(r, "order did not become valid")
        t["finalized"] = time.monotonic()
        order = r.json
        c = self.download(order["certificate"], expect=(200,), what="certificate")
        t["downloaded"] = time.monotonic()
        return IssueResult(order_url, order, order["certificate"], c.text, cert_key, t)


# --------------------------------------------------------------------------- http-01 responder

class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Http01Responder:
    """Serves /.well-known/acme-challenge/<token> on host:port from a thread. Tokens live in
    memory, or (store_dir) as files, so that several processes can share one responder.
    `delay(token, s)` holds that token's answers for s seconds; `log` lists (path, peer, time)."""

    PREFIX = "/.well-known/acme-challenge/"

    def __init__(self, port: int, host: str = "127.0.0.1", store_dir: Optional[str] = None):
        self.host, self.port, self.store_dir = host, port, store_dir
        self._tokens: dict = {}
        self._delays: dict = {}
        self._lock = threading.Lock()
        self.log: list = []
        self._server: Optional[_QuietServer] = None
        self._thread: Optional[threading.Thread] = None

    def add(self, token: str, key_auth: str):
        if self.store_dir:
            tmp = os.path.join(self.store_dir, f".{token}.tmp")
            with open(tmp, "w") as f:
                f.write(key_auth)
            os.replace(tmp, os.path.join(self.store_dir, token))
        else:
            with self._lock:
                self._tokens[token] = key_auth

    def remove(self, token: str):
        if self.store_dir:
            try:
                os.unlink(os.path.join(self.store_dir, token))
            except FileNotFoundError:
                pass
        with self._lock:
            self._tokens.pop(token, None)
            self._delays.pop(token, None)

    def delay(self, token: str, seconds: float):
        with self._lock:
            self._delays[token] = seconds

    def lookup(self, token: str) -> Optional[str]:
        with self._lock:
            v = self._tokens.get(token)
        if v is None and self.store_dir and token and "/" not in token and not token.startswith("."):
            try:
                with open(os.path.join(self.store_dir, token)) as f:
                    v = f.read()
            except OSError:
                v = None
        return v

    def requests_for(self, token: str) -> int:
        with self._lock:
            return sum(1 for p, _, _ in self.log if p == self.PREFIX + token)

    def start(self) -> "Http01Responder":
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_GET(self):
                with owner._lock:
                    owner.log.append((self.path, self.client_address[0], time.time()))
                token = self.path[len(owner.PREFIX):] if self.path.startswith(owner.PREFIX) else ""
                with owner._lock:
                    d = owner._delays.get(token, 0)
                if d:
                    time.sleep(d)
                v = owner.lookup(token) if token else None
                if v is None:
                    body, code = b"not found\n", 404
                else:
                    body, code = v.encode("ascii"), 200
                self.send_response(code)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        self._server = _QuietServer((self.host, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"http01-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()
