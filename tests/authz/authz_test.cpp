#include <doctest/doctest.h>

#include "ca/authz/authz.hpp"
#include "ca/crypto/crypto.hpp"

using namespace sigil;
using namespace sigil::authz;

namespace {
// A self-signed certificate with the given subject CN and SANs (authz reads only names).
crypto::Certificate cert_with(const std::string& cn, std::vector<crypto::GeneralName> sans) {
  auto key = crypto::KeySigner::generate(crypto::KeyType::ec_p256).value();
  crypto::CertificateSpec spec;
  spec.serial = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
  spec.signature = key->signature_algorithm();
  spec.subject = crypto::encode_name(cn);
  spec.issuer = spec.subject;
  spec.not_before = SystemClock{}.now();
  spec.not_after = spec.not_before + std::chrono::hours(1);
  spec.spki = key->public_key().spki;
  spec.key_usage = crypto::ku::digital_signature;
  spec.subject_key_id = crypto::key_identifier(key->public_key());
  spec.sans = std::move(sans);
  auto tbs = crypto::encode_tbs(spec).value();
  auto sig = key->sign(tbs).value();
  return crypto::Certificate::from_der(crypto::assemble_signed(tbs, spec.signature, sig)).value();
}
using T = crypto::GeneralName::Type;
}  // namespace

TEST_CASE("pattern_match: '*' is exactly one non-empty segment") {
  CHECK(pattern_match("sigil-admin", "sigil-admin"));
  CHECK_FALSE(pattern_match("sigil-admin", "sigil-admin2"));
  CHECK(pattern_match("*.svc.corp.example", "web.svc.corp.example"));
  CHECK_FALSE(pattern_match("*.svc.corp.example", "a.web.svc.corp.example"));
  CHECK_FALSE(pattern_match("*.svc.corp.example", ".svc.corp.example"));
  CHECK_FALSE(pattern_match("*.svc.corp.example", "svc.corp.example"));
  CHECK(pattern_match("spiffe://corp.example/ns/*/sa/web", "spiffe://corp.example/ns/prod/sa/web"));
  CHECK_FALSE(pattern_match("spiffe://corp.example/ns/*/sa/web", "spiffe://corp.example/ns/a/b/sa/web"));
  CHECK_FALSE(pattern_match("spiffe://corp.example/ns/*", "spiffe://corp.example/ns/"));
  CHECK(pattern_match("*@corp.example", "alice@corp.example"));
  CHECK_FALSE(pattern_match("*@corp.example", "alice@x.corp.example"));
  CHECK_FALSE(pattern_match("*.corp.example", "alice@x.corp.example"));
}

TEST_CASE("identity_of prefers the SPIFFE URI, then the first DNS SAN, then the CN") {
  auto spiffe = cert_with("ignored", {{T::dns, "a.example"}, {T::uri, "spiffe://td/x"}});
  CHECK(identity_of(spiffe)->value == "spiffe://td/x");
  CHECK(identity_of(spiffe)->kind == Identity::Kind::spiffe);
  auto dns = cert_with("ignored", {{T::uri, "https://not-spiffe"}, {T::dns, "b.example"}, {T::dns, "c.example"}});
  CHECK(identity_of(dns)->value == "b.example");
  auto cn = cert_with("just-a-name", {{T::email, "x@y.example"}});
  CHECK(identity_of(cn)->value == "just-a-name");
  auto none = cert_with("", {{T::email, "x@y.example"}});
  CHECK(identity_of(none).error().code == Errc::unauthorized);
}

