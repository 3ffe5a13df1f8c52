// lint_leaf on hand-made to-be-signed certificates: one deliberate mistake at a time, each
// with the finding it must produce. The baseline is what Issuer::prepare would build.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ca/issuer/lint.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;
namespace oid = crypto::oid;
namespace ku = crypto::ku;

struct LintBench {
  TestCa ca;
  policy::Profiles profiles = policy::Profiles::defaults();
  const crypto::KeySigner& leaf_key = cached_key(KeyType::ec_p256, 7);
  const crypto::KeySigner& rsa_leaf_key = cached_key(KeyType::rsa_2048, 7);
  Seconds backdate{5 * 60};

  const policy::Profile& profile(const std::string& name) { return *profiles.find(name); }

  crypto::CertificateSpec good(const crypto::PublicKey& key, const std::string& profile_name = "server") {
    const policy::Profile& p = profile(profile_name);
    const issuer::IssuerUrls urls = issuer::urls_for(kPublicUrl, *ca.intermediate);
    crypto::CertificateSpec s;
    s.serial = issuer::new_serial();
    s.signature = ca.int_key->signature_algorithm();
    s.issuer.assign(ca.intermediate->tbs().subject.begin(), ca.intermediate->tbs().subject.end());
    s.subject = crypto::encode_name("www.example.internal");
    s.not_before = ca.clock.now() - backdate;
    s.not_after = ca.clock.now() + Seconds(86400);
    s.spki = key.spki;
    s.key_usage = p.key_usage_for(key.algorithm);
    s.ext_key_usage = p.ext_key_usage;
    s.subject_key_id = crypto::key_identifier(key);
    s.authority_key_id = *ca.intermediate->subject_key_id();
    s.sans = {{GN::dns, "www.example.internal"}, {GN::ip, "10.0.0.1"}};
    s.crl_urls = {urls.crl};
    s.ocsp_urls = {urls.ocsp};
    s.ca_issuer_urls = {urls.ca_issuers};
    return s;
  }

  std::vector<std::string> lint(const Bytes& tbs, const std::string& profile_name,
                                const std::vector<GeneralName>& sans) {
    const policy::Profile& p = profile(profile_name);
    const issuer::LintExpectations want{*ca.intermediate, p, sans, p.max_ttl + backdate, true, true};
    return issuer::lint_leaf(tbs, want);
  }

  std::vector<std::string> lint(const crypto::CertificateSpec& s, const std::string& profile_name = "server") {
    auto tbs = crypto::encode_tbs(s);
    REQUIRE(tbs.has_value());
    return lint(*tbs, profile_name, s.sans);
  }
};

void expect_finding(const std::vector<std::string>& findings, const std::string& needle) {
  CAPTURE(needle);
  const std::string all = join(findings);
  CAPTURE(all);
  CHECK(has_finding(findings, needle));
}

TEST_CASE("lint_leaf: the baseline is clean for every profile and key type") {
  LintBench b;
  for (KeyType t : kAllKeyTypes) {
    const crypto::KeySigner& k = cached_key(t, 7);
    for (const char* profile : {"server", "client", "spiffe"}) {
      const std::string what = std::string(crypto::to_string(t)) + " " + profile;
      CAPTURE(what);
      auto s = b.good(k.public_key(), profile);
      if (std::string(profile) == "spiffe") s.sans.push_back({GN::uri, "spiffe://example.internal/a"});
      const auto findings = b.lint(s, profile);
      CHECK_MESSAGE(findings.empty(), join(findings));
    }
  }
}

TEST_CASE("lint_leaf: missing SAN") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  const auto want = s.sans;
  s.sans.clear();
  auto tbs = crypto::encode_tbs(s);
  REQUIRE(tbs.has_value());
  expect_finding(b.lint(*tbs, "server", want), "subjectAltName missing");
}

