// The ceremony: root, intermediate, CRLs, and the check that an intermediate belongs to a root.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;
namespace oid = crypto::oid;

crypto::Certificate root_for(const crypto::Signer& key, const Clock& clock, const std::string& name = "Sigil Test") {
  auto r = issuer::make_root(key, issuer::RootParams{name, Seconds(20LL * 365 * 86400)}, clock);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().detail));
  return std::move(r).value();
}

crypto::Csr intermediate_csr(const crypto::Signer& key) {
  auto der = crypto::make_csr(key, issuer::intermediate_subject("Sigil Test"), {});
  REQUIRE(der.has_value());
  return parse_csr(*der);
}

TEST_CASE("make_root: a self-signed CA certificate OpenSSL accepts as a trust anchor") {
  for (KeyType t : kAllKeyTypes) {
    const std::string name(crypto::to_string(t));
    CAPTURE(name);
    FakeClock clock(t0());
    const crypto::KeySigner& key = cached_key(t, 300);
    crypto::Certificate root = root_for(key, clock);
    auto x = x509_from_der(root.der());
    CHECK(X509_verify(x.get(), X509_get0_pubkey(x.get())) == 1);
    CHECK(X509_check_ca(x.get()) >= 1);
    CHECK(ext_critical(x.get(), NID_basic_constraints) == 1);
    CHECK(X509_get_key_usage(x.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(crypto::name_to_string(root.tbs().subject).value() == "CN=Sigil Test Root,O=Sigil Test");
    CHECK(root.tbs().not_before == t0() - Seconds(3600));
    CHECK(root.tbs().not_after == t0() + Seconds(20LL * 365 * 86400));
    CHECK(root.subject_key_id().value() == crypto::key_identifier(key.public_key()));
    CHECK(root.serial_hex().size() == 32);
  }
  FakeClock clock(t0());
  CHECK(issuer::make_root(cached_key(KeyType::ec_p256, 300), issuer::RootParams{"", Seconds(86400)}, clock)
            .error()
            .code == Errc::invalid_argument);
}

TEST_CASE("sign_intermediate: pathLen 0, AKI, CDP/AIA, validity inside the root") {
  for (KeyType root_type : {KeyType::ec_p384, KeyType::rsa_2048}) {
    for (KeyType int_type : kAllKeyTypes) {
      const std::string what = std::string(crypto::to_string(root_type)) + " root, " +
                               std::string(crypto::to_string(int_type)) + " intermediate";
      CAPTURE(what);
      FakeClock clock(t0());
      const crypto::KeySigner& root_key = cached_key(root_type, 300);
      const crypto::KeySigner& int_key = cached_key(int_type, 301);
      crypto::Certificate root = root_for(root_key, clock);
      clock.advance(Seconds(86400));
      issuer::IntermediateParams p;
      p.crl_url = "https://ca.example.internal/crl/root.crl";
      p.ca_issuers_url = "https://ca.example.internal/ca/root.crt";
      auto inter = issuer::sign_intermediate(root_key, root, intermediate_csr(int_key), p, clock);
      REQUIRE_MESSAGE(inter.has_value(), (inter ? "" : inter.error().detail));
      auto rx = x509_from_der(root.der());
      auto ix = x509_from_der(inter->der());
      CHECK(X509_verify(ix.get(), X509_get0_pubkey(rx.get())) == 1);
      CHECK(X509_check_issued(rx.get(), ix.get()) == X509_V_OK);
      BcPtr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(ix.get(), NID_basic_constraints, nullptr, nullptr)));
      REQUIRE(bc);
      CHECK(bc->ca != 0);
      REQUIRE(bc->pathlen != nullptr);
      CHECK(ASN1_INTEGER_get(bc->pathlen) == 0);
      CHECK(X509_get_key_usage(ix.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN));
      CHECK(inter->public_key().spki == int_key.public_key().spki);
      CHECK(crypto::name_to_string(inter->tbs().subject).value() == "CN=Sigil Test Intermediate,O=Sigil Test");
      auto aki = crypto::decode_authority_key_id(inter->tbs().find(oid::authority_key_identifier)->value);
      CHECK(aki.value() == *root.subject_key_id());
      CHECK(inter->tbs().find(oid::crl_distribution_points) != nullptr);
      CHECK(inter->tbs().find(oid::authority_info_access) != nullptr);
      CHECK(inter->tbs().not_before == clock.now() - Seconds(5 * 60));
      CHECK(inter->tbs().not_after == clock.now() + Seconds(5LL * 365 * 86400));
      CHECK(issuer::check_intermediate(*inter, root, clock).has_value());
    }
  }
}