TEST_CASE("Policy: roles decide; the first matching rule wins") {
  Rule admin{"sigil-admin", Role::admin, {}, {}, std::nullopt};
  Rule issuer{"deployer.corp.example", Role::issuer, {"*.svc.corp.example"}, {"server"}, Seconds(72 * 3600)};
  Rule renew{"*.svc.corp.example", Role::renew_self, {}, {}, std::nullopt};
  Policy p({admin, issuer, renew});
  const Identity a{Identity::Kind::dns, "sigil-admin"};
  const Identity d{Identity::Kind::dns, "deployer.corp.example"};
  const Identity w{Identity::Kind::dns, "web.svc.corp.example"};
  const Identity nobody{Identity::Kind::dns, "stranger.example"};

  CHECK(p.may(a, Action::read));
  CHECK(p.may(a, Action::revoke));
  CHECK(p.may_issue(a, {"dns:anything.example"}, "client", Seconds(86400 * 90)));

  CHECK(p.may_issue(d, {"dns:web.svc.corp.example", "dns:api.svc.corp.example"}, "server", Seconds(3600)));
  CHECK(p.may_issue(d, {"dns:web.svc.corp.example"}, "server", Seconds(72 * 3600)));
  CHECK(p.may_issue(d, {"dns:web.svc.corp.example", "dns:evil.example"}, "server", Seconds(3600)).error().code ==
        Errc::forbidden);
  CHECK_FALSE(p.may_issue(d, {"dns:web.svc.corp.example"}, "client", Seconds(3600)));
  CHECK_FALSE(p.may_issue(d, {"dns:web.svc.corp.example"}, "server", Seconds(73 * 3600)));
  CHECK_FALSE(p.may(d, Action::read));
  CHECK(p.may(d, Action::renew_self));

  CHECK_FALSE(p.may_issue(w, {"dns:web.svc.corp.example"}, "server", Seconds(3600)));
  CHECK_FALSE(p.may(w, Action::revoke));
  CHECK(p.may(w, Action::renew_self));

  CHECK(p.may(nobody, Action::renew_self).error().code == Errc::forbidden);
  CHECK_FALSE(p.may(nobody, Action::metrics));
  CHECK_FALSE(p.may_issue(nobody, {"dns:x"}, "server", Seconds(1)));
}

TEST_CASE("parse_role") {
  CHECK(*parse_role("admin") == Role::admin);
  CHECK(*parse_role("issuer") == Role::issuer);
  CHECK(*parse_role("renew-self") == Role::renew_self);
  CHECK(*parse_role("viewer") == Role::viewer);
  CHECK(std::string(role_name(Role::viewer)) == "viewer");
  CHECK_FALSE(parse_role("root"));
  CHECK_FALSE(parse_role("Viewer"));
}

TEST_CASE("Policy: a viewer reads everything and changes nothing") {
  Policy p({Rule{"console.corp.example", Role::viewer, {"*.corp.example"}, {}, std::nullopt}});
  const Identity v{Identity::Kind::dns, "console.corp.example"};
  CHECK(p.may(v, Action::read));
  CHECK(p.may(v, Action::metrics));
  CHECK(p.may(v, Action::renew_self));  // its own certificate, as every role
  const auto revoke = p.may(v, Action::revoke);
  REQUIRE_FALSE(revoke);
  CHECK(revoke.error().code == Errc::forbidden);
  CHECK(revoke.error().detail.find("role viewer") != std::string::npos);
  CHECK_FALSE(p.may(v, Action::administer));
  // Identifiers on a viewer's rule grant nothing: only an issuer's do.
  const auto issue = p.may_issue(v, {"dns:a.corp.example"}, "server", Seconds(3600));
  REQUIRE_FALSE(issue);
  CHECK(issue.error().detail.find("role viewer") != std::string::npos);
}