TEST_CASE("lint_leaf: SANs other than the approved ones, or a CN outside them") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  auto tbs = crypto::encode_tbs(s);
  REQUIRE(tbs.has_value());
  expect_finding(b.lint(*tbs, "server", {{GN::dns, "www.example.internal"}}),
                 "subjectAltName differs from the approved identifiers");
  expect_finding(b.lint(*tbs, "server", {s.sans[1], s.sans[0]}), "subjectAltName differs");  // order matters

  auto cn = b.good(b.leaf_key.public_key());
  cn.subject = crypto::encode_name("other.example.internal");
  expect_finding(b.lint(cn), "subject common name is not among the subjectAltNames");
  auto org = b.good(b.leaf_key.public_key());
  org.subject = crypto::encode_name("www.example.internal", "Some Org");
  expect_finding(b.lint(org), "subject has attributes other than one CN");
}

TEST_CASE("lint_leaf: SAN not critical beside an empty subject (and critical beside a subject)") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key(), "spiffe");
  s.subject = crypto::encode_name("");
  s.sans = {{GN::uri, "spiffe://example.internal/a"}};
  auto tbs = crypto::encode_tbs(s);
  REQUIRE(tbs.has_value());
  CHECK(b.lint(*tbs, "spiffe", s.sans).empty());
  const Bytes flipped = rebuild_tbs(*tbs, [](std::vector<ExtOut>& exts) {
    for (auto& e : exts)
      if (oid::equal(e.oid, oid::subject_alt_name)) e.critical = false;
  });
  expect_finding(b.lint(flipped, "spiffe", s.sans), "subjectAltName criticality must match an empty subject");

  auto named = b.good(b.leaf_key.public_key());
  auto named_tbs = crypto::encode_tbs(named);
  REQUIRE(named_tbs.has_value());
  const Bytes critical = rebuild_tbs(*named_tbs, [](std::vector<ExtOut>& exts) {
    for (auto& e : exts)
      if (oid::equal(e.oid, oid::subject_alt_name)) e.critical = true;
  });
  expect_finding(b.lint(critical, "server", named.sans), "subjectAltName criticality must match an empty subject");
}

TEST_CASE("lint_leaf: wrong AKI, wrong SKI") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  s.authority_key_id = *b.ca.root->subject_key_id();
  expect_finding(b.lint(s), "authorityKeyIdentifier differs from the issuer's SKI");
  auto no_aki = b.good(b.leaf_key.public_key());
  no_aki.authority_key_id.clear();
  expect_finding(b.lint(no_aki), "authorityKeyIdentifier missing");
  auto ski = b.good(b.leaf_key.public_key());
  ski.subject_key_id = crypto::key_identifier(b.rsa_leaf_key.public_key());
  expect_finding(b.lint(ski), "subjectKeyIdentifier does not match the key");
}

TEST_CASE("lint_leaf: CA:TRUE, pathLen, CA key usage") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  s.is_ca = true;
  expect_finding(b.lint(s), "basicConstraints must be cA:FALSE without pathLen");
  s.path_len = 0;
  expect_finding(b.lint(s), "basicConstraints must be cA:FALSE without pathLen");
  auto k = b.good(b.leaf_key.public_key());
  k.key_usage |= ku::key_cert_sign;
  expect_finding(b.lint(k), "leaf with CA key usage");
  expect_finding(b.lint(k), "keyUsage does not fit the key and profile");
}

TEST_CASE("lint_leaf: keyEncipherment on an EC key, missing on an RSA server key") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  s.key_usage = ku::digital_signature | ku::key_encipherment;
  const auto f = b.lint(s);
  expect_finding(f, "keyEncipherment on a non-RSA key");
  expect_finding(f, "keyUsage does not fit the key and profile");

  auto rsa = b.good(b.rsa_leaf_key.public_key());
  CHECK(b.lint(rsa).empty());
  rsa.key_usage = ku::digital_signature;
  expect_finding(b.lint(rsa), "keyUsage does not fit the key and profile");
}

