#include "ca/crypto/x509.hpp"

#include <openssl/sha.h>

#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

std::string_view to_string(KeyAlgorithm a) {
  switch (a) {
    case KeyAlgorithm::ec_p256:
      return "ec-p256";
    case KeyAlgorithm::ec_p384:
      return "ec-p384";
    case KeyAlgorithm::ed25519:
      return "ed25519";
    case KeyAlgorithm::rsa:
      return "rsa";
  }
  return "?";
}

std::string_view to_string(SignatureAlgorithm a) {
  switch (a) {
    case SignatureAlgorithm::ecdsa_sha256:
      return "ecdsa-with-SHA256";
    case SignatureAlgorithm::ecdsa_sha384:
      return "ecdsa-with-SHA384";
    case SignatureAlgorithm::ecdsa_sha512:
      return "ecdsa-with-SHA512";
    case SignatureAlgorithm::ed25519:
      return "Ed25519";
    case SignatureAlgorithm::rsa_sha256:
      return "sha256WithRSAEncryption";
    case SignatureAlgorithm::rsa_sha384:
      return "sha384WithRSAEncryption";
    case SignatureAlgorithm::rsa_sha512:
      return "sha512WithRSAEncryption";
  }
  return "?";
}

SignatureAlgorithm signature_algorithm_for(KeyAlgorithm key) {
  switch (key) {
    case KeyAlgorithm::ec_p256:
      return SignatureAlgorithm::ecdsa_sha256;
    case KeyAlgorithm::ec_p384:
      return SignatureAlgorithm::ecdsa_sha384;
    case KeyAlgorithm::ed25519:
      return SignatureAlgorithm::ed25519;
    case KeyAlgorithm::rsa:
      return SignatureAlgorithm::rsa_sha256;
  }
  return SignatureAlgorithm::ecdsa_sha256;
}

bool signature_fits_key(SignatureAlgorithm sig, KeyAlgorithm key) {
  switch (sig) {
    case SignatureAlgorithm::ecdsa_sha256:
    case SignatureAlgorithm::ecdsa_sha384:
    case SignatureAlgorithm::ecdsa_sha512:
      return key == KeyAlgorithm::ec_p256 || key == KeyAlgorithm::ec_p384;
    case SignatureAlgorithm::ed25519:
      return key == KeyAlgorithm::ed25519;
    default:
      return key == KeyAlgorithm::rsa;
  }
}

Bytes algorithm_identifier(SignatureAlgorithm a) {
  return build([&](Writer& w) {
    const auto m = w.begin(tag::kSequence);
    switch (a) {
      case SignatureAlgorithm::ecdsa_sha256:
        w.oid(oid::ecdsa_with_sha256);
        break;
      case SignatureAlgorithm::ecdsa_sha384:
        w.oid(oid::ecdsa_with_sha384);
        break;
      case SignatureAlgorithm::ecdsa_sha512:
        w.oid(oid::ecdsa_with_sha512);
        break;
      case SignatureAlgorithm::ed25519:
        w.oid(oid::ed25519);
        break;
      // RFC 4055 §5: the parameters of the PKCS#1 v1.5 algorithms are NULL.
      case SignatureAlgorithm::rsa_sha256:
        w.oid(oid::sha256_with_rsa);
        w.null();
        break;
      case SignatureAlgorithm::rsa_sha384:
        w.oid(oid::sha384_with_rsa);
        w.null();
        break;
      case SignatureAlgorithm::rsa_sha512:
        w.oid(oid::sha512_with_rsa);
        w.null();
        break;
    }
    w.end(m);
  });
}

Result<SignatureAlgorithm> parse_algorithm_identifier(ByteView whole) {
  SIGIL_TRY(Tlv seq, der::read_single(whole, tag::kSequence));
  Reader r(seq.contents);
  SIGIL_TRY(Tlv o, r.expect(tag::kOid));
  struct Known {
    ByteView oid;
    SignatureAlgorithm alg;
    bool null_params;
  };
  const Known known[] = {
      {oid::ecdsa_with_sha256, SignatureAlgorithm::ecdsa_sha256, false},
      {oid::ecdsa_with_sha384, SignatureAlgorithm::ecdsa_sha384, false},
      {oid::ecdsa_with_sha512, SignatureAlgorithm::ecdsa_sha512, false},
      {oid::ed25519, SignatureAlgorithm::ed25519, false},
      {oid::sha256_with_rsa, SignatureAlgorithm::rsa_sha256, true},
      {oid::sha384_with_rsa, SignatureAlgorithm::rsa_sha384, true},
      {oid::sha512_with_rsa, SignatureAlgorithm::rsa_sha512, true},
  };
  for (const Known& k : known) {
    if (!oid::equal(o.contents, k.oid)) continue;
    if (k.null_params) {
      // Absent parameters are tolerated for RSA (some encoders omit NULL), anything else is not.
      if (!r.empty()) {
        SIGIL_TRY(Tlv n, r.expect(tag::kNull));
        if (!n.contents.empty()) return bad("bad NULL parameters");
      }
    }
    if (!r.empty()) return bad("unexpected signature algorithm parameters");
    return k.alg;
  }
  return make_error(Errc::bad_csr, "unsupported signature algorithm " + der::oid_to_string(o.contents));
}

