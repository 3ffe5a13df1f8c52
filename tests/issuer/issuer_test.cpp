// Issuer: prepare -> issue against a real SQLite store; the certificates are judged by OpenSSL.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "ca/base/duration.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;
namespace oid = crypto::oid;

std::string type_name(KeyType t) { return std::string(crypto::to_string(t)); }

struct ProfileCase {
  std::string profile;
  std::string cn;
  std::vector<GeneralName> sans;
  std::vector<GeneralName> expect;  // the certified names, in order
  int purpose;
  unsigned long xku;
};

std::vector<ProfileCase> profile_cases() {
  return {
      {"server",
       "WWW.Example.Internal",
       {{GN::dns, "www.example.internal"}, {GN::ip, "10.1.2.3"}, {GN::ip, "fd00:0::7"}},
       {{GN::dns, "www.example.internal"}, {GN::ip, "10.1.2.3"}, {GN::ip, "fd00::7"}},
       X509_PURPOSE_SSL_SERVER,
       XKU_SSL_SERVER},
      {"client",
       "",
       {{GN::email, "ops@example.internal"},
        {GN::dns, "host.example.internal"},
        {GN::uri, "spiffe://example.internal/ns/ops"}},
       {{GN::email, "ops@example.internal"},
        {GN::dns, "host.example.internal"},
        {GN::uri, "spiffe://example.internal/ns/ops"}},
       X509_PURPOSE_SSL_CLIENT,
       XKU_SSL_CLIENT},
      // Only a URI: the subject is empty, so the SAN must be critical.
      {"spiffe",
       "",
       {{GN::uri, "spiffe://example.internal/ns/default/sa/web"}},
       {{GN::uri, "spiffe://example.internal/ns/default/sa/web"}},
       X509_PURPOSE_SSL_SERVER,
       XKU_SSL_SERVER | XKU_SSL_CLIENT},
  };
}

Bytes octets(const ASN1_OCTET_STRING* s) {
  REQUIRE(s != nullptr);
  return Bytes(ASN1_STRING_get0_data(s), ASN1_STRING_get0_data(s) + ASN1_STRING_length(s));
}

std::string uri_of(const GENERAL_NAME* g) {
  REQUIRE(g->type == GEN_URI);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier)),
                     static_cast<std::size_t>(ASN1_STRING_length(g->d.uniformResourceIdentifier)));
}

