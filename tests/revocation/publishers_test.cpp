// Plural issuers in the revocation publishers: two intermediates of one root, each with its CRLs
// and OCSP responder, requests routed by CertID and path; and the OCSP responder certificate: its
// rotation, and near its intermediate's end; the OCSP cache: its bound, and the sweep that keeps
// it fresh. A real SQLite store and a whole test CA (tests/support/test_ca.hpp);
// time is a FakeClock, the background jobs poll every few milliseconds.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ca/base/metrics.hpp"
#include "ca/crypto/ocsp.hpp"
#include "ca/policy/policy.hpp"
#include "ca/revocation/revocation.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;
namespace ocsp = crypto::ocsp;

revocation::CrlOptions crl_options() {
  revocation::CrlOptions o;
  o.public_url = kPublicUrl;
  o.poll = std::chrono::milliseconds(5);
  o.debounce = std::chrono::milliseconds(5);
  return o;
}

revocation::OcspOptions ocsp_options() {
  revocation::OcspOptions o;
  o.poll = std::chrono::milliseconds(5);
  return o;
}

Bytes request_for(const crypto::Certificate& issuer, const std::string& serial_hex) {
  ocsp::Request r;
  r.ids.push_back(ocsp::make_cert_id(ocsp::HashAlg::sha1, issuer, *from_hex(serial_hex)));
  return ocsp::encode_request(r);
}

// The status an answer gives, checked against the responder certificate it carries, which must
// be signed by `issuer`.
ocsp::CertStatus verified_status(const revocation::OcspAnswer& a, const crypto::Certificate& issuer) {
  auto parsed = ocsp::parse_response(*a.der);
  REQUIRE(parsed.has_value());
  REQUIRE(parsed->status == ocsp::ResponseStatus::successful);
  REQUIRE(parsed->certs.size() == 1);
  const crypto::Certificate responder = parse_cert(parsed->certs[0]);
  CHECK(crypto::verify_signature(issuer.public_key(), responder.signature_algorithm(), responder.tbs_der(),
                                 responder.signature())
            .has_value());
  CHECK(ocsp::verify_response(*parsed, responder.public_key()).has_value());
  REQUIRE(parsed->responses.size() == 1);
  return parsed->responses[0].status;
}

std::int64_t responder_certificates(TestCa& ca) {
  auto rows = ca.audit();
  std::int64_t n = 0;
  for (const auto& r : rows)
    if (r.action == "issue" && r.detail.find("profile=ocsp-responder") != std::string::npos) ++n;
  return n;
}

