// Certification requests: made by OpenSSL's X509_REQ API and by make_csr, parsed by Sigil.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/support/keys.hpp"
#include "tests/support/openssl.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::cached_key;
using test::kAllKeyTypes;
namespace tag = der::tag;
using GN = GeneralName::Type;

struct OsslKey {
  const char* name;
  const char* type;
  const char* curve;
  std::size_t rsa_bits;
  KeyAlgorithm alg;
};
const OsslKey kOsslKeys[] = {{"ec-p256", "EC", "P-256", 0, KeyAlgorithm::ec_p256},
                             {"ec-p384", "EC", "P-384", 0, KeyAlgorithm::ec_p384},
                             {"ed25519", "ED25519", nullptr, 0, KeyAlgorithm::ed25519},
                             {"rsa-2048", "RSA", nullptr, 2048, KeyAlgorithm::rsa}};

test::PkeyPtr& ossl_key(const OsslKey& k) {
  static std::map<std::string, test::PkeyPtr> keys;
  auto& p = keys[k.name];
  if (!p) p = test::keygen(k.type, k.curve, k.rsa_bits);
  return p;
}

Csr parse(const Bytes& der) {
  auto c = Csr::from_der(der);
  REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().detail));
  return std::move(c).value();
}

Status verify(const Csr& c) {
  return verify_signature(c.public_key(), c.signature_algorithm(), c.info_der(), c.signature());
}

TEST_CASE("CSRs made by OpenSSL with a SAN extension parse and verify, for every key type") {
  const std::vector<GeneralName> want = {{GN::dns, "a.example.internal"},
                                         {GN::dns, "b.example.internal"},
                                         {GN::ip, "10.0.0.1"},
                                         {GN::ip, "fd00::1"},
                                         {GN::uri, "spiffe://example.internal/ns/a"},
                                         {GN::email, "ops@example.internal"}};
  for (const OsslKey& k : kOsslKeys) {
    const std::string name = k.name;
    CAPTURE(name);
    EVP_PKEY* key = ossl_key(k).get();
    const Bytes der = test::openssl_csr(key, "a.example.internal",
                                        "DNS:a.example.internal,DNS:b.example.internal,IP:10.0.0.1,IP:fd00::1,"
                                        "URI:spiffe://example.internal/ns/a,email:ops@example.internal");
    REQUIRE(test::openssl_req_verifies(der));
    Csr c = parse(der);
    CHECK(c.der() == der);
    CHECK(c.common_name() == std::optional<std::string>("a.example.internal"));
    CHECK(c.sans() == want);
    CHECK(c.public_key().algorithm == k.alg);
    CHECK(c.public_key().spki == test::spki_of(key));
    CHECK(verify(c).has_value());
    CHECK(name_to_string(c.subject()).value() == "CN=a.example.internal");
  }
}

TEST_CASE("CSRs made by OpenSSL: CN only, challengePassword, no subject") {
  EVP_PKEY* key = ossl_key(kOsslKeys[0]).get();
  {
    Csr c = parse(test::openssl_csr(key, "only-cn.example.internal"));
    CHECK(c.common_name() == std::optional<std::string>("only-cn.example.internal"));
    CHECK(c.sans().empty());
    CHECK(verify(c).has_value());
  }
  {
    Csr c = parse(test::openssl_csr(key, "pw.example.internal", "DNS:pw.example.internal", "s3cret"));
    CHECK(c.sans() == std::vector<GeneralName>{{GN::dns, "pw.example.internal"}});
    CHECK(verify(c).has_value());
  }
  {
    Csr c = parse(test::openssl_csr(key, "pw-only.example.internal", "", "s3cret"));
    CHECK(c.sans().empty());
    CHECK(verify(c).has_value());
  }
  {
    Csr c = parse(test::openssl_csr(key, "", "URI:spiffe://example.internal/x"));
    CHECK_FALSE(c.common_name().has_value());
    CHECK(name_is_empty(c.subject()));
    CHECK(c.sans() == std::vector<GeneralName>{{GN::uri, "spiffe://example.internal/x"}});
    CHECK(verify(c).has_value());
  }
  // ECDSA with SHA-512 on a P-256 key: a combination OpenSSL allows and Sigil accepts.
  {
    const Bytes der = test::openssl_csr(key, "sha512.example.internal", "", "", EVP_sha512(), false);
    Csr c = parse(der);
    CHECK(c.signature_algorithm() == SignatureAlgorithm::ecdsa_sha512);
    CHECK(verify(c).has_value());
  }
  // RSA with SHA-384.
  {
    const Bytes der =
        test::openssl_csr(ossl_key(kOsslKeys[3]).get(), "rsa.example.internal", "", "", EVP_sha384(), false);
    Csr c = parse(der);
    CHECK(c.signature_algorithm() == SignatureAlgorithm::rsa_sha384);
    CHECK(verify(c).has_value());
  }
}