TEST_CASE("issuance for every profile and every intermediate key type, judged by OpenSSL") {
  const KeyType leaf_types[] = {KeyType::ec_p256, KeyType::rsa_2048, KeyType::ed25519, KeyType::ec_p384};
  int n = 0;
  for (KeyType int_type : kAllKeyTypes) {
    TestCa ca(CaOptions{KeyType::ec_p384, int_type});
    const issuer::IssuerUrls urls = issuer::urls_for(kPublicUrl, *ca.intermediate);
    CHECK(urls.crl == "https://ca.example.internal/crl/" + issuer::issuer_id(*ca.intermediate).substr(0, 16) + ".crl");
    auto int_x = x509_from_der(ca.intermediate->der());
    std::int64_t rows = 0;
    for (const ProfileCase& pc : profile_cases()) {
      const KeyType leaf_type = leaf_types[static_cast<std::size_t>(n++) % std::size(leaf_types)];
      const std::string what =
          type_name(int_type) + " intermediate, " + pc.profile + " profile, " + type_name(leaf_type) + " leaf";
      CAPTURE(what);
      const crypto::KeySigner& leaf_key = cached_key(leaf_type, 7);
      const std::string csr = csr_pem(leaf_key, pc.cn, pc.sans);
      ca.clock.advance(Seconds(10));
      const TimePoint now = ca.clock.now();

      auto prepared = ca.issuer().prepare({csr, pc.profile, std::nullopt, "test:alice"});
      REQUIRE_MESSAGE(prepared.has_value(), (prepared ? "" : prepared.error().detail));
      const store::PendingCertificate pending = prepared->pending();
      CHECK(pending.profile == pc.profile);
      CHECK(pending.requester == "test:alice");
      CHECK(pending.issuer_id == ca.issuer().id());
      CHECK(pending.issuer_id == to_hex(crypto::sha256(ca.intermediate->public_key().spki)));
      CHECK(pending.sans.size() == pc.expect.size());
      CHECK(ca.count() == rows);  // prepare writes nothing

      auto issued = ca.issuer().issue(std::move(*prepared));
      REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
      ++rows;
      CHECK(issued->serial == pending.serial);
      CHECK(issued->chain_pem == pem_encode("CERTIFICATE", issued->der) + ca.intermediate->pem());

      // OpenSSL: parses, verifies against the intermediate, and the whole chain validates
      // (strict RFC 5280 checks, the profile's purpose) at the fake "now".
      auto x = x509_from_der(issued->der);
      CHECK(X509_verify(x.get(), X509_get0_pubkey(int_x.get())) == 1);
      CHECK(openssl_verify_chain(issued->der, ca.intermediate->der(), ca.root->der(), now, pc.purpose) == X509_V_OK);
      if (pc.profile == "spiffe")
        CHECK(openssl_verify_chain(issued->der, ca.intermediate->der(), ca.root->der(), now, X509_PURPOSE_SSL_CLIENT) ==
              X509_V_OK);
      CHECK(test::bn_hex(X509_get0_serialNumber(x.get())) == issued->serial);

      // Extensions and their criticality.
      CHECK(ext_critical(x.get(), NID_basic_constraints) == 1);
      CHECK(X509_check_ca(x.get()) == 0);
      CHECK(ext_critical(x.get(), NID_key_usage) == 1);
      const bool rsa_server = leaf_type == KeyType::rsa_2048 && pc.profile != "client";
      CHECK(X509_get_key_usage(x.get()) ==
            (rsa_server ? (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT) : KU_DIGITAL_SIGNATURE));
      CHECK(ext_critical(x.get(), NID_ext_key_usage) == 0);
      CHECK(X509_get_extended_key_usage(x.get()) == pc.xku);
      CHECK(octets(X509_get0_subject_key_id(x.get())) == crypto::key_identifier(leaf_key.public_key()));
      CHECK(octets(X509_get0_authority_key_id(x.get())) == *ca.intermediate->subject_key_id());
      const bool empty_subject = X509_NAME_entry_count(X509_get_subject_name(x.get())) == 0;
      CHECK(ext_critical(x.get(), NID_subject_alt_name) == (empty_subject ? 1 : 0));
      CHECK(empty_subject == (pc.profile == "spiffe"));
      CdpPtr cdp(
          static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(x.get(), NID_crl_distribution_points, nullptr, nullptr)));
      REQUIRE(cdp);
      CHECK(uri_of(sk_GENERAL_NAME_value(sk_DIST_POINT_value(cdp.get(), 0)->distpoint->name.fullname, 0)) == urls.crl);
      AiaPtr aia(static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(x.get(), NID_info_access, nullptr, nullptr)));
      REQUIRE(aia);
      REQUIRE(sk_ACCESS_DESCRIPTION_num(aia.get()) == 2);
      CHECK(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia.get(), 0)->method) == NID_ad_OCSP);
      CHECK(uri_of(sk_ACCESS_DESCRIPTION_value(aia.get(), 0)->location) == urls.ocsp);
      CHECK(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia.get(), 1)->method) == NID_ad_ca_issuers);
      CHECK(uri_of(sk_ACCESS_DESCRIPTION_value(aia.get(), 1)->location) == urls.ca_issuers);
      CHECK(X509_get_ext_count(x.get()) == 8);

      // Sigil's own reading: names, subject, validity.
      crypto::Certificate c = parse_cert(issued->der);
      CHECK(crypto::decode_general_names(c.tbs().find(oid::subject_alt_name)->value).value() == pc.expect);
      CHECK(crypto::verify_issued_by(c, *ca.intermediate).has_value());
      if (pc.profile == "server") CHECK(crypto::name_to_string(c.tbs().subject).value() == "CN=www.example.internal");
      if (pc.profile == "client") CHECK(crypto::name_to_string(c.tbs().subject).value() == "CN=host.example.internal");
      CHECK(c.tbs().not_before == now - Seconds(5 * 60));
      CHECK(c.tbs().not_after == now + Seconds(86400));
      CHECK(issued->not_before == c.tbs().not_before);
      CHECK(issued->not_after == c.tbs().not_after);

      // The store holds the row, valid, with the DER, and the audit trail has both steps.
      auto rec = ca.db->find(issued->serial);
      REQUIRE(rec.has_value());
      REQUIRE(rec->has_value());
      const store::CertificateRecord& r = **rec;
      CHECK(r.status == store::CertStatus::valid);
      CHECK(r.der == issued->der);
      CHECK(r.tbs_der == Bytes(c.tbs_der().begin(), c.tbs_der().end()));
      CHECK(r.profile == pc.profile);
      CHECK(r.requester == "test:alice");
      CHECK(r.issuer_id == ca.issuer().id());
      CHECK(r.sans == pending.sans);
      CHECK(r.not_before == to_unix(c.tbs().not_before));
      CHECK(r.not_after == to_unix(c.tbs().not_after));
      CHECK(ca.count() == rows);
      int reserve = 0, issue = 0;
      for (const auto& a : ca.audit()) {
        if (a.target != issued->serial) continue;
        CHECK(a.actor == "test:alice");
        CHECK(a.outcome == "ok");
        reserve += a.action == "reserve";
        issue += a.action == "issue";
      }
      CHECK(reserve == 1);
      CHECK(issue == 1);
    }
    CHECK(ca.db->integrity_check().value() == "ok");
  }
}