TEST_CASE("Identifier patterns are typed: a DNS pattern never matches an email, URI or IP of the same text") {
  Rule issuer{"deployer.corp.example",
              Role::issuer,
              {"*.svc.corp.example", "email:*@corp.example", "uri:spiffe://corp.example/ns/*/sa/web", "ip:10.0.0.*"},
              {},
              std::nullopt};
  Policy p({issuer});
  const Identity d{Identity::Kind::dns, "deployer.corp.example"};
  auto may = [&](const std::string& name) { return static_cast<bool>(p.may_issue(d, {name}, "server", Seconds(60))); };

  // An untyped pattern keeps its old meaning for DNS names.
  CHECK(may("dns:web.svc.corp.example"));
  CHECK_FALSE(may("email:anyone@x.svc.corp.example"));
  CHECK_FALSE(may("uri:web.svc.corp.example"));
  CHECK_FALSE(may("email:web.svc.corp.example"));
  // Typed patterns match their own type only.
  CHECK(may("email:alice@corp.example"));
  CHECK_FALSE(may("dns:alice@corp.example"));
  CHECK_FALSE(may("uri:alice@corp.example"));
  CHECK(may("uri:spiffe://corp.example/ns/prod/sa/web"));
  CHECK_FALSE(may("dns:spiffe://corp.example/ns/prod/sa/web"));
  CHECK(may("ip:10.0.0.7"));
  CHECK_FALSE(may("dns:10.0.0.7"));
  CHECK_FALSE(may("uri:10.0.0.7"));
  // A request mixing an allowed name with a smuggled one is refused as a whole.
  CHECK(p.may_issue(d, {"dns:web.svc.corp.example", "email:a@web.svc.corp.example"}, "server", Seconds(60))
            .error()
            .code == Errc::forbidden);
}

TEST_CASE("Untyped identifier patterns keep their meaning by shape: URIs, emails, DNS names and IPs") {
  Rule issuer{"deployer.corp.example",
              Role::issuer,
              {"spiffe://corp.example/ns/*/sa/web", "*@mail.corp.example", "10.1.2.*"},
              {},
              std::nullopt};
  Policy p({issuer});
  const Identity d{Identity::Kind::dns, "deployer.corp.example"};
  auto may = [&](const std::string& name) { return static_cast<bool>(p.may_issue(d, {name}, "server", Seconds(60))); };
  CHECK(may("uri:spiffe://corp.example/ns/prod/sa/web"));
  CHECK(may("email:bob@mail.corp.example"));
  CHECK_FALSE(may("dns:bob@mail.corp.example"));
  CHECK(may("ip:10.1.2.3"));
  CHECK(may("dns:10.1.2.3"));  // as before: an untyped dotted pattern covers DNS names and IPs
}

TEST_CASE("Identity patterns are typed: dns:, uri: and cn: match that kind of identity only") {
  Rule by_dns{"dns:*.svc.corp.example", Role::renew_self, {}, {}, std::nullopt};
  Rule by_uri{"uri:spiffe://corp.example/ns/*/sa/web", Role::issuer, {"*.svc.corp.example"}, {}, std::nullopt};
  Rule by_cn{"cn:sigil-admin", Role::admin, {}, {}, std::nullopt};
  Policy p({by_dns, by_uri, by_cn});
  CHECK(p.may(Identity{Identity::Kind::dns, "web.svc.corp.example"}, Action::renew_self));
  CHECK_FALSE(p.may(Identity{Identity::Kind::common_name, "web.svc.corp.example"}, Action::renew_self));
  CHECK(p.may(Identity{Identity::Kind::common_name, "sigil-admin"}, Action::read));
  CHECK_FALSE(p.may(Identity{Identity::Kind::dns, "sigil-admin"}, Action::read));
  CHECK(p.may_issue(Identity{Identity::Kind::spiffe, "spiffe://corp.example/ns/prod/sa/web"},
                    {"dns:a.svc.corp.example"}, "server", Seconds(60)));

  // Untyped: the old meaning (a URI-shaped pattern for URI identities, others for DNS and CN).
  Policy old({{"*.svc.corp.example", Role::renew_self, {}, {}, std::nullopt},
              {"sigil-admin", Role::admin, {}, {}, std::nullopt}});
  CHECK(old.may(Identity{Identity::Kind::dns, "web.svc.corp.example"}, Action::renew_self));
  CHECK(old.may(Identity{Identity::Kind::common_name, "sigil-admin"}, Action::read));
  CHECK_FALSE(old.may(Identity{Identity::Kind::spiffe, "spiffe://web.svc.corp.example"}, Action::renew_self));
}