TEST_CASE("sign_intermediate clamps to the root's validity and refuses what it must") {
  FakeClock clock(t0());
  const crypto::KeySigner& root_key = cached_key(KeyType::ec_p256, 300);
  const crypto::KeySigner& int_key = cached_key(KeyType::ec_p256, 301);
  auto r = issuer::make_root(root_key, issuer::RootParams{"Short", Seconds(30LL * 86400)}, clock);
  REQUIRE(r.has_value());
  const crypto::Certificate& root = *r;
  issuer::IntermediateParams p;
  p.backdate = Seconds(2 * 3600);  // more than the root's own backdate of one hour
  auto inter = issuer::sign_intermediate(root_key, root, intermediate_csr(int_key), p, clock);
  REQUIRE(inter.has_value());
  CHECK(inter->tbs().not_before == root.tbs().not_before);
  CHECK(inter->tbs().not_after == root.tbs().not_after);
  CHECK(inter->tbs().find(oid::crl_distribution_points) == nullptr);  // no URL given, none written
  CHECK(inter->tbs().find(oid::authority_info_access) == nullptr);

  // Wrong root key, broken CSR signature, weak key, empty subject, expired root.
  CHECK(issuer::sign_intermediate(cached_key(KeyType::ec_p256, 302), root, intermediate_csr(int_key), p, clock)
            .error()
            .code == Errc::invalid_argument);
  auto der = crypto::make_csr(int_key, issuer::intermediate_subject("Sigil Test"), {});
  REQUIRE(der.has_value());
  (*der)[der->size() - 2] ^= 0x01;
  CHECK(issuer::sign_intermediate(root_key, root, parse_csr(*der), p, clock).error().code == Errc::bad_csr);
  auto rsa1024 = keygen("RSA", nullptr, 1024);
  CHECK(issuer::sign_intermediate(root_key, root, parse_csr(openssl_csr(rsa1024.get(), "Weak CA")), p, clock)
            .error()
            .code == Errc::bad_public_key);
  auto empty = crypto::make_csr(int_key, crypto::encode_name(""), {});
  REQUIRE(empty.has_value());
  CHECK(issuer::sign_intermediate(root_key, root, parse_csr(*empty), p, clock).error().code == Errc::bad_csr);
  clock.set(root.tbs().not_after);
  CHECK(issuer::sign_intermediate(root_key, root, intermediate_csr(int_key), p, clock).error().code ==
        Errc::policy_violation);
}

TEST_CASE("check_intermediate accepts the right intermediate and refuses others") {
  FakeClock clock(t0());
  const crypto::KeySigner& root_key = cached_key(KeyType::ec_p256, 300);
  const crypto::KeySigner& other_root_key = cached_key(KeyType::ec_p256, 303);
  const crypto::KeySigner& int_key = cached_key(KeyType::ec_p384, 301);
  crypto::Certificate root = root_for(root_key, clock);
  crypto::Certificate other_root = root_for(other_root_key, clock);  // same name, other key
  issuer::IntermediateParams p;
  p.ttl = Seconds(365LL * 86400);
  auto inter = issuer::sign_intermediate(root_key, root, intermediate_csr(int_key), p, clock);
  REQUIRE(inter.has_value());
  auto foreign = issuer::sign_intermediate(other_root_key, other_root, intermediate_csr(int_key), p, clock);
  REQUIRE(foreign.has_value());

  CHECK(issuer::check_intermediate(*inter, root, clock).has_value());
  CHECK(issuer::check_intermediate(*foreign, other_root, clock).has_value());
  auto wrong = issuer::check_intermediate(*foreign, root, clock);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().code == Errc::invalid_argument);
  CHECK(issuer::check_intermediate(*inter, other_root, clock).error().code == Errc::invalid_argument);
  // A leaf is no intermediate, even when its issuer is given as the "root".
  TestCa ca;
  auto leaf = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "leaf.example.internal", {}), "server");
  REQUIRE(leaf.has_value());
  CHECK(issuer::check_intermediate(parse_cert(leaf->der), *ca.intermediate, ca.clock).error().code ==
        Errc::invalid_argument);
  // Expired, and not yet valid.
  FakeClock later(inter->tbs().not_after);
  CHECK(issuer::check_intermediate(*inter, root, later).error().code == Errc::invalid_argument);
  FakeClock earlier(inter->tbs().not_before - Seconds(1));
  CHECK(issuer::check_intermediate(*inter, root, earlier).error().code == Errc::invalid_argument);
}