TEST_CASE("identifiers from the CN join the SANs, normalised and without duplicates") {
  TestCa ca;
  const crypto::KeySigner& k = cached_key(KeyType::ec_p256, 7);
  {
    // CN only, an IP address.
    auto issued = ca.issue(csr_pem(k, "10.9.8.7", {}), "server");
    REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
    crypto::Certificate c = parse_cert(issued->der);
    CHECK(crypto::decode_general_names(c.tbs().find(oid::subject_alt_name)->value).value() ==
          std::vector<GeneralName>{{GN::ip, "10.9.8.7"}});
    // No CN: an IP literal there would be checked against dNSName constraints (OpenSSL).
    CHECK(crypto::name_is_empty(c.tbs().subject));
    CHECK(c.tbs().find(oid::subject_alt_name)->critical);
  }
  {
    // A CN outside the SANs comes first; a duplicate differing in case collapses.
    auto issued = ca.issue(
        csr_pem(k, "Api.Example.Internal", {{GN::dns, "www.example.internal"}, {GN::dns, "WWW.example.internal"}}),
        "server");
    REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
    crypto::Certificate c = parse_cert(issued->der);
    const std::vector<GeneralName> want = {{GN::dns, "api.example.internal"}, {GN::dns, "www.example.internal"}};
    CHECK(crypto::decode_general_names(c.tbs().find(oid::subject_alt_name)->value).value() == want);
    CHECK(crypto::name_to_string(c.tbs().subject).value() == "CN=api.example.internal");
  }
  {
    // A wildcard under an allowed suffix.
    auto issued = ca.issue(csr_pem(k, "", {{GN::dns, "*.svc.example.internal"}}), "server");
    REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
    auto x = x509_from_der(issued->der);
    CHECK(X509_check_host(x.get(), "a.svc.example.internal", 0, 0, nullptr) == 1);
  }
  // CSRs made by OpenSSL go through the same path (challengePassword included).
  auto key = keygen("EC", "P-256");
  const Bytes der = openssl_csr(key.get(), "o.example.internal", "DNS:o.example.internal", "pw");
  auto issued = ca.issue(std::string(as_chars(der)), "server");
  REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
  CHECK(ca.count() == 4);
}

TEST_CASE("validity: the TTL asked, clamped to the intermediate's notAfter, backdated inside its notBefore") {
  TestCa ca(CaOptions{KeyType::ec_p256, KeyType::ec_p256, 0, Seconds(10LL * 86400)});
  const crypto::KeySigner& k = cached_key(KeyType::ec_p256, 7);
  const std::string csr = csr_pem(k, "v.example.internal", {});
  const TimePoint ca_nb = ca.intermediate->tbs().not_before;
  const TimePoint ca_na = ca.intermediate->tbs().not_after;
  CHECK(ca_na - ca_nb == Seconds(10LL * 86400 + 5 * 60));

  ca.clock.advance(Seconds(3600));
  auto a = ca.issue(csr, "server", Seconds(2 * 3600));
  REQUIRE(a.has_value());
  CHECK(a->not_before == ca.clock.now() - Seconds(5 * 60));
  CHECK(a->not_after == ca.clock.now() + Seconds(2 * 3600));

  // One hour before the intermediate expires a 30-day certificate ends with it.
  ca.clock.set(ca_na - Seconds(3600));
  auto b = ca.issue(csr, "server", Seconds(30LL * 86400));
  REQUIRE(b.has_value());
  CHECK(b->not_after == ca_na);
  crypto::Certificate bc = parse_cert(b->der);
  CHECK(bc.tbs().not_after == ca_na);
  CHECK(openssl_verify_chain(b->der, ca.intermediate->der(), ca.root->der(), ca.clock.now(), X509_PURPOSE_SSL_SERVER) ==
        X509_V_OK);

  // Right after the intermediate starts, the backdate stops at its notBefore.
  ca.clock.set(ca_nb + Seconds(60));
  auto c = ca.issue(csr, "server");
  REQUIRE(c.has_value());
  CHECK(c->not_before == ca_nb);
  CHECK(parse_cert(c->der).tbs().not_before == ca_nb);
}

TEST_CASE("the backdate comes from Options") {
  CaOptions o;
  o.options.backdate = Seconds(3600);
  TestCa ca(o);
  ca.clock.advance(Seconds(86400));
  auto a = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "b.example.internal", {}), "server");
  REQUIRE(a.has_value());
  CHECK(a->not_before == ca.clock.now() - Seconds(3600));
  // The longest certificate the profile allows still lints (max TTL + backdate).
  auto b = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "b.example.internal", {}), "server", Seconds(90 * 86400));
  REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().detail));
}

