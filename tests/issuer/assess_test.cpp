// Issuer::assess: every decision prepare makes, with the rule behind it, and custom profiles
// used for real issuance. Each rule kind is shown allowing and refusing; whenever assess refuses,
// prepare refuses with the first refusal's code and detail (one policy, one decision).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ca/base/duration.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;

struct Expect {
  std::string what;
  std::string csr;
  std::string profile;
  std::optional<Seconds> ttl;
  std::string subject;  // an identifier ("dns:x") or a check ("ttl")
  bool allowed;
  std::string rule;  // the deciding rule (a substring of it, for allowed identifiers)
};

// The decision for `subject`: a check's, or an identifier's first refusal (else its joined rules).
std::pair<bool, std::string> verdict(const issuer::Assessment& a, const std::string& subject) {
  for (const auto& [name, d] : a.checks)
    if (name == subject) return {d.allowed, d.rule};
  for (const auto& i : a.identifiers) {
    if (i.identifier != subject) continue;
    std::string rules;
    for (const auto& d : i.decisions) {
      if (!d.allowed) return {false, d.rule};
      rules += d.rule + " ";
    }
    return {true, rules};
  }
  FAIL("no decision for " << subject);
  return {false, ""};
}

// The first refusal in prepare's order: ttl, key_policy, key_types, blocked_keys, the
// identifiers in order, require_spiffe.
std::optional<policy::Decision> first_refusal(const issuer::Assessment& a) {
  for (const auto& [name, d] : a.checks)
    if (name != "require_spiffe" && !d.allowed) return d;
  for (const auto& i : a.identifiers)
    for (const auto& d : i.decisions)
      if (!d.allowed) return d;
  for (const auto& [name, d] : a.checks)
    if (!d.allowed) return d;
  return std::nullopt;
}

void check_cases(TestCa& ca, const std::vector<Expect>& cases) {
  for (const auto& e : cases) {
    CAPTURE(e.what);
    auto a = ca.issuer().assess({e.csr, e.profile, e.ttl, "test:explain"});
    REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().detail));
    const auto [allowed, rule] = verdict(*a, e.subject);
    CHECK(allowed == e.allowed);
    CHECK_MESSAGE(rule.find(e.rule) != std::string::npos, rule);
    // prepare agrees: the same first refusal, or a prepared certificate.
    auto p = ca.issuer().prepare({e.csr, e.profile, e.ttl, "test:explain"});
    const auto refusal = first_refusal(*a);
    CHECK(a->allowed() == !refusal.has_value());
    if (refusal) {
      REQUIRE_FALSE(p.has_value());
      CHECK(p.error().code == refusal->code);
      CHECK(p.error().detail == refusal->detail);
    } else {
      CHECK_MESSAGE(p.has_value(), (p ? "" : p.error().detail));
    }
  }
}

policy::Profile custom(std::string name) {
  policy::Profile p;
  p.name = std::move(name);
  p.ext_key_usage = {crypto::Eku::client_auth};
  p.allowed_types = {GN::dns};
  p.key_usage = crypto::ku::digital_signature | crypto::ku::key_agreement;
  p.key_types = {crypto::KeyAlgorithm::ec_p384};
  p.default_ttl = Seconds(3600);
  p.max_ttl = Seconds(7 * 86400);
  return p;
}

