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

import base64
import calendar
import email.utils
import hashlib
import hmac
import http.client
import http.server
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

ERROR_PREFIX = "urn:ietf:params:acme:error:"
JOSE_JSON = "application/jose+json"
PROBLEM_JSON = "application/problem+json"
PEM_CHAIN = "application/pem-certificate-chain"


# --------------------------------------------------------------------------- encodings

def b64u(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode("utf-8")


def _int_bytes(n: int, length: Optional[int] = None) -> bytes:
    if length is None:
        length = max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(length, "big")


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_rfc3339(text: str) -> float:
    """RFC 3339 date-time -> seconds since the epoch (fractions and offsets allowed)."""
    import datetime
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    # Python 3.11's fromisoformat accepts any number of fractional digits only from 3.11 on.
    dt = datetime.datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


# --------------------------------------------------------------------------- keys and JWS

class AccountKey:
    """An account (or certificate) key with its JWS algorithm: ES256, ES384, RS256 or EdDSA."""

    ALGS = ("ES256", "ES384", "RS256", "EdDSA")

    def __init__(self, private_key, alg: str):
        self.private_key = private_key
        self.alg = alg

    @classmethod
    def generate(cls, alg: str = "ES256", rsa_bits: int = 2048) -> "AccountKey":
        if alg == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()), alg)
        if alg == "ES384":
            return cls(ec.generate_private_key(ec.SECP384R1()), alg)
        if alg == "ES512":
            return cls(ec.generate_private_key(ec.SECP521R1()), alg)
        if alg == "RS256":
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits), alg)
        if alg == "EdDSA":
            return cls(ed25519.Ed25519PrivateKey.generate(), alg)
        raise ValueError(f"unsupported account key algorithm {alg}")

    @classmethod
    def from_private_key(cls, private_key) -> "AccountKey":
        """The natural JWS alg for a cryptography private key (a certificate's key, say)."""
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            alg = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[private_key.curve.name]
        elif isinstance(private_key, rsa.RSAPrivateKey):
            alg = "RS256"
        elif isinstance(private_key, ed25519.Ed25519PrivateKey):
            alg = "EdDSA"
        else:
            raise ValueError(f"unsupported key {type(private_key).__name__}")
        return cls(private_key, alg)

    @property
    def public_key(self):
        return self.private_key.public_key()

    def jwk(self) -> dict:
        """The public JWK (RFC 7517/7518/8037), members in thumbprint order."""
        pub = self.public_key
        if isinstance(pub, ec.EllipticCurvePublicKey):
            size = (pub.curve.key_size + 7) // 8
            nums = pub.public_numbers()
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
            return {"crv": crv, "kty": "EC", "x": b64u(_int_bytes(nums.x, size)), "y": b64u(_int_bytes(nums.y, size))}
        if isinstance(pub, rsa.RSAPublicKey):
            nums = pub.public_numbers()
            return {"e": b64u(_int_bytes(nums.e)), "kty": "RSA", "n": b64u(_int_bytes(nums.n))}
        if isinstance(pub, ed25519.Ed25519PublicKey):
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}
        raise ValueError("unsupported key")

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
        return jwk_thumbprint(self.jwk())

    def sign(self, data: bytes) -> bytes:
        k = self.private_key
        if isinstance(k, ec.EllipticCurvePrivateKey):
            h = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}[self.alg]
            r, s = decode_dss_signature(k.sign(data, ec.ECDSA(h)))
            size = (k.curve.key_size + 7) // 8
            return _int_bytes(r, size) + _int_bytes(s, size)
        if isinstance(k, rsa.RSAPrivateKey):
            return k.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if isinstance(k, ed25519.Ed25519PrivateKey):
            return k.sign(data)
        raise ValueError("unsupported key")

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())


def jwk_thumbprint(jwk: dict) -> str:
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = compact_json({k: jwk[k] for k in required})
    return b64u(hashlib.sha256(canonical).digest())


def key_authorization(token: str, key: AccountKey) -> str:
    return f"{token}.{key.thumbprint()}"


def jws(key: Optional[AccountKey], protected: dict, payload: Optional[bytes],
        signer: Optional[Callable[[bytes], bytes]] = None) -> dict:
    """A flattened JWS JSON object. payload None means the empty payload (POST-as-GET).
    `signer` replaces the key's own signature (for alg none/HS256 and other forgeries)."""
    p64 = b64u(compact_json(protected))
    body64 = "" if payload is None else b64u(payload)
    signing_input = f"{p64}.{body64}".encode("ascii")
    sig = signer(signing_input) if signer is not None else key.sign(signing_input)
    return {"protected": p64, "payload": body64, "signature": b64u(sig)}