TEST_CASE("without a public URL no CDP or AIA is written") {
  CaOptions o;
  o.options.public_url = "";
  TestCa ca(o);
  auto a = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "n.example.internal", {}), "server");
  REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().detail));
  auto x = x509_from_der(a->der);
  CHECK(X509_get_ext_by_NID(x.get(), NID_crl_distribution_points, -1) < 0);
  CHECK(X509_get_ext_by_NID(x.get(), NID_info_access, -1) < 0);
  CHECK(X509_get_ext_count(x.get()) == 6);
}

// The fullName URIs of a certificate's CRLDistributionPoints or FreshestCRL extension.
std::vector<std::string> distribution_urls(const crypto::Certificate& c, crypto::ByteView ext_oid) {
  const crypto::Extension* e = c.tbs().find(ext_oid);
  if (e == nullptr) return {};
  auto urls = crypto::decode_distribution_point_urls(e->value);
  REQUIRE_MESSAGE(urls.has_value(), (urls ? "" : urls.error().detail));
  return *urls;
}

TEST_CASE("CRL paths and URLs: shard 0 is the issuer's single CRL, shards k > 0 under its directory") {
  TestCa ca;
  const std::string id = issuer::issuer_id(*ca.intermediate).substr(0, 16);
  CHECK(issuer::crl_path(*ca.intermediate, 0) == "/crl/" + id + ".crl");
  CHECK(issuer::crl_path(*ca.intermediate, 0, true) == "/crl/" + id + "-delta.crl");
  CHECK(issuer::crl_path(*ca.intermediate, 17) == "/crl/" + id + "/17.crl");
  CHECK(issuer::crl_path(*ca.intermediate, 17, true) == "/crl/" + id + "/17-delta.crl");
  CHECK(issuer::crl_url(kPublicUrl, *ca.intermediate, 3) == "https://ca.example.internal/crl/" + id + "/3.crl");
  CHECK(issuer::crl_url("", *ca.intermediate, 3).empty());
  CHECK(issuer::urls_for(kPublicUrl, *ca.intermediate).crl == issuer::crl_url(kPublicUrl, *ca.intermediate, 0));
  // The shard of a serial: 0 unsharded, else 1 + (low 64 bits mod N).
  const Bytes serial{0x12, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a};
  CHECK(issuer::crl_shard_for(serial, 1) == 0);
  CHECK(issuer::crl_shard_for(serial, 4) == 1 + 10 % 4);
  CHECK(issuer::crl_shard_for(serial, 1024) == 11);
  CHECK(issuer::crl_shard_for(Bytes{0x05}, 3) == 1 + 5 % 3);
}

TEST_CASE("sharded CRLs: each leaf's CDP is its shard's URL, fixed at issuance and stored with it") {
  TestCa ca;
  const auto& inter = *ca.intermediate;
  auto issue_one = [&](int i) {
    auto a =
        ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "s" + std::to_string(i) + ".example.internal", {}), "server");
    REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().detail));
    return parse_cert(a->der);
  };
  auto stored_shard = [&](const crypto::Certificate& c) {
    auto rec = ca.db->find(c.serial_hex());
    REQUIRE(rec.has_value());
    REQUIRE(rec->has_value());
    return (*rec)->crl_shard;
  };

  // Unsharded (the default): today's URL, shard 0, no FreshestCRL.
  const auto plain = issue_one(0);
  CHECK(distribution_urls(plain, oid::crl_distribution_points) ==
        std::vector<std::string>{issuer::crl_url(kPublicUrl, inter, 0)});
  CHECK(distribution_urls(plain, oid::freshest_crl).empty());
  CHECK(stored_shard(plain) == 0);

  // Four shards with delta CRLs: shard 1..4 from the serial, its URL, its delta's URL.
  REQUIRE(ca.issuer().update_crl_layout({4, true}));
  std::set<int> seen;
  for (int i = 1; i <= 60; ++i) {
    const auto c = issue_one(i);
    const int shard = stored_shard(c);
    CAPTURE(shard);
    CHECK(shard >= 1);
    CHECK(shard <= 4);
    CHECK(shard == issuer::crl_shard_for(c.tbs().serial, 4));
    CHECK(distribution_urls(c, oid::crl_distribution_points) ==
          std::vector<std::string>{issuer::crl_url(kPublicUrl, inter, shard)});
    CHECK(distribution_urls(c, oid::freshest_crl) ==
          std::vector<std::string>{issuer::crl_url(kPublicUrl, inter, shard, true)});
    // OpenSSL reads the FreshestCRL extension, non-critical.
    auto x = x509_from_der(c.der());
    const int at = X509_get_ext_by_NID(x.get(), NID_freshest_crl, -1);
    REQUIRE(at >= 0);
    CHECK(X509_EXTENSION_get_critical(X509_get_ext(x.get(), at)) == 0);
    seen.insert(shard);
  }
  CHECK(seen.size() == 4);  // 60 uniform draws miss a shard with probability < 1e-7

  // Changing the layout changes only what comes next: an earlier certificate keeps its shard.
  REQUIRE(ca.issuer().update_crl_layout({1, false}));
  CHECK(stored_shard(issue_one(99)) == 0);
  CHECK(ca.issuer().update_crl_layout({0, false}).error().code == Errc::invalid_argument);
  CHECK(ca.issuer().update_crl_layout({issuer::kMaxCrlShards + 1, false}).error().code == Errc::invalid_argument);
  CHECK(ca.issuer().update_crl_layout({issuer::kMaxCrlShards, true}));
}