TEST_CASE("CSRs made by make_csr parse with Sigil and verify with OpenSSL") {
  const std::vector<GeneralName> sans = {{GN::dns, "svc.example.internal"}, {GN::ip, "192.0.2.7"}};
  for (KeyType t : kAllKeyTypes) {
    const std::string name(to_string(t));
    CAPTURE(name);
    const KeySigner& k = cached_key(t);
    auto der = make_csr(k, encode_name("svc.example.internal"), sans);
    REQUIRE(der.has_value());
    CHECK(test::openssl_req_verifies(*der));
    Csr c = parse(*der);
    CHECK(c.sans() == sans);
    CHECK(c.common_name() == std::optional<std::string>("svc.example.internal"));
    CHECK(c.public_key().spki == k.public_key().spki);
    CHECK(c.signature_algorithm() == k.signature_algorithm());
    CHECK(verify(c).has_value());

    // Without SANs and without a subject.
    auto bare = make_csr(k, encode_name(""), {});
    REQUIRE(bare.has_value());
    CHECK(test::openssl_req_verifies(*bare));
    Csr b = parse(*bare);
    CHECK(b.sans().empty());
    CHECK_FALSE(b.common_name().has_value());
  }
}

TEST_CASE("a CSR with a tampered signature or tampered contents fails verification") {
  for (KeyType t : kAllKeyTypes) {
    const std::string name(to_string(t));
    CAPTURE(name);
    auto der = make_csr(cached_key(t), encode_name("t.example.internal"), {{GN::dns, "t.example.internal"}});
    REQUIRE(der.has_value());
    Bytes sig_flip = *der;
    sig_flip[sig_flip.size() - 3] ^= 0x40;  // inside the signature BIT STRING
    Csr c = parse(sig_flip);
    CHECK(verify(c).error().code == Errc::unauthorized);
    CHECK_FALSE(test::openssl_req_verifies(sig_flip));

    // Change one letter of the signed name: still parses, no longer verifies.
    Bytes info_flip = *der;
    const std::string needle = "t.example.internal";
    auto it = std::search(info_flip.begin(), info_flip.end(), needle.begin(), needle.end());
    REQUIRE(it != info_flip.end());
    *it = 'u';
    Csr d = parse(info_flip);
    CHECK(d.common_name() == std::optional<std::string>("u.example.internal"));
    CHECK(verify(d).error().code == Errc::unauthorized);
  }
}

TEST_CASE("CSR parsing refuses trailing garbage, wrong versions and mismatched algorithms") {
  const KeySigner& ec = cached_key(KeyType::ec_p256);
  auto der = make_csr(ec, encode_name("x.example.internal"), {});
  REQUIRE(der.has_value());

  Bytes trailing = *der;
  trailing.push_back(0x00);
  CHECK(Csr::from_der(trailing).error().code == Errc::bad_csr);
  Bytes trailing_pem = *der;
  trailing_pem.insert(trailing_pem.end(), {0x05, 0x00});
  CHECK(Csr::from_pem_or_der(pem_encode("CERTIFICATE REQUEST", trailing_pem)).error().code == Errc::bad_csr);
  CHECK(Csr::from_der(Bytes(der->begin(), der->end() - 1)).error().code == Errc::bad_csr);
  CHECK(Csr::from_der({}).error().code == Errc::bad_csr);

  auto signed_with = [&](const Bytes& info, SignatureAlgorithm alg) {
    auto sig = ec.sign(info);
    REQUIRE(sig.has_value());
    return assemble_signed(info, alg, *sig);
  };
  // Version 1 (value 1) is not a PKCS#10 v1 request.
  {
    der::Writer w;
    const auto m = w.begin(tag::kSequence);
    w.small_integer(1);
    w.raw(encode_name("x"));
    w.raw(ec.public_key().spki);
    const auto a = w.begin(tag::context_constructed(0));
    w.end(a);
    w.end(m);
    CHECK(Csr::from_der(signed_with(w.take(), SignatureAlgorithm::ecdsa_sha256)).error().code == Errc::bad_csr);
  }
  // Ed25519 or RSA signature algorithms on an EC key.
  const Bytes info = encode_csr_info(encode_name("x"), ec.public_key().spki, {});
  CHECK(Csr::from_der(signed_with(info, SignatureAlgorithm::ed25519)).error().code == Errc::bad_csr);
  CHECK(Csr::from_der(signed_with(info, SignatureAlgorithm::rsa_sha256)).error().code == Errc::bad_csr);
  CHECK(Csr::from_der(signed_with(info, SignatureAlgorithm::ecdsa_sha256)).has_value());
  // Data after the attributes inside CertificationRequestInfo.
  {
    Bytes inner = info;
    auto seq = der::read_single(info, tag::kSequence);
    REQUIRE(seq.has_value());
    der::Writer w;
    const auto m = w.begin(tag::kSequence);
    w.raw(seq->contents);
    w.null();
    w.end(m);
    CHECK(Csr::from_der(signed_with(w.take(), SignatureAlgorithm::ecdsa_sha256)).error().code == Errc::bad_csr);
  }
}