TEST_CASE("assess: every rule kind allows and refuses, and prepare answers the first refusal") {
  TestCa ca;
  const auto& k = cached_key(KeyType::ec_p256, 31);
  const auto& k384 = cached_key(KeyType::ec_p384, 32);
  auto rsa1024 = keygen("RSA", nullptr, 1024);
  const std::string small_rsa = pem_encode("CERTIFICATE REQUEST", openssl_csr(rsa1024.get(), "r.example.internal"));
  auto one = [&](GeneralName n) { return csr_pem(k, "", {std::move(n)}); };
  policy::Profiles profiles = policy::Profiles::defaults();
  REQUIRE(profiles.add(custom("device")).has_value());
  REQUIRE(ca.issuer().update_policy(test_identifier_policy(), profiles).has_value());

  check_cases(
      ca,
      {
          {"listed DNS name",
           one({GN::dns, "ca.example.com"}),
           "server",
           {},
           "dns:ca.example.com",
           true,
           "policy.dns_names"},
          {"DNS name under an allowed domain",
           one({GN::dns, "a.example.internal"}),
           "server",
           {},
           "dns:a.example.internal",
           true,
           "policy.allowed_domains"},
          {"DNS name outside",
           one({GN::dns, "www.evil.example"}),
           "server",
           {},
           "dns:www.evil.example",
           false,
           "policy.allowed_domains"},
          {"wildcard under an allowed domain",
           one({GN::dns, "*.example.internal"}),
           "server",
           {},
           "dns:*.example.internal",
           true,
           "policy.allow_wildcards"},
          {"IP in a range", one({GN::ip, "10.1.2.3"}), "server", {}, "ip:10.1.2.3", true, "policy.allowed_ip_ranges"},
          {"IP outside every range",
           one({GN::ip, "192.168.0.1"}),
           "server",
           {},
           "ip:192.168.0.1",
           false,
           "policy.allowed_ip_ranges"},
          {"SPIFFE ID in the trust domain",
           one({GN::uri, "spiffe://example.internal/a"}),
           "spiffe",
           {},
           "uri:spiffe://example.internal/a",
           true,
           "policy.spiffe_trust_domain"},
          {"SPIFFE ID of another trust domain",
           one({GN::uri, "spiffe://other.internal/a"}),
           "spiffe",
           {},
           "uri:spiffe://other.internal/a",
           false,
           "policy.spiffe_trust_domain"},
          {"email on the server profile",
           one({GN::email, "a@example.internal"}),
           "server",
           {},
           "email:a@example.internal",
           false,
           "profile.server.allowed_san_types"},
          {"require_spiffe met",
           one({GN::uri, "spiffe://example.internal/a"}),
           "spiffe",
           {},
           "require_spiffe",
           true,
           "profile.spiffe.require_spiffe"},
          {"require_spiffe unmet",
           one({GN::dns, "a.example.internal"}),
           "spiffe",
           {},
           "require_spiffe",
           false,
           "profile.spiffe.require_spiffe"},
          {"TTL within the profile", one({GN::dns, "a.example.internal"}), "server", Seconds(86400), "ttl", true,
           "profile.server.max_ttl"},
          {"TTL above the profile's maximum", one({GN::dns, "a.example.internal"}), "server", Seconds(91 * 86400),
           "ttl", false, "profile.server.max_ttl"},
          {"key policy: P-256", one({GN::dns, "a.example.internal"}), "server", {}, "key_policy", true, "key_policy"},
          {"key policy: RSA-1024", small_rsa, "server", {}, "key_policy", false, "key_policy"},
          {"profile key types: P-384 listed",
           csr_pem(k384, "", {{GN::dns, "d.example.internal"}}),
           "device",
           {},
           "key_types",
           true,
           "profile.device.key_types"},
          {"profile key types: P-256 not listed",
           one({GN::dns, "d.example.internal"}),
           "device",
           {},
           "key_types",
           false,
           "profile.device.key_types"},
          {"blocked keys: not blocked",
           one({GN::dns, "a.example.internal"}),
           "server",
           {},
           "blocked_keys",
           true,
           "blocked_keys"},
      });

  // Wildcards off: the same wildcard is refused by that rule.
  auto no_wildcards = test_identifier_policy();
  no_wildcards.allow_wildcards = false;
  REQUIRE(ca.issuer().update_policy(no_wildcards, profiles).has_value());
  check_cases(ca, {{"wildcard with wildcards off",
                    one({GN::dns, "*.example.internal"}),
                    "server",
                    {},
                    "dns:*.example.internal",
                    false,
                    "policy.allow_wildcards"}});
}

TEST_CASE("assess: a key revoked for keyCompromise is refused by the blocked-keys rule") {
  TestCa ca;
  const auto& k = cached_key(KeyType::ec_p256, 33);
  const std::string csr = csr_pem(k, "", {{GN::dns, "b.example.internal"}});
  auto issued = ca.issue(csr, "server");
  REQUIRE(issued.has_value());
  const std::string key_hash = issuer::key_sha256(k.public_key());
  REQUIRE(ca.db->revoke(issued->serial, 1, store::RevocationReason::key_compromise, key_hash,
                        {1, "test", "revoke", issued->serial, "ok", ""}));
  check_cases(ca, {{"blocked key", csr, "server", {}, "blocked_keys", false, "blocked_keys"}});
  auto a = ca.issuer().assess({csr, "server", std::nullopt, ""});
  REQUIRE(a.has_value());
  // The identifiers are still judged: only the key is refused.
  CHECK(verdict(*a, "dns:b.example.internal").first);
}