TEST_CASE("sharded CRLs without a public URL: no CDP, shard 0") {
  CaOptions o;
  o.options.public_url = "";
  TestCa ca(o);
  REQUIRE(ca.issuer().update_crl_layout({8, true}));
  auto a = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "n.example.internal", {}), "server");
  REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().detail));
  const auto c = parse_cert(a->der);
  CHECK(c.tbs().find(oid::crl_distribution_points) == nullptr);
  CHECK(c.tbs().find(oid::freshest_crl) == nullptr);
  CHECK((*ca.db->find(a->serial))->crl_shard == 0);
}

struct Refusal {
  std::string what;
  std::string csr;
  std::string profile;
  std::optional<Seconds> ttl;
  Errc code;
};

TEST_CASE("refusals change nothing: no row, no audit entry, no signature") {
  TestCa ca;
  const crypto::KeySigner& k = cached_key(KeyType::ec_p256, 7);
  // One good issuance first so the store is not trivially empty.
  REQUIRE(ca.issue(csr_pem(k, "ok.example.internal", {}), "server").has_value());
  const std::int64_t rows = ca.count();
  const std::size_t audit_rows = ca.audit().size();
  REQUIRE(rows == 1);
  REQUIRE(audit_rows == 2);

  auto broken_sig = [&] {
    auto der = crypto::make_csr(k, crypto::encode_name("s.example.internal"), {});
    REQUIRE(der.has_value());
    (*der)[der->size() - 2] ^= 0x01;
    return pem_encode("CERTIFICATE REQUEST", *der);
  }();
  auto rsa1024 = keygen("RSA", nullptr, 1024);
  const std::string small_rsa = pem_encode("CERTIFICATE REQUEST", openssl_csr(rsa1024.get(), "r.example.internal"));
  const std::string good = csr_pem(k, "g.example.internal", {});

  // Allowed names, but so many long ones that the certificate would be larger than any this CA
  // issues (ACME revokeCert refuses larger ones unparsed, trusting that bound).
  std::vector<GeneralName> long_mailboxes;
  for (int i = 0; i < 100; ++i)
    long_mailboxes.push_back({GN::email, std::string(350, 'm') + std::to_string(i) + "@example.internal"});

  const std::vector<Refusal> refusals = {
      {"a certificate larger than kMaxCertificateSize", csr_pem(k, "", long_mailboxes), "client", std::nullopt,
       Errc::policy_violation},
      {"malformed PEM", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB!!\n-----END CERTIFICATE REQUEST-----\n", "server",
       std::nullopt, Errc::bad_csr},
      {"truncated PEM", good.substr(0, good.size() / 2), "server", std::nullopt, Errc::bad_csr},
      {"not a CSR at all", "hello", "server", std::nullopt, Errc::bad_csr},
      {"broken CSR signature", broken_sig, "server", std::nullopt, Errc::bad_csr},
      {"RSA-1024 key", small_rsa, "server", std::nullopt, Errc::bad_public_key},
      {"SAN outside the policy", csr_pem(k, "", {{GN::dns, "www.evil.example"}}), "server", std::nullopt,
       Errc::rejected_identifier},
      {"suffix look-alike", csr_pem(k, "evilexample.internal", {}), "server", std::nullopt, Errc::rejected_identifier},
      {"one bad name among good ones", csr_pem(k, "", {{GN::dns, "a.example.internal"}, {GN::ip, "192.168.0.1"}}),
       "server", std::nullopt, Errc::rejected_identifier},
      {"email on the server profile", csr_pem(k, "", {{GN::email, "a@example.internal"}}), "server", std::nullopt,
       Errc::rejected_identifier},
      {"two SPIFFE URIs on the spiffe profile",
       csr_pem(k, "", {{GN::uri, "spiffe://example.internal/a"}, {GN::uri, "spiffe://example.internal/b"}}), "spiffe",
       std::nullopt, Errc::rejected_identifier},
      {"no SPIFFE URI on the spiffe profile", csr_pem(k, "", {{GN::dns, "a.example.internal"}}), "spiffe", std::nullopt,
       Errc::rejected_identifier},
      {"SPIFFE ID of another trust domain", csr_pem(k, "", {{GN::uri, "spiffe://other.internal/a"}}), "spiffe",
       std::nullopt, Errc::rejected_identifier},
      {"no identifier at all", csr_pem(k, "", {}), "server", std::nullopt, Errc::bad_csr},
      {"CN that is no DNS name", csr_pem(k, "my service", {}), "server", std::nullopt, Errc::bad_csr},
      {"TTL above the profile max", good, "server", Seconds(90 * 86400 + 1), Errc::policy_violation},
      {"TTL above the spiffe max", csr_pem(k, "", {{GN::uri, "spiffe://example.internal/a"}}), "spiffe",
       Seconds(31 * 86400), Errc::policy_violation},
      {"zero TTL", good, "server", Seconds(0), Errc::invalid_argument},
      {"negative TTL", good, "server", Seconds(-60), Errc::invalid_argument},
      {"unknown profile", good, "admin", std::nullopt, Errc::invalid_argument},
      {"empty profile", good, "", std::nullopt, Errc::invalid_argument},
  };
  for (const Refusal& r : refusals) {
    CAPTURE(r.what);
    auto p = ca.issuer().prepare({r.csr, r.profile, r.ttl, "test:mallory"});
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == r.code);
    CHECK_FALSE(p.error().detail.empty());
  }
  CHECK(ca.count() == rows);
  CHECK(ca.audit().size() == audit_rows);
  for (const auto& a : ca.audit()) CHECK(a.actor != "test:mallory");
}