TEST_CASE("lint_leaf: validity outside the issuer's, too long, inverted") {
  LintBench b;
  auto late = b.good(b.leaf_key.public_key());
  late.not_after = b.ca.intermediate->tbs().not_after + Seconds(1);
  expect_finding(b.lint(late), "validity extends outside the issuer's");
  auto early = b.good(b.leaf_key.public_key());
  early.not_before = b.ca.intermediate->tbs().not_before - Seconds(1);
  expect_finding(b.lint(early), "validity extends outside the issuer's");
  auto longer = b.good(b.leaf_key.public_key());
  longer.not_after = longer.not_before + Seconds(90 * 86400) + b.backdate + Seconds(1);
  expect_finding(b.lint(longer), "validity longer than the profile allows");
  auto exact = b.good(b.leaf_key.public_key());
  exact.not_after = exact.not_before + Seconds(90 * 86400) + b.backdate;
  CHECK(b.lint(exact).empty());
  auto inverted = b.good(b.leaf_key.public_key());
  inverted.not_after = inverted.not_before;
  expect_finding(b.lint(inverted), "notBefore is not before notAfter");
}

TEST_CASE("lint_leaf: an extra extension") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  s.ocsp_no_check = true;
  expect_finding(b.lint(s), "unexpected extension 1.3.6.1.5.5.7.48.1.5");
  auto tbs = crypto::encode_tbs(b.good(b.leaf_key.public_key()));
  REQUIRE(tbs.has_value());
  const Bytes with_policies = rebuild_tbs(*tbs, [](std::vector<ExtOut>& exts) {
    exts.push_back({Bytes(oid::certificate_policies.begin(), oid::certificate_policies.end()), false,
                    Bytes{0x30, 0x08, 0x30, 0x06, 0x06, 0x04, 0x55, 0x1d, 0x20, 0x00}});
  });
  expect_finding(b.lint(with_policies, "server", b.good(b.leaf_key.public_key()).sans),
                 "unexpected extension 2.5.29.32");
}

TEST_CASE("lint_leaf: EKU, issuer name, signature algorithm, serial, key policy") {
  LintBench b;
  auto eku = b.good(b.leaf_key.public_key());
  eku.ext_key_usage = {crypto::Eku::client_auth};
  expect_finding(b.lint(eku), "extendedKeyUsage differs from the profile");
  auto no_eku = b.good(b.leaf_key.public_key());
  no_eku.ext_key_usage.clear();
  expect_finding(b.lint(no_eku), "extendedKeyUsage missing");

  auto issuer_name = b.good(b.leaf_key.public_key());
  issuer_name.issuer.assign(b.ca.root->tbs().subject.begin(), b.ca.root->tbs().subject.end());
  expect_finding(b.lint(issuer_name), "issuer name differs from the issuing CA's subject");

  auto sig = b.good(b.leaf_key.public_key());
  sig.signature = crypto::SignatureAlgorithm::rsa_sha256;  // the intermediate has an EC key
  expect_finding(b.lint(sig), "signature algorithm does not fit the issuer's key");

  auto serial = b.good(b.leaf_key.public_key());
  serial.serial = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  expect_finding(b.lint(serial), "serial has fewer than 64 bits of entropy");

  auto small = keygen("RSA", nullptr, 1024);
  auto weak_key = crypto::parse_spki(spki_of(small.get()));
  REQUIRE(weak_key.has_value());
  expect_finding(b.lint(b.good(*weak_key)), "key policy:");
}

TEST_CASE("lint_leaf: CDP and AIA expected but missing; SPIFFE profile with two URIs; garbage") {
  LintBench b;
  auto s = b.good(b.leaf_key.public_key());
  s.crl_urls.clear();
  s.ocsp_urls.clear();
  s.ca_issuer_urls.clear();
  const auto f = b.lint(s);
  expect_finding(f, "CRL distribution point missing");
  expect_finding(f, "authorityInfoAccess missing");

  auto sp = b.good(b.leaf_key.public_key(), "spiffe");
  sp.sans.push_back({GN::uri, "spiffe://example.internal/a"});
  sp.sans.push_back({GN::uri, "spiffe://example.internal/b"});
  expect_finding(b.lint(sp, "spiffe"), "SPIFFE profile needs exactly one URI SAN");

  expect_finding(b.lint(Bytes{0x30, 0x03, 0x02, 0x01, 0x01}, "server", {}), "TBS does not parse");
  CHECK(b.lint(Bytes{}, "server", {}).size() == 1);
}

}  // namespace