TEST_CASE("Publishers: each intermediate answers for its own certificates, before and after a switch") {
  TestCa ca;
  issuer::Issuer& is = ca.issuer();
  const issuer::Authority& first = is.current();
  auto leaf1 = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), "one.example.internal", {}), "server");
  REQUIRE(leaf1.has_value());

  const crypto::KeySigner& key2 = cached_key(KeyType::ec_p256, 202);
  auto added = is.add_authority(borrowed(key2), ca.another_intermediate(key2));
  REQUIRE(added.has_value());
  const issuer::Authority& second = **added;

  Metrics metrics;
  revocation::Publishers pub(is, *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), ocsp_options());
  REQUIRE(pub.add(first).has_value());
  REQUIRE(pub.add(first).has_value());  // known: a no-op
  REQUIRE(pub.add(second).has_value());
  REQUIRE(is.make_current(second.id).has_value());
  auto leaf2 = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 8), "two.example.internal", {}), "server");
  REQUIRE(leaf2.has_value());

  // CRLs and CA certificates by path, per intermediate.
  for (const issuer::Authority* a : {&first, &second}) {
    bool primary = false;
    auto crl = pub.find_crl(issuer::crl_path(a->cert, 0), &primary);
    REQUIRE(crl != nullptr);
    auto summary = crypto::parse_crl_summary(crl->der);
    REQUIRE(summary.has_value());
    const std::string ca_path = a->urls.ca_issuers.substr(a->urls.ca_issuers.find("/ca/"));
    auto der = pub.ca_certificate(ca_path);
    REQUIRE(der.has_value());
    CHECK(*der == a->cert.der());
  }
  bool primary = true;
  CHECK(pub.find_crl("/crl/nonesuch.crl", &primary) == nullptr);
  CHECK_FALSE(primary);
  CHECK_FALSE(pub.ca_certificate("/ca/nonesuch.crt").has_value());

  // OCSP routed by CertID: each leaf answered by its own intermediate's responder.
  CHECK(verified_status(pub.respond(request_for(first.cert, leaf1->serial)), first.cert) == ocsp::CertStatus::good);
  CHECK(verified_status(pub.respond(request_for(second.cert, leaf2->serial)), second.cert) == ocsp::CertStatus::good);
  auto cached = pub.respond_cached(request_for(first.cert, leaf1->serial));
  REQUIRE(cached.has_value());
  CHECK(verified_status(*cached, first.cert) == ocsp::CertStatus::good);
  // A CertID naming the other intermediate for a leaf: that responder does not know the serial.
  CHECK(verified_status(pub.respond(request_for(second.cert, leaf1->serial)), second.cert) ==
        ocsp::CertStatus::unknown);
  // A CertID of no intermediate: unauthorized.
  auto other = ocsp::parse_response(*pub.respond(request_for(*ca.root, leaf1->serial)).der);
  REQUIRE(other.has_value());
  CHECK(other->status == ocsp::ResponseStatus::unauthorized);

  // A revocation of the old intermediate's leaf reaches its responder and its CRL.
  REQUIRE(ca.db->revoke(leaf1->serial, to_unix(ca.clock.now()), store::RevocationReason::key_compromise,
                        issuer::key_sha256(crypto::Certificate::from_der(leaf1->der).value().public_key()),
                        store::AuditEntry{to_unix(ca.clock.now()), "test", "revoke", leaf1->serial, "ok", ""}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  ocsp::CertStatus st = ocsp::CertStatus::good;
  std::size_t entries = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    st = verified_status(pub.respond(request_for(first.cert, leaf1->serial)), first.cert);
    entries = pub.find_crl(issuer::crl_path(first.cert, 0))->entries;
    if (st == ocsp::CertStatus::revoked && entries == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(st == ocsp::CertStatus::revoked);
  CHECK(entries == 1);
  CHECK(pub.find_crl(issuer::crl_path(second.cert, 0))->entries == 0);

  // Stapling reads the cache only: nothing for a new leaf until its response is warmed (the
  // pre-signing sweep runs every 30 s), then the current intermediate's response.
  auto leaf3 = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 9), "three.example.internal", {}), "server");
  REQUIRE(leaf3.has_value());
  CHECK(pub.staple(leaf3->serial) == nullptr);
  REQUIRE(pub.warm_staple(leaf3->serial).has_value());
  auto staple = pub.staple(leaf3->serial);
  REQUIRE(staple != nullptr);
  CHECK(verified_status({staple, false, {}, {}, ""}, second.cert) == ocsp::CertStatus::good);
  pub.stop();
}

TEST_CASE("OCSP responder certificate: not re-issued on every poll near its intermediate's end") {
  CaOptions o;
  o.intermediate_ttl = Seconds(10 * 86400);
  TestCa ca(o);
  issuer::Issuer& is = ca.issuer();
  // Three hours before the intermediate expires: a responder certificate (TTL 24 h) is capped at
  // the intermediate's notAfter and so sits past two thirds of its TTL from the start.
  ca.clock.advance(Seconds(10 * 86400 - 3 * 3600));
  Metrics metrics;
  revocation::Publishers pub(is, *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), ocsp_options());
  REQUIRE(pub.add(is.current()).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ~60 polls
  CHECK(responder_certificates(ca) == 1);
  // After the intermediate has expired, nothing is issued (and no failure every poll).
  ca.clock.advance(Seconds(4 * 3600));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(responder_certificates(ca) == 1);
  pub.stop();
}

// Waits (at most 5 s) until `done` holds, polling.
template <typename Fn>
bool eventually(Fn done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST_CASE("OCSP cache: at most max_cached responses, pre-signed after start; past it, signed when asked") {
  TestCa ca;
  issuer::Issuer& is = ca.issuer();
  std::vector<std::string> serials;
  for (int i = 0; i < 3; ++i) {
    auto leaf = ca.issue(
        csr_pem(cached_key(KeyType::ec_p256, 30 + i), "cap" + std::to_string(i) + ".example.internal", {}), "server");
    REQUIRE(leaf.has_value());
    serials.push_back(leaf->serial);
  }
  Metrics metrics;
  revocation::OcspOptions o = ocsp_options();
  o.max_cached = 2;  // three leaves and the responder's own certificate are valid
  revocation::Publishers pub(is, *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), o);
  REQUIRE(pub.add(is.current()).has_value());
  const Labels labels{{"issuer", is.id().substr(0, 16)}};
  // The first pass runs in the background job and stops at max_cached.
  CHECK(eventually([&] { return metrics.value("sigil_ocsp_cached_responses", labels) >= 2; }));
  CHECK(metrics.value("sigil_ocsp_cached_responses", labels) == 2);
  auto cached_leaves = [&] {
    int n = 0;
    for (const auto& s : serials) n += pub.respond_cached(request_for(*ca.intermediate, s)).has_value() ? 1 : 0;
    return n;
  };
  CHECK(cached_leaves() <= 2);
  // Each leaf asked for is answered (signed now if it was not held) and then held, replacing
  // another: the cache never holds more than two.
  for (const auto& s : serials) {
    CHECK(verified_status(pub.respond(request_for(*ca.intermediate, s)), *ca.intermediate) == ocsp::CertStatus::good);
    CHECK(pub.respond_cached(request_for(*ca.intermediate, s)).has_value());
    CHECK(cached_leaves() <= 2);
  }
  pub.stop();
}

