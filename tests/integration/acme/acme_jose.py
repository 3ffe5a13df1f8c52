"""The JOSE and certificate half of acme_client.py: base64url and JSON encodings, account keys and
flattened JWS (with the knobs tests use to bend them), EAB, key authorizations, CSRs and chains."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import ipaddress
import json
import time
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