TEST_CASE("make_crl: OpenSSL verifies it, and a revoked leaf fails path validation") {
  for (KeyType t : kAllKeyTypes) {
    const std::string name(crypto::to_string(t));
    CAPTURE(name);
    TestCa ca(CaOptions{KeyType::ec_p256, t});
    auto good = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "good.example.internal", {}), "server");
    auto bad = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "bad.example.internal", {}), "server");
    REQUIRE(good.has_value());
    REQUIRE(bad.has_value());
    ca.clock.advance(Seconds(600));
    issuer::CrlParams params;
    params.number = 7;
    params.validity = Seconds(7 * 86400);
    auto serial = from_hex(bad->serial);
    REQUIRE(serial.has_value());
    params.revoked = {{*serial, ca.clock.now() - Seconds(60), 1}};
    auto crl = issuer::make_crl(*ca.int_key, *ca.intermediate, params, ca.clock);
    REQUIRE_MESSAGE(crl.has_value(), (crl ? "" : crl.error().detail));

    auto c = crl_from_der(*crl);
    auto ix = x509_from_der(ca.intermediate->der());
    CHECK(X509_CRL_verify(c.get(), X509_get0_pubkey(ix.get())) == 1);
    AsnIntPtr number(static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(c.get(), NID_crl_number, nullptr, nullptr)));
    REQUIRE(number);
    CHECK(ASN1_INTEGER_get(number.get()) == 7);
    CHECK(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(c.get()),
                               static_cast<time_t>(to_unix(ca.clock.now() + Seconds(7 * 86400)))) == 0);
    REQUIRE(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c.get())) == 1);

    const TimePoint now = ca.clock.now();
    CHECK(openssl_verify_chain(good->der, ca.intermediate->der(), ca.root->der(), now, X509_PURPOSE_SSL_SERVER,
                               &*crl) == X509_V_OK);
    CHECK(openssl_verify_chain(bad->der, ca.intermediate->der(), ca.root->der(), now, X509_PURPOSE_SSL_SERVER, &*crl) ==
          X509_V_ERR_CERT_REVOKED);
  }
  // The root signs CRLs about intermediates too; a mismatched key is refused.
  TestCa ca;
  issuer::CrlParams params;
  params.number = 1;
  auto root_crl = issuer::make_crl(*ca.root_key, *ca.root, params, ca.clock);
  REQUIRE(root_crl.has_value());
  auto rc = crl_from_der(*root_crl);
  CHECK(X509_CRL_verify(rc.get(), X509_get0_pubkey(x509_from_der(ca.root->der()).get())) == 1);
  CHECK(issuer::make_crl(*ca.int_key, *ca.root, params, ca.clock).error().code == Errc::invalid_argument);
}