TEST_CASE("assess: the intermediate's name constraints allow and refuse") {
  TestCa ca;
  crypto::NameConstraints nc;
  nc.permitted = {{GN::dns, "example.internal"}};
  nc.excluded = {{GN::dns, "secret.example.internal"}, {GN::ip, "0.0.0.0/0"}};
  issuer::IntermediateParams ip;
  ip.name_constraints = nc;
  const auto& ik = cached_key(KeyType::ec_p256, 34);
  auto icsr = crypto::make_csr(ik, issuer::intermediate_subject("Sigil Test NC"), {});
  REQUIRE(icsr.has_value());
  auto inter = issuer::sign_intermediate(*ca.root_key, *ca.root, parse_csr(*icsr), ip, ca.clock);
  REQUIRE(inter.has_value());
  std::shared_ptr<const crypto::Signer> signer(&ik, [](const crypto::Signer*) {});
  auto added = ca.issuer().add_authority(signer, std::move(*inter));
  REQUIRE(added.has_value());
  REQUIRE(ca.issuer().make_current((*added)->id).has_value());
  // The identifier policy allows ca.example.com and 10/8; the constraints do not.
  const auto& k = cached_key(KeyType::ec_p256, 35);
  auto one = [&](GeneralName n) { return csr_pem(k, "", {std::move(n)}); };
  check_cases(
      ca, {
              {"permitted subtree",
               one({GN::dns, "a.example.internal"}),
               "server",
               {},
               "dns:a.example.internal",
               true,
               "name_constraints"},
              {"outside the permitted subtrees",
               one({GN::dns, "ca.example.com"}),
               "server",
               {},
               "dns:ca.example.com",
               false,
               "name_constraints"},
              {"excluded subtree",
               one({GN::dns, "x.secret.example.internal"}),
               "server",
               {},
               "dns:x.secret.example.internal",
               false,
               "name_constraints"},
              {"excluded IP family", one({GN::ip, "10.0.0.1"}), "server", {}, "ip:10.0.0.1", false, "name_constraints"},
          });
}

TEST_CASE("assess: every refusal is kept, not only the first; errors only before any rule applies") {
  TestCa ca;
  const auto& k = cached_key(KeyType::ec_p256, 36);
  const std::string csr = csr_pem(k, "",
                                  {{GN::dns, "a.example.internal"},
                                   {GN::dns, "evil.example"},
                                   {GN::ip, "192.168.1.1"},
                                   {GN::dns, "A.example.internal"}});
  auto a = ca.issuer().assess({csr, "server", Seconds(100 * 86400), ""});
  REQUIRE(a.has_value());
  CHECK_FALSE(a->allowed());
  REQUIRE(a->identifiers.size() == 3);  // the duplicate (after normalisation) collapses
  CHECK(a->identifiers[0].allowed());
  CHECK_FALSE(a->identifiers[1].allowed());
  CHECK_FALSE(a->identifiers[2].allowed());
  CHECK_FALSE(verdict(*a, "ttl").first);
  CHECK(a->names.size() == 1);
  CHECK(a->ttl == Seconds(100 * 86400));

  CHECK(ca.issuer().assess({"not a csr", "server", std::nullopt, ""}).error().code == Errc::bad_csr);
  CHECK(ca.issuer().assess({csr, "nope", std::nullopt, ""}).error().code == Errc::invalid_argument);
  CHECK(ca.issuer().assess({csr, "server", Seconds(0), ""}).error().code == Errc::invalid_argument);
  CHECK(ca.count() == 0);  // nothing reserved
  CHECK(ca.audit().empty());
}

TEST_CASE("a custom profile issues with its own key usages and EKUs, judged by OpenSSL") {
  TestCa ca;
  policy::Profiles profiles = policy::Profiles::defaults();
  policy::Profile p = custom("device");
  p.key_types = {};
  p.ext_key_usage = {crypto::Eku::client_auth, crypto::Eku::server_auth};
  REQUIRE(profiles.add(p).has_value());
  REQUIRE(ca.issuer().update_policy(test_identifier_policy(), profiles).has_value());
  for (KeyType t : {KeyType::ec_p256, KeyType::rsa_2048}) {
    CAPTURE(crypto::to_string(t));
    const auto& k = cached_key(t, 37);
    auto issued = ca.issue(csr_pem(k, "", {{GN::dns, "dev.example.internal"}}), "device");
    REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
    auto x = x509_from_der(issued->der);
    // keyAgreement where the key can agree (EC), not on RSA.
    const std::uint32_t want = t == KeyType::rsa_2048 ? KU_DIGITAL_SIGNATURE : KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT;
    CHECK(X509_get_key_usage(x.get()) == want);
    CHECK((X509_get_key_usage(x.get()) & KU_KEY_ENCIPHERMENT) == 0);
    CHECK(X509_get_extended_key_usage(x.get()) == (XKU_SSL_CLIENT | XKU_SSL_SERVER));
    CHECK(issued->not_after - issued->not_before <= Seconds(3600 + 5 * 60));  // the profile's default TTL
  }
}

}  // namespace