def eab_jws(eab_kid: str, hmac_key_b64u: str, url: str, account_jwk: dict) -> dict:
    """RFC 8555 §7.3.4 externalAccountBinding: HS256 over the account's public JWK."""
    protected = {"alg": "HS256", "kid": eab_kid, "url": url}
    mac_key = b64u_decode(hmac_key_b64u)
    return jws(None, protected, compact_json(account_jwk),
               signer=lambda data: hmac.new(mac_key, data, hashlib.sha256).digest())


# --------------------------------------------------------------------------- certificates

def identifier(value: str) -> dict:
    """{"type": "ip"|"dns", "value": ...}: IP literals become ip identifiers (RFC 8738)."""
    try:
        ipaddress.ip_address(value)
        return {"type": "ip", "value": value}
    except ValueError:
        return {"type": "dns", "value": value}


def new_cert_key(kind: str = "ec256"):
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:] or 2048))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def make_csr(names: Iterable[str], key=None, common_name: Optional[str] = None) -> tuple[Any, bytes]:
    """(private key, CSR DER) with every name as a SAN (DNS or IP) and the first as CN."""
    names = list(names)
    key = key or new_cert_key()
    sans = []
    for n in names:
        ident = identifier(n)
        sans.append(x509.IPAddress(ipaddress.ip_address(n)) if ident["type"] == "ip" else x509.DNSName(n))
    builder = x509.CertificateSigningRequestBuilder()
    cn = common_name if common_name is not None else (names[0] if names and identifier(names[0])["type"] == "dns" else None)
    builder = builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(key, algo)
    return key, csr.public_bytes(serialization.Encoding.DER)


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode() if isinstance(pem, str) else pem
    out, marker = [], b"-----BEGIN CERTIFICATE-----"
    for part in data.split(marker)[1:]:
        out.append(x509.load_pem_x509_certificate(marker + part))
    return out


def serial_der_bytes(serial: int) -> bytes:
    """The content octets of the DER INTEGER encoding of a (positive) serial number."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def ari_cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial DER content octets)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    return f"{b64u(aki)}.{b64u(serial_der_bytes(cert.serial_number))}"


def cert_lifetime(cert: x509.Certificate) -> tuple[float, float]:
    nb = calendar.timegm(cert.not_valid_before.timetuple())
    na = calendar.timegm(cert.not_valid_after.timetuple())
    return float(nb), float(na)


# --------------------------------------------------------------------------- HTTP

@dataclass
class Response:
    method: str
    url: str
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    request_body: Optional[bytes] = None
    _json: Any = field(default=None, repr=False)

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def json(self) -> Any:
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8")) if self.body else None
            except (ValueError, UnicodeDecodeError):
                self._json = None
        return self._json

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def is_problem(self) -> bool:
        return self.content_type == PROBLEM_JSON

    @property
    def problem_type(self) -> Optional[str]:
        """The full problem type URN of an error response, or None."""
        j = self.json
        if self.status >= 400 and isinstance(j, dict) and isinstance(j.get("type"), str):
            return j["type"]
        return None

    @property
    def error(self) -> Optional[str]:
        """The ACME error type without its URN prefix ("badNonce"), or the full type otherwise."""
        t = self.problem_type
        if t is None:
            return None
        return t[len(ERROR_PREFIX):] if t.startswith(ERROR_PREFIX) else t

    @property
    def location(self) -> Optional[str]:
        return self.header("Location")

    @property
    def nonce(self) -> Optional[str]:
        return self.header("Replay-Nonce")

    def links(self, rel: Optional[str] = None) -> list[str]:
        """Link header targets (all, or those with that rel), resolved against the request URL."""
        out = []
        for value in self.header_all("Link"):
            for part in _split_links(value):
                target, params = part
                if rel is None or rel in params.get("rel", "").split():
                    out.append(urllib.parse.urljoin(self.url, target))
        return out

    def retry_after(self) -> Optional[float]:
        """Seconds from now per the Retry-After header (delta-seconds or HTTP-date), or None."""
        v = self.header("Retry-After")
        if v is None:
            return None
        v = v.strip()
        if v.isdigit():
            return float(v)
        try:
            when = email.utils.parsedate_to_datetime(v)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None

    def summary(self, limit: int = 300) -> str:
        body = self.text.replace("\n", " ")
        return f"{self.method} {self.url} -> {self.status} {body[:limit]}"


def _split_links(value: str) -> list[tuple[str, dict]]:
    """Parses one Link header value (RFC 8288) into (target, params) pairs."""
    out, i, n = [], 0, len(value)
    while i < n:
        lt = value.find("<", i)
        if lt < 0:
            break
        gt = value.find(">", lt)
        if gt < 0:
            break
        target = value[lt + 1:gt]
        i = gt + 1
        params: dict = {}
        while i < n and value[i] != ",":
            if value[i] in " \t;":
                i += 1
                continue
            eq = value.find("=", i)
            stop = min([p for p in (value.find(";", i), value.find(",", i)) if p >= 0] or [n])
            if eq < 0 or eq > stop:
                params[value[i:stop].strip().lower()] = ""
                i = stop
                continue
            name = value[i:eq].strip().lower()
            i = eq + 1
            if i < n and value[i] == '"':
                end = value.find('"', i + 1)
                end = n if end < 0 else end
                params[name] = value[i + 1:end]
                i = end + 1
            else:
                stop = min([p for p in (value.find(";", i), value.find(",", i)) if p >= 0] or [n])
                params[name] = value[i:stop].strip()
                i = stop
        i += 1
        out.append((target, params))
    return out


class AcmeError(Exception):
    """A response with a status the caller did not expect; `.response` has all of it."""

    def __init__(self, response: Response, what: str = ""):
        self.response = response
        super().__init__(f"{what + ': ' if what else ''}{response.summary()}")

    @property
    def error(self) -> Optional[str]:
        return self.response.error


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that dials a fixed address (as curl --resolve) and names the host
    in SNI/verification/Host; TCP_NODELAY is set by http.client itself."""

    def __init__(self, host, port, dial_host, **kw):
        super().__init__(host, port, **kw)
        self._dial_host = dial_host

    def _create_connection(self, address, timeout, source_address=None):  # noqa: D401
        return socket.create_connection((self._dial_host, address[1]), timeout, source_address)