TEST_CASE("an intermediate with nameConstraints: Sigil and OpenSSL agree on what it may issue") {
  TestCa ca;
  // Re-sign the intermediate with a critical nameConstraints extension added.
  const Bytes nc =
      openssl_extension_value(NID_name_constraints,
                              "permitted;DNS:allowed.example.internal,excluded;DNS:no.allowed.example.internal,"
                              "permitted;IP:10.1.0.0/255.255.0.0");
  const Bytes tbs = rebuild_tbs(ca.intermediate->tbs_der(), [&](std::vector<ExtOut>& exts) {
    exts.push_back({Bytes(oid::name_constraints.begin(), oid::name_constraints.end()), true, nc});
  });
  crypto::Certificate constrained = parse_cert(sign_tbs(tbs, *ca.root_key));
  REQUIRE(crypto::verify_issued_by(constrained, *ca.root).has_value());
  auto is = issuer::Issuer::create(*ca.int_key, copy_of(constrained), test_identifier_policy(),
                                   policy::Profiles::defaults(), ca.opts.options, ca.clock, *ca.db);
  REQUIRE_MESSAGE(is.has_value(), (is ? "" : is.error().detail));
  const crypto::KeySigner& k = cached_key(KeyType::ec_p256, 7);
  auto issue = [&](const std::vector<GeneralName>& sans) -> Result<issuer::Issued> {
    SIGIL_TRY(issuer::Prepared p, (*is)->prepare({csr_pem(k, "", sans), "server", std::nullopt, "t"}));
    return (*is)->issue(std::move(p));
  };
  auto ok = issue({{GN::dns, "a.allowed.example.internal"}, {GN::ip, "10.1.2.3"}});
  REQUIRE_MESSAGE(ok.has_value(), (ok ? "" : ok.error().detail));
  CHECK(openssl_verify_chain(ok->der, constrained.der(), ca.root->der(), ca.clock.now(), X509_PURPOSE_SSL_SERVER) ==
        X509_V_OK);
  for (const auto& sans : std::vector<std::vector<GeneralName>>{{{GN::dns, "other.example.internal"}},
                                                                {{GN::dns, "x.no.allowed.example.internal"}},
                                                                {{GN::ip, "10.2.0.1"}}}) {
    const std::string n = crypto::to_string(sans[0]);
    CAPTURE(n);
    auto r = issue(sans);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::rejected_identifier);
  }
}

// A leaf signed with `key` under `ca`, outside Sigil's Issuer: what a thief of the intermediate's
// key could make. `cn` goes into the subject; `sans` may be empty.
Bytes forge_leaf(const crypto::Signer& key, const crypto::Certificate& ca, const std::string& cn,
                 const std::vector<GeneralName>& sans, const Clock& clock) {
  crypto::CertificateSpec spec;
  spec.serial = issuer::new_serial();
  spec.signature = key.signature_algorithm();
  spec.issuer.assign(ca.tbs().subject.begin(), ca.tbs().subject.end());
  spec.subject = crypto::encode_name(cn);
  spec.not_before = clock.now() - Seconds(60);
  spec.not_after = clock.now() + Seconds(86400);
  spec.spki = cached_key(KeyType::ec_p256, 7).public_key().spki;
  spec.key_usage = crypto::ku::digital_signature;
  spec.ext_key_usage = {crypto::Eku::server_auth, crypto::Eku::client_auth};
  spec.subject_key_id = crypto::key_identifier(cached_key(KeyType::ec_p256, 7).public_key());
  spec.authority_key_id = ca.subject_key_id().value();
  spec.sans = sans;
  auto tbs = crypto::encode_tbs(spec);
  REQUIRE_MESSAGE(tbs.has_value(), (tbs ? "" : tbs.error().detail));
  return sign_tbs(*tbs, key);
}