TEST_CASE("decide_issue: the role rule's decisions, each naming its rule; may_issue answers the first refusal") {
  Rule admin{"sigil-admin", Role::admin, {}, {}, std::nullopt};
  Rule issuer{"deployer.corp.example", Role::issuer, {"*.svc.corp.example"}, {"server"}, Seconds(72 * 3600)};
  Rule self{"*.corp.example", Role::renew_self, {}, {}, std::nullopt};
  const Policy p({admin, issuer, self});
  const Identity dep{Identity::Kind::dns, "deployer.corp.example"};
  const std::vector<std::string> names = {"dns:web.svc.corp.example", "dns:db.other.example"};

  auto d = p.decide_issue(dep, names, "server", Seconds(3600));
  CHECK(d.role.allowed);
  CHECK(d.role.rule == "authorization[1]");
  CHECK(d.profile.allowed);
  CHECK(d.profile.rule == "authorization[1].profiles");
  CHECK(d.ttl.allowed);
  REQUIRE(d.names.size() == 2);
  CHECK(d.names[0].allowed);
  CHECK(d.names[0].rule == "authorization[1].identifiers");
  CHECK(d.names[0].detail.find("*.svc.corp.example") != std::string::npos);
  CHECK_FALSE(d.names[1].allowed);
  CHECK(d.names[1].code == Errc::forbidden);
  CHECK(p.may_issue(dep, names, "server", Seconds(3600)).error().detail == d.names[1].detail);

  auto wrong = p.decide_issue(dep, {names[0]}, "client", Seconds(73 * 3600));
  CHECK_FALSE(wrong.profile.allowed);
  CHECK_FALSE(wrong.ttl.allowed);
  CHECK(wrong.ttl.rule == "authorization[1].max_ttl");
  // may_issue's order: the profile before the TTL.
  CHECK(p.may_issue(dep, {names[0]}, "client", Seconds(73 * 3600)).error().detail == wrong.profile.detail);

  auto adm = p.decide_issue({Identity::Kind::dns, "sigil-admin"}, names, "spiffe", Seconds(999 * 86400));
  CHECK(adm.role.allowed);
  CHECK(adm.role.rule == "authorization[0]");
  CHECK(adm.names.size() == 2);
  CHECK(adm.names[1].allowed);

  auto rs = p.decide_issue({Identity::Kind::dns, "web.corp.example"}, names, "server", Seconds(3600));
  CHECK_FALSE(rs.role.allowed);
  CHECK(rs.role.rule == "authorization[2]");
  CHECK(rs.names.empty());
  auto none = p.decide_issue({Identity::Kind::dns, "x.other.example"}, names, "server", Seconds(3600));
  CHECK_FALSE(none.role.allowed);
  CHECK(none.role.rule == "authorization");
  CHECK(p.may_issue({Identity::Kind::dns, "x.other.example"}, names, "server", Seconds(3600)).error().detail ==
        none.role.detail);
}

TEST_CASE("Action::explain: admin and issuer roles, not renew-self") {
  const Policy p({{"sigil-admin", Role::admin, {}, {}, std::nullopt},
                  {"deployer.corp.example", Role::issuer, {"*.svc.corp.example"}, {}, std::nullopt},
                  {"*.corp.example", Role::renew_self, {}, {}, std::nullopt}});
  CHECK(p.may({Identity::Kind::dns, "sigil-admin"}, Action::explain).has_value());
  CHECK(p.may({Identity::Kind::dns, "deployer.corp.example"}, Action::explain).has_value());
  CHECK(p.may({Identity::Kind::dns, "web.corp.example"}, Action::explain).error().code == Errc::forbidden);
  CHECK(p.may({Identity::Kind::dns, "nobody.example"}, Action::explain).error().code == Errc::forbidden);
}