TEST_CASE("an expired or not yet valid intermediate issues nothing") {
  TestCa ca;
  const std::string csr = csr_pem(cached_key(KeyType::ec_p256, 7), "e.example.internal", {});
  const TimePoint na = ca.intermediate->tbs().not_after;
  ca.clock.set(na);
  auto at_end = ca.issuer().prepare({csr, "server", std::nullopt, "t"});
  REQUIRE_FALSE(at_end.has_value());
  CHECK(at_end.error().code == Errc::policy_violation);
  ca.clock.set(na + Seconds(86400));
  CHECK(ca.issuer().prepare({csr, "server", std::nullopt, "t"}).error().code == Errc::policy_violation);
  ca.clock.set(ca.intermediate->tbs().not_before - Seconds(1));
  CHECK(ca.issuer().prepare({csr, "server", std::nullopt, "t"}).error().code == Errc::policy_violation);
  CHECK(ca.count() == 0);
  CHECK(ca.audit().empty());
  // One second before the end it still issues, ending with the intermediate.
  ca.clock.set(na - Seconds(1));
  auto last = ca.issue(csr, "server");
  REQUIRE(last.has_value());
  CHECK(last->not_after == na);
}

TEST_CASE("Prepared is single-use: moving it and issuing twice issues once") {
  TestCa ca;
  const std::string csr = csr_pem(cached_key(KeyType::ec_p256, 7), "once.example.internal", {});
  auto p = ca.issuer().prepare({csr, "server", std::nullopt, "test:once"});
  REQUIRE(p.has_value());
  issuer::Prepared q = std::move(*p);
  auto first = ca.issuer().issue(std::move(q));
  REQUIRE(first.has_value());
  auto second = ca.issuer().issue(std::move(q));
  CHECK_FALSE(second.has_value());
  auto third = ca.issuer().issue(std::move(*p));  // the moved-from original
  CHECK_FALSE(third.has_value());
  CHECK(ca.count() == 1);
  CHECK(ca.audit().size() == 2);
}

// Regression: issue() marks only its local copy as used, so the "issued once" guard
// never fires; a second issue() of the same token is refused only because the moved-from
// PendingCertificate has an empty serial that the SQLite store happens to reject.
TEST_CASE("Prepared is single-use: the second issue() is refused by the Issuer itself") {
  TestCa ca;
  const std::string csr = csr_pem(cached_key(KeyType::ec_p256, 7), "once.example.internal", {});
  auto p = ca.issuer().prepare({csr, "server", std::nullopt, "test:once"});
  REQUIRE(p.has_value());
  REQUIRE(ca.issuer().issue(std::move(*p)).has_value());
  auto second = ca.issuer().issue(std::move(*p));
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == Errc::internal);
}

// A signer that counts signatures, and a ledger that fails on demand: persist before sign,
// persist before release.
class CountingSigner final : public crypto::Signer {
 public:
  explicit CountingSigner(const crypto::Signer& inner) : inner_(inner) {}
  const crypto::PublicKey& public_key() const override { return inner_.public_key(); }
  crypto::SignatureAlgorithm signature_algorithm() const override { return inner_.signature_algorithm(); }
  Result<Bytes> sign(crypto::ByteView data) const override {
    ++count;
    return inner_.sign(data);
  }
  mutable std::atomic<int> count{0};