TEST_CASE("OCSP sweep: held responses re-signed at half their validity, an expired certificate's dropped") {
  TestCa ca;
  issuer::Issuer& is = ca.issuer();
  auto brief =
      ca.issue(csr_pem(cached_key(KeyType::ec_p256, 40), "brief.example.internal", {}), "server", Seconds(2 * 3600));
  auto lasting = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 41), "lasting.example.internal", {}), "server");
  REQUIRE(brief.has_value());
  REQUIRE(lasting.has_value());
  Metrics metrics;
  revocation::OcspOptions o = ocsp_options();
  o.sweep = Seconds(0);  // a sweep every poll
  revocation::Publishers pub(is, *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), o);
  REQUIRE(pub.add(is.current()).has_value());
  const Labels labels{{"issuer", is.id().substr(0, 16)}};
  const Bytes brief_req = request_for(*ca.intermediate, brief->serial);
  const Bytes lasting_req = request_for(*ca.intermediate, lasting->serial);
  auto signed_at = [&](const Bytes& req) {
    auto a = pub.respond_cached(req);
    return a ? a->this_update : TimePoint{};
  };
  // The two leaves and the responder's own certificate.
  REQUIRE(eventually([&] { return metrics.value("sigil_ocsp_cached_responses", labels) == 3; }));
  const TimePoint first = signed_at(lasting_req);
  REQUIRE(first != TimePoint{});

  // 31 minutes on, past half the validity (1 h) and still within it: both re-signed.
  ca.clock.advance(Seconds(31 * 60));
  CHECK(eventually([&] { return signed_at(lasting_req) == ca.clock.now() && signed_at(brief_req) == ca.clock.now(); }));
  CHECK(verified_status(*pub.respond_cached(lasting_req), *ca.intermediate) == ocsp::CertStatus::good);

  // Past the brief leaf's notAfter (and its response's half validity): its response goes, the
  // others are re-signed.
  ca.clock.advance(Seconds(90 * 60));
  CHECK(eventually([&] { return signed_at(lasting_req) == ca.clock.now(); }));
  CHECK(eventually([&] { return metrics.value("sigil_ocsp_cached_responses", labels) == 2; }));
  CHECK(signed_at(brief_req) == TimePoint{});
  // Asked for, the expired leaf is still answered (signed now: it was issued here), and held.
  CHECK(verified_status(pub.respond(brief_req), *ca.intermediate) == ocsp::CertStatus::good);
  CHECK(signed_at(brief_req) == ca.clock.now());
  pub.stop();
}

TEST_CASE("OCSP sweep: once a walk has filled the cache, the store is walked again only after full_cache_walk") {
  for (const bool throttled : {true, false}) {
    CAPTURE(throttled);
    TestCa ca;
    issuer::Issuer& is = ca.issuer();
    auto brief =
        ca.issue(csr_pem(cached_key(KeyType::ec_p256, 50), "brief.example.internal", {}), "server", Seconds(2 * 3600));
    auto lasting = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 51), "lasting.example.internal", {}), "server");
    REQUIRE(brief.has_value());
    REQUIRE(lasting.has_value());
    Metrics metrics;
    revocation::OcspOptions o = ocsp_options();
    o.sweep = Seconds(0);
    o.max_cached = 3;  // the two leaves and the responder's certificate: the first walk fills it
    o.full_cache_walk = throttled ? Seconds(600) : Seconds(0);
    revocation::Publishers pub(is, *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), o);
    REQUIRE(pub.add(is.current()).has_value());
    const Labels labels{{"issuer", is.id().substr(0, 16)}};
    REQUIRE(eventually([&] { return metrics.value("sigil_ocsp_cached_responses", labels) == 3; }));

    // The brief leaf expires and its response goes: room for one. A new leaf is issued.
    ca.clock.advance(Seconds(3 * 3600));
    REQUIRE(eventually([&] { return metrics.value("sigil_ocsp_cached_responses", labels) == 2; }));
    auto fresh = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 52), "fresh.example.internal", {}), "server");
    REQUIRE(fresh.has_value());
    const Bytes fresh_req = request_for(*ca.intermediate, fresh->serial);
    if (throttled) {
      // ~60 sweeps within 300 ms: none reads the store, so the new leaf is not pre-signed.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      CHECK_FALSE(pub.respond_cached(fresh_req).has_value());
      CHECK(metrics.value("sigil_ocsp_cached_responses", labels) == 2);
    } else {
      CHECK(eventually([&] { return pub.respond_cached(fresh_req).has_value(); }));
    }
    // The lasting leaf's response was re-signed from the cache either way.
    auto held = pub.respond_cached(request_for(*ca.intermediate, lasting->serial));
    REQUIRE(held.has_value());
    CHECK(held->this_update == ca.clock.now());
    pub.stop();
  }
}