TEST_CASE("CSR key refusals keep their own error code") {
  auto p521 = test::keygen("EC", "P-521");
  const Bytes der = test::openssl_csr(p521.get(), "p521.example.internal", "", "", EVP_sha512(), false);
  REQUIRE(test::openssl_req_verifies(der));
  auto r = Csr::from_der(der);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::bad_public_key);

  // RSA-1024 parses (the key policy refuses it later) and reports 1024 bits.
  auto rsa1024 = test::keygen("RSA", nullptr, 1024);
  Csr c = parse(test::openssl_csr(rsa1024.get(), "small.example.internal"));
  CHECK(c.public_key().bits == 1024);
  CHECK(verify(c).has_value());
}

TEST_CASE("CSR SAN refusals: unsupported forms, duplicate SAN or extensionRequest") {
  EVP_PKEY* key = ossl_key(kOsslKeys[0]).get();
  auto r = Csr::from_der(test::openssl_csr(key, "x.example.internal", "DNS:x.example.internal,RID:1.2.3.4"));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::bad_csr);

  const KeySigner& ec = cached_key(KeyType::ec_p256);
  auto san_ext = [](der::Writer& w, const std::string& dns) {
    const auto e = w.begin(tag::kSequence);
    w.oid(oid::subject_alt_name);
    der::Writer v;
    const auto s = v.begin(tag::kSequence);
    v.string(tag::context(2), dns);
    v.end(s);
    w.octet_string(v.take());
    w.end(e);
  };
  auto request = [&](int ext_requests, int sans_per_request) {
    der::Writer w;
    const auto m = w.begin(tag::kSequence);
    w.small_integer(0);
    w.raw(encode_name("x"));
    w.raw(ec.public_key().spki);
    const auto attrs = w.begin(tag::context_constructed(0));
    for (int i = 0; i < ext_requests; ++i) {
      const auto a = w.begin(tag::kSequence);
      w.oid(oid::extension_request);
      const auto set = w.begin(tag::kSet);
      const auto exts = w.begin(tag::kSequence);
      for (int j = 0; j < sans_per_request; ++j) san_ext(w, "n" + std::to_string(j) + ".example");
      w.end(exts);
      w.end(set);
      w.end(a);
    }
    w.end(attrs);
    w.end(m);
    const Bytes info = w.take();
    auto sig = ec.sign(info);
    REQUIRE(sig.has_value());
    return assemble_signed(info, ec.signature_algorithm(), *sig);
  };
  CHECK(Csr::from_der(request(1, 1)).has_value());
  CHECK(Csr::from_der(request(1, 2)).error().code == Errc::bad_csr);
  CHECK(Csr::from_der(request(2, 1)).error().code == Errc::bad_csr);
}

TEST_CASE("Csr::from_pem_or_der accepts PEM (both labels) and DER, one request only") {
  const KeySigner& k = cached_key(KeyType::ed25519);
  auto der = make_csr(k, encode_name("p.example.internal"), {});
  REQUIRE(der.has_value());
  CHECK(Csr::from_pem_or_der(as_chars(*der)).has_value());
  CHECK(Csr::from_pem_or_der(pem_encode("CERTIFICATE REQUEST", *der)).has_value());
  CHECK(Csr::from_pem_or_der("leading text\n" + pem_encode("NEW CERTIFICATE REQUEST", *der)).has_value());
  CHECK(Csr::from_pem_or_der(pem_encode("CERTIFICATE", *der)).error().code == Errc::bad_csr);
  CHECK(Csr::from_pem_or_der(pem_encode("CERTIFICATE REQUEST", *der) + pem_encode("CERTIFICATE REQUEST", *der))
            .error()
            .code == Errc::bad_csr);
  CHECK(Csr::from_pem_or_der("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n")
            .error()
            .code == Errc::bad_csr);
  CHECK(Csr::from_pem_or_der("").error().code == Errc::bad_csr);
  CHECK(Csr::from_pem_or_der("garbage").error().code == Errc::bad_csr);
}

}  // namespace