 private:
  const crypto::Signer& inner_;
};

class FlakyLedger final : public store::CertificateLedger {
 public:
  explicit FlakyLedger(store::Store& inner) : inner_(inner) {}
  Status reserve(const store::PendingCertificate& p, const store::AuditEntry& a) override {
    if (fail_reserve) return make_error(Errc::storage, "disk full");
    return inner_.reserve(p, a);
  }
  Status complete(const std::string& serial, const Bytes& der, const store::AuditEntry& a) override {
    if (fail_complete) return make_error(Errc::storage, "disk full");
    return inner_.complete(serial, der, a);
  }
  Result<std::optional<store::CertificateRecord>> find(const std::string& serial) override {
    return inner_.find(serial);
  }
  Result<store::Page> list(const store::ListFilter& f) override { return inner_.list(f); }
  Status revoke(const std::string& serial, std::int64_t at, store::RevocationReason r, const std::string& key,
                const store::AuditEntry& a) override {
    return inner_.revoke(serial, at, r, key, a);
  }
  Result<std::optional<store::BlockedKey>> blocked_key(const std::string& key) override {
    return inner_.blocked_key(key);
  }
  Result<std::int64_t> flag_for_renewal(const std::optional<std::string>& serial, std::optional<std::int64_t> before,
                                        std::int64_t at, const store::AuditEntry& a) override {
    return inner_.flag_for_renewal(serial, before, at, a);
  }
  Result<std::optional<std::int64_t>> renewal_flagged_at(const std::string& serial) override {
    return inner_.renewal_flagged_at(serial);
  }
  bool fail_reserve = false;
  bool fail_complete = false;

 private:
  store::Store& inner_;
};

TEST_CASE("persist before sign, persist before release") {
  TestCa ca;
  CountingSigner signer(*ca.int_key);
  FlakyLedger ledger(*ca.db);
  auto is = issuer::Issuer::create(signer, copy_of(*ca.intermediate), test_identifier_policy(),
                                   policy::Profiles::defaults(), ca.opts.options, ca.clock, ledger);
  REQUIRE(is.has_value());
  const std::string csr = csr_pem(cached_key(KeyType::ec_p256, 7), "p.example.internal", {});

  // The reservation fails: nothing is signed.
  ledger.fail_reserve = true;
  auto p1 = (*is)->prepare({csr, "server", std::nullopt, "t"});
  REQUIRE(p1.has_value());
  auto r1 = (*is)->issue(std::move(*p1));
  REQUIRE_FALSE(r1.has_value());
  CHECK(r1.error().code == Errc::storage);
  CHECK(signer.count == 0);
  CHECK(ca.count() == 0);

  // Storing the certificate fails: it was signed, but nothing is released and the row stays
  // pending (the serial is known to the store).
  ledger.fail_reserve = false;
  ledger.fail_complete = true;
  auto p2 = (*is)->prepare({csr, "server", std::nullopt, "t"});
  REQUIRE(p2.has_value());
  const std::string serial = p2->pending().serial;
  auto r2 = (*is)->issue(std::move(*p2));
  REQUIRE_FALSE(r2.has_value());
  CHECK(r2.error().code == Errc::storage);
  CHECK(signer.count == 1);
  auto rec = ca.db->find(serial);
  REQUIRE(rec.has_value());
  REQUIRE(rec->has_value());
  CHECK((*rec)->status == store::CertStatus::pending);
  CHECK((*rec)->der.empty());

  // All good again.
  ledger.fail_complete = false;
  auto p3 = (*is)->prepare({csr, "server", std::nullopt, "t"});
  REQUIRE(p3.has_value());
  REQUIRE((*is)->issue(std::move(*p3)).has_value());
  CHECK(signer.count == 2);
  CHECK(ca.count() == 2);
}

