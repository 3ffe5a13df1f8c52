#pragma once
// Keys and certificates generated at test time (nothing checked in). Keys are cached per type
// for the life of the test binary: RSA generation is the slow part.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/x509.hpp"

namespace sigil::test {

inline constexpr crypto::KeyType kAllKeyTypes[] = {crypto::KeyType::ec_p256, crypto::KeyType::ec_p384,
                                                   crypto::KeyType::ed25519, crypto::KeyType::rsa_2048};

// A key type's name for test messages (CAPTURE, INFO).
inline std::string key_name(crypto::KeyType t) { return std::string(crypto::to_string(t)); }

// slot lets a test ask for two distinct keys of one type.
inline const crypto::KeySigner& cached_key(crypto::KeyType type, int slot = 0) {
  static std::map<std::pair<crypto::KeyType, int>, std::unique_ptr<crypto::KeySigner>> keys;
  auto& k = keys[{type, slot}];
  if (!k) {
    auto g = crypto::KeySigner::generate(type);
    REQUIRE_MESSAGE(g.has_value(), (g ? "" : g.error().detail));
    k = std::move(g).value();
  }
  return *k;
}

inline TimePoint t0() { return from_unix(1893456000); }  // 2030-01-01T00:00:00Z

// A CA certificate spec, self-signed by `key` unless `issuer`/`issuer_key` say otherwise.
inline crypto::CertificateSpec ca_spec(const crypto::Signer& key, const std::string& name) {
  crypto::CertificateSpec s;
  s.serial = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01};
  s.signature = key.signature_algorithm();
  s.subject = crypto::encode_name(name, "Sigil Test");
  s.issuer = s.subject;
  s.not_before = t0() - Seconds(3600);
  s.not_after = t0() + Seconds(10LL * 365 * 86400);
  s.spki = key.public_key().spki;
  s.is_ca = true;
  s.key_usage = crypto::ku::key_cert_sign | crypto::ku::crl_sign;
  s.subject_key_id = crypto::key_identifier(key.public_key());
  return s;
}

inline Bytes sign_spec(const crypto::CertificateSpec& spec, const crypto::Signer& signer) {
  auto tbs = crypto::encode_tbs(spec);
  REQUIRE_MESSAGE(tbs.has_value(), (tbs ? "" : tbs.error().detail));
  auto sig = signer.sign(*tbs);
  REQUIRE(sig.has_value());
  return crypto::assemble_signed(*tbs, signer.signature_algorithm(), *sig);
}

inline crypto::Certificate parse_cert(Bytes der) {
  auto c = crypto::Certificate::from_der(std::move(der));
  REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().detail));
  return std::move(c).value();
}

// A leaf spec for `subject_key` issued by `ca`.
inline crypto::CertificateSpec leaf_spec(const crypto::Signer& ca_key, const crypto::Certificate& ca,
                                         const crypto::PublicKey& subject_key) {
  crypto::CertificateSpec s;
  s.serial = {0x3a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  s.signature = ca_key.signature_algorithm();
  s.issuer.assign(ca.tbs().subject.begin(), ca.tbs().subject.end());
  s.subject = crypto::encode_name("www.example.internal");
  s.not_before = t0();
  s.not_after = t0() + Seconds(86400);
  s.spki = subject_key.spki;
  s.key_usage = crypto::ku::digital_signature;
  s.ext_key_usage = {crypto::Eku::server_auth};
  s.subject_key_id = crypto::key_identifier(subject_key);
  s.authority_key_id = *ca.subject_key_id();
  s.sans = {{crypto::GeneralName::Type::dns, "www.example.internal"},
            {crypto::GeneralName::Type::ip, "10.1.2.3"},
            {crypto::GeneralName::Type::ip, "2001:db8::1"}};
  s.crl_urls = {"http://ca.example.internal/crl/1.crl"};
  s.ocsp_urls = {"http://ca.example.internal/ocsp"};
  s.ca_issuer_urls = {"http://ca.example.internal/ca/1.crt"};
  return s;
}

}  // namespace sigil::test