// A fresh signature (a nonce request is never answered from the cache), parsed, with the
// responder certificate that signed it.
struct Signed {
  ocsp::ParsedResponse response;
  Bytes responder_der;
};
Signed sign_now(revocation::Publishers& pub, const crypto::Certificate& issuer, const std::string& serial_hex) {
  ocsp::Request r;
  r.ids.push_back(ocsp::make_cert_id(ocsp::HashAlg::sha1, issuer, *from_hex(serial_hex)));
  r.nonce = Bytes(16, 0x5a);
  const auto answer = pub.respond(ocsp::encode_request(r));
  CHECK(verified_status(answer, issuer) == ocsp::CertStatus::good);
  auto parsed = ocsp::parse_response(*answer.der);
  REQUIRE(parsed.has_value());
  REQUIRE(parsed->certs.size() == 1);
  REQUIRE(parsed->responses.size() == 1);
  return {*parsed, parsed->certs[0]};
}

TEST_CASE("OCSP responder certificate: replaced once its renewal window opens; earlier responses keep verifying") {
  TestCa ca;
  issuer::Issuer& is = ca.issuer();
  auto leaf = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 11), "rotate.example.internal", {}), "server");
  REQUIRE(leaf.has_value());
  Metrics metrics;
  revocation::Publishers pub(is, *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), ocsp_options());
  REQUIRE(pub.add(is.current()).has_value());
  const Signed first = sign_now(pub, *ca.intermediate, leaf->serial);
  const crypto::Certificate first_responder = parse_cert(first.responder_der);
  // The one definition of when to renew, applied to the responder's own certificate.
  const policy::RenewalWindow window =
      policy::renewal_window(first_responder.tbs().not_before, first_responder.tbs().not_after);

  // A minute before the window opens: the same certificate, however many polls pass.
  ca.clock.set(window.start - Seconds(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // ~20 polls
  const Signed before = sign_now(pub, *ca.intermediate, leaf->serial);
  CHECK(before.responder_der == first.responder_der);
  CHECK(responder_certificates(ca) == 1);

  // Past it: a new responder certificate within a few polls, and responses signed by it verify.
  ca.clock.set(window.start + Seconds(1));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Signed after = sign_now(pub, *ca.intermediate, leaf->serial);
  while (after.responder_der == first.responder_der && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = sign_now(pub, *ca.intermediate, leaf->serial);
  }
  REQUIRE(after.responder_der != first.responder_der);
  CHECK(responder_certificates(ca) == 2);
  const crypto::Certificate second_responder = parse_cert(after.responder_der);
  CHECK(ocsp::verify_response(after.response, second_responder.public_key()).has_value());
  CHECK(openssl_verify_chain(after.responder_der, ca.intermediate->der(), ca.root->der(), ca.clock.now(), 0) ==
        X509_V_OK);
  CHECK(second_responder.tbs().not_after > first_responder.tbs().not_after);

  // The response made before the rotation still verifies, its responder certificate included,
  // up to its nextUpdate: the window opens early enough for a response's whole validity.
  const TimePoint next_update = before.response.responses[0].next_update;
  CHECK(next_update > window.start);
  CHECK(ocsp::verify_response(before.response, first_responder.public_key()).has_value());
  CHECK(openssl_verify_chain(before.responder_der, ca.intermediate->der(), ca.root->der(), next_update, 0) ==
        X509_V_OK);

  // The new certificate is not itself rotated on every poll.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(responder_certificates(ca) == 2);
  pub.stop();
}

}  // namespace