Result<PublicKey> parse_spki(ByteView spki_der) {
  SIGIL_TRY(Tlv seq, der::read_single(spki_der, tag::kSequence));
  Reader r(seq.contents);
  SIGIL_TRY(Tlv alg, r.expect(tag::kSequence));
  SIGIL_TRY(Tlv bits, r.expect(tag::kBitString));
  if (!r.empty()) return bad("trailing data in SubjectPublicKeyInfo");
  SIGIL_TRY(ByteView key, der::read_bit_string_bytes(bits));
  Reader ar(alg.contents);
  SIGIL_TRY(Tlv o, ar.expect(tag::kOid));
  PublicKey out;
  out.spki.assign(spki_der.begin(), spki_der.end());
  out.key.assign(key.begin(), key.end());
  if (oid::equal(o.contents, oid::ec_public_key)) {
    SIGIL_TRY(Tlv curve, ar.expect(tag::kOid));
    if (!ar.empty()) return bad("bad EC parameters");
    if (oid::equal(curve.contents, oid::prime256v1)) {
      out.algorithm = KeyAlgorithm::ec_p256;
      out.bits = 256;
    } else if (oid::equal(curve.contents, oid::secp384r1)) {
      out.algorithm = KeyAlgorithm::ec_p384;
      out.bits = 384;
    } else {
      return make_error(Errc::bad_public_key,
                        "EC curve " + der::oid_to_string(curve.contents) + " is not allowed (P-256, P-384)");
    }
    const std::size_t coord = static_cast<std::size_t>(out.bits / 8);
    // Uncompressed points only (RFC 5480 §2.2: compressed MAY be refused).
    if (key.size() != 1 + 2 * coord || key[0] != 0x04) return make_error(Errc::bad_public_key, "bad EC point");
    return out;
  }
  if (oid::equal(o.contents, oid::ed25519)) {
    if (!ar.empty()) return bad("Ed25519 parameters must be absent");
    if (key.size() != 32) return make_error(Errc::bad_public_key, "bad Ed25519 key length");
    out.algorithm = KeyAlgorithm::ed25519;
    out.bits = 256;
    return out;
  }
  if (oid::equal(o.contents, oid::rsa_encryption)) {
    SIGIL_TRY(Tlv n, ar.expect(tag::kNull));
    if (!n.contents.empty() || !ar.empty()) return bad("bad RSA parameters");
    SIGIL_TRY(Tlv rsa, der::read_single(key, tag::kSequence));
    Reader kr(rsa.contents);
    SIGIL_TRY(Tlv mod, kr.expect(tag::kInteger));
    SIGIL_TRY(Tlv exp, kr.expect(tag::kInteger));
    if (!kr.empty() || mod.contents.empty() || exp.contents.empty()) return bad("bad RSAPublicKey");
    if ((mod.contents[0] & 0x80) || (exp.contents[0] & 0x80))
      return make_error(Errc::bad_public_key, "negative RSA value");
    if (mod.contents.size() > 1 && mod.contents[0] == 0 && !(mod.contents[1] & 0x80)) return bad("non-minimal modulus");
    ByteView m = mod.contents;
    while (!m.empty() && m[0] == 0) m = m.subspan(1);
    if (m.empty()) return make_error(Errc::bad_public_key, "zero RSA modulus");
    int bitlen = static_cast<int>(m.size()) * 8;
    for (std::uint8_t top = m[0]; !(top & 0x80); top = static_cast<std::uint8_t>(top << 1)) --bitlen;
    out.algorithm = KeyAlgorithm::rsa;
    out.bits = bitlen;
    out.rsa_modulus.assign(m.begin(), m.end());
    out.rsa_exponent.assign(exp.contents.begin(), exp.contents.end());
    return out;
  }
  return make_error(Errc::bad_public_key, "unsupported public key algorithm " + der::oid_to_string(o.contents));
}

Bytes key_identifier(const PublicKey& key) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(key.key.data(), key.key.size(), digest);
  return Bytes(digest, digest + 20);
}

}  // namespace sigil::crypto