TEST_CASE("Issuer::create refuses a mismatched key, a non-CA certificate and a bad policy") {
  TestCa ca;
  auto other =
      issuer::Issuer::create(cached_key(KeyType::ec_p256, 999), copy_of(*ca.intermediate), test_identifier_policy(),
                             policy::Profiles::defaults(), ca.opts.options, ca.clock, *ca.db);
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().code == Errc::invalid_argument);

  auto leaf = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "l.example.internal", {}), "server");
  REQUIRE(leaf.has_value());
  auto not_ca = issuer::Issuer::create(cached_key(KeyType::ec_p256, 7), parse_cert(leaf->der), test_identifier_policy(),
                                       policy::Profiles::defaults(), ca.opts.options, ca.clock, *ca.db);
  REQUIRE_FALSE(not_ca.has_value());
  CHECK(not_ca.error().code == Errc::invalid_argument);

  policy::IdentifierPolicy bad = test_identifier_policy();
  bad.ip_ranges.push_back("10.0.0.0/99");
  auto bad_policy = issuer::Issuer::create(*ca.int_key, copy_of(*ca.intermediate), bad, policy::Profiles::defaults(),
                                           ca.opts.options, ca.clock, *ca.db);
  REQUIRE_FALSE(bad_policy.has_value());
  CHECK(bad_policy.error().code == Errc::invalid_argument);

  // A CA certificate without keyCertSign.
  auto spec = ca_spec(*ca.int_key, "No Cert Sign");
  spec.key_usage = crypto::ku::crl_sign;
  auto no_sign = issuer::Issuer::create(*ca.int_key, parse_cert(sign_spec(spec, *ca.int_key)), test_identifier_policy(),
                                        policy::Profiles::defaults(), ca.opts.options, ca.clock, *ca.db);
  REQUIRE_FALSE(no_sign.has_value());
  CHECK(no_sign.error().code == Errc::invalid_argument);
}

TEST_CASE("serials: 16 octets, positive, first octet non-zero") {
  for (int i = 0; i < 2000; ++i) {
    const Bytes s = issuer::new_serial();
    REQUIRE(s.size() == 16);
    CHECK(s[0] != 0);
    CHECK((s[0] & 0x80) == 0);
  }
}

}  // namespace

TEST_CASE("plural authorities: a second intermediate issues once current; the first keeps its own") {
  TestCa ca;
  auto bytes = [](crypto::ByteView v) { return Bytes(v.begin(), v.end()); };
  issuer::Issuer& is = ca.issuer();
  const issuer::Authority& first = is.current();
  // A second intermediate of the same root, with another key.
  const crypto::KeySigner& key2 = cached_key(KeyType::ec_p256, 201);
  const crypto::Certificate inter2 = ca.another_intermediate(key2);

  // A key that does not match is refused and changes nothing.
  CHECK_FALSE(is.add_authority(borrowed(*ca.int_key), copy_of(inter2)).has_value());
  CHECK(is.authorities().size() == 1);

  auto added = is.add_authority(borrowed(key2), copy_of(inter2));
  REQUIRE(added.has_value());
  const issuer::Authority* second = *added;
  CHECK(is.authorities().size() == 2);
  CHECK(&is.current() == &first);  // added, not yet issuing
  CHECK(is.authority(second->id) == second);
  CHECK(is.authority("no-such-id") == nullptr);
  CHECK(second->urls.ca_issuers != first.urls.ca_issuers);

  const std::string csr = csr_pem(cached_key(KeyType::ec_p256, 9), "", {{GN::dns, "a.example.internal"}});
  auto before = ca.issue(csr, "server");
  REQUIRE(before.has_value());
  CHECK(bytes(parse_cert(before->der).tbs().issuer) == bytes(first.cert.tbs().subject));

  CHECK(is.make_current("no-such-id").error().code == Errc::not_found);
  REQUIRE(is.make_current(second->id).has_value());
  CHECK(&is.current() == second);
  CHECK(is.authorities().front() == second);
  auto after = ca.issue(csr, "server");
  REQUIRE(after.has_value());
  const crypto::Certificate leaf = parse_cert(after->der);
  CHECK(bytes(leaf.tbs().issuer) == bytes(second->cert.tbs().subject));
  CHECK(
      crypto::verify_signature(second->cert.public_key(), leaf.signature_algorithm(), leaf.tbs_der(), leaf.signature())
          .has_value());
  CHECK(after->chain_pem.find(second->pem) != std::string::npos);
  auto rec = ca.db->find(after->serial);
  REQUIRE((rec.has_value() && rec->has_value()));
  CHECK((*rec)->issuer_id == second->id);

  // The first still signs OCSP responder certificates for its own certificates.
  auto responder = is.prepare_ocsp_responder(cached_key(KeyType::ec_p256, 10).public_key(), Seconds(3600), "t", &first);
  REQUIRE(responder.has_value());
  CHECK(responder->pending().issuer_id == first.id);
  auto issued = is.issue(std::move(*responder));
  REQUIRE(issued.has_value());
  const crypto::Certificate rc = parse_cert(issued->der);
  CHECK(bytes(rc.tbs().issuer) == bytes(first.cert.tbs().subject));
  CHECK(crypto::verify_signature(first.cert.public_key(), rc.signature_algorithm(), rc.tbs_der(), rc.signature())
            .has_value());

  // An expired intermediate cannot become current.
  ca.clock.advance(Seconds(400LL * 86400));
  CHECK(is.make_current(second->id).error().code == Errc::policy_violation);
}