_RETRYABLE = (http.client.RemoteDisconnected, http.client.CannotSendRequest, http.client.BadStatusLine,
              ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError)


class Transport:
    """Keep-alive HTTPS/HTTP connections, one per (scheme, host, port); not thread-safe (one per
    thread). `resolve` maps host names to the address dialled ({"localhost": "127.0.0.1"})."""

    def __init__(self, ca_file: Optional[str] = None, timeout: float = 30.0,
                 resolve: Optional[dict] = None, ssl_context: Optional[ssl.SSLContext] = None):
        if ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.resolve = {"localhost": "127.0.0.1"} if resolve is None else resolve
        self._conns: dict = {}
        self.connections_opened = 0

    def close(self):
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def _conn(self, scheme: str, host: str, port: int):
        k = (scheme, host, port)
        c = self._conns.get(k)
        if c is None:
            dial = self.resolve.get(host, host)
            if scheme == "https":
                c = _Connection(host, port, dial, timeout=self.timeout, context=self.ssl_context)
            else:
                c = http.client.HTTPConnection(dial, port, timeout=self.timeout)
            self._conns[k] = c
            self.connections_opened += 1
        return c

    def request(self, method: str, url: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> Response:
        u = urllib.parse.urlsplit(url)
        port = u.port or (443 if u.scheme == "https" else 80)
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        hdrs = {"User-Agent": "sigil-acme-test/1", "Accept-Language": "en"}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            conn = self._conn(u.scheme, u.hostname, port)
            try:
                conn.request(method, path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
            except _RETRYABLE:
                # A keep-alive connection the server had closed (or a restarted server): once more
                # on a fresh connection. Should the server have seen the request after all, its
                # nonce is spent: the repeat gets badNonce (and post() may then retry it anew).
                conn.close()
                self._conns.pop((u.scheme, u.hostname, port), None)
                if attempt:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                conn.close()
                self._conns.pop((u.scheme, u.hostname, port), None)
                raise
            if r.will_close:
                conn.close()
                self._conns.pop((u.scheme, u.hostname, port), None)
            return Response(method, url, r.status, r.reason, r.headers, data, body)
        raise AssertionError("unreachable")


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