TEST_CASE(
    "sign_intermediate with the policy's name constraints: forged leaves outside it fail OpenSSL's path "
    "validation") {
  FakeClock clock(t0());
  const crypto::KeySigner& root_key = cached_key(KeyType::ec_p384, 300);
  const crypto::KeySigner& int_key = cached_key(KeyType::ec_p256, 301);
  crypto::Certificate root = root_for(root_key, clock);
  const policy::IdentifierPolicy pol = test_identifier_policy();  // example.internal, 10/8, fd00::/8, spiffe
  issuer::IntermediateParams p;
  p.name_constraints = policy::name_constraints_for(pol, {"localhost", "sigil-admin"});
  auto inter = issuer::sign_intermediate(root_key, root, intermediate_csr(int_key), p, clock);
  REQUIRE_MESSAGE(inter.has_value(), (inter ? "" : inter.error().detail));
  auto ix = x509_from_der(inter->der());
  CHECK(ext_critical(ix.get(), NID_name_constraints) == 1);
  // EKU serverAuth + clientAuth, and no OCSPSigning (that would make it a responder for the root).
  CHECK(X509_get_extended_key_usage(ix.get()) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  const TimePoint now = clock.now();
  auto verify = [&](const std::string& cn, const std::vector<GeneralName>& sans) {
    return openssl_verify_chain(forge_leaf(int_key, *inter, cn, sans, clock), inter->der(), root.der(), now, 0);
  };
  struct Case {
    std::string cn;
    std::vector<GeneralName> sans;
  };
  for (const Case& c : std::vector<Case>{{"", {{GN::dns, "www.example.com"}}},
                                         {"www.example.com", {}},  // CN only: OpenSSL checks it as a DNS name
                                         {"", {{GN::dns, "a.example.internal"}, {GN::dns, "www.example.com"}}},
                                         {"", {{GN::dns, "example.internal.evil.com"}}},
                                         {"", {{GN::ip, "8.8.8.8"}}},
                                         {"", {{GN::ip, "2001:db8::1"}}},
                                         {"", {{GN::uri, "spiffe://evil.example/ns/a"}}},
                                         {"", {{GN::email, "ceo@example.com"}}}}) {
    const std::string what = c.cn + " " + (c.sans.empty() ? "" : crypto::to_string(c.sans.back()));
    CAPTURE(what);
    const int rc = verify(c.cn, c.sans);
    CHECK((rc == X509_V_ERR_PERMITTED_VIOLATION || rc == X509_V_ERR_EXCLUDED_VIOLATION));
  }
  for (const Case& c : std::vector<Case>{{"a.example.internal", {{GN::dns, "a.example.internal"}}},
                                         {"", {{GN::dns, "*.svc.example.internal"}}},
                                         {"", {{GN::dns, "localhost"}}},
                                         {"", {{GN::dns, "sigil-admin"}}},
                                         {"", {{GN::ip, "10.1.2.3"}, {GN::ip, "fd00::5"}}},
                                         {"", {{GN::uri, "spiffe://example.internal/ns/a"}}},
                                         {"", {{GN::email, "ops@example.internal"}}},
                                         {"", {{GN::email, "ops@mail.example.internal"}}}}) {
    const std::string what = c.cn + " " + crypto::to_string(c.sans.back());
    CAPTURE(what);
    CHECK(verify(c.cn, c.sans) == X509_V_OK);
  }

  // Sigil's own issuer under it: leaves, the delegated OCSP responder (OCSPSigning in its own
  // certificate, under an intermediate whose EKU lacks it) and an IP-only leaf all verify.
  TestCa ca;  // for its database
  auto is = issuer::Issuer::create(int_key, copy_of(*inter), pol, policy::Profiles::defaults(), ca.opts.options, clock,
                                   *ca.db);
  REQUIRE_MESSAGE(is.has_value(), (is ? "" : is.error().detail));
  const crypto::KeySigner& k = cached_key(KeyType::ec_p256, 7);
  for (const auto& sans :
       std::vector<std::vector<GeneralName>>{{{GN::dns, "b.example.internal"}}, {{GN::ip, "10.9.8.7"}}}) {
    const std::string n = crypto::to_string(sans[0]);
    CAPTURE(n);
    auto prepared = (*is)->prepare({csr_pem(k, "", sans), "server", std::nullopt, "t"});
    REQUIRE_MESSAGE(prepared.has_value(), (prepared ? "" : prepared.error().detail));
    auto issued = (*is)->issue(std::move(*prepared));
    REQUIRE(issued.has_value());
    CHECK(openssl_verify_chain(issued->der, inter->der(), root.der(), now, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
  }
  auto responder = (*is)->prepare_ocsp_responder(k.public_key(), Seconds(86400), "t", nullptr);
  REQUIRE_MESSAGE(responder.has_value(), (responder ? "" : responder.error().detail));
  auto rcert = (*is)->issue(std::move(*responder));
  REQUIRE(rcert.has_value());
  CHECK(openssl_verify_chain(rcert->der, inter->der(), root.der(), now, X509_PURPOSE_OCSP_HELPER) == X509_V_OK);

  // The opt-out: no extension, and the same forgery verifies (what the constraints prevent).
  issuer::IntermediateParams free_params;
  auto free = issuer::sign_intermediate(root_key, root, intermediate_csr(int_key), free_params, clock);
  REQUIRE(free.has_value());
  CHECK(free->tbs().find(oid::name_constraints) == nullptr);
  CHECK(openssl_verify_chain(forge_leaf(int_key, *free, "", {{GN::dns, "www.example.com"}}, clock), free->der(),
                             root.der(), now, 0) == X509_V_OK);
}

}  // namespace
