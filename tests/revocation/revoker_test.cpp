// The Revoker, the one owner of "revoke a leaf": allowed reasons, the issuer check, the
// keyCompromise key block, the audit row and the metrics; and the one renewal-info rule. A real
// SQLite store and a whole test CA (tests/support/test_ca.hpp), time from a FakeClock.
#include "ca/revocation/revoker.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "ca/base/metrics.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;
using store::RevocationReason;

store::CertificateRecord stored(TestCa& ca, const std::string& serial) {
  auto rec = ca.db->find(serial);
  REQUIRE(rec.has_value());
  REQUIRE(rec->has_value());
  return **rec;
}

issuer::Issued issued(TestCa& ca, int key_slot, const std::string& name) {
  auto out = ca.issue(csr_pem(cached_key(KeyType::ec_p256, key_slot), name, {}), "server");
  REQUIRE_MESSAGE(out.has_value(), (out ? "" : out.error().detail));
  return *out;
}

// A CA and the Revoker a server would wire for it.
struct WithRevoker {
  TestCa ca;
  Metrics metrics;
  revocation::Revoker revoker{*ca.db, ca.issuer(), ca.clock, metrics};
};

double refused(const Metrics& m, RevocationReason r, const char* error) {
  return m.value("sigil_revocations_refused_total", {{"reason", store::to_string(r)}, {"error", error}});
}

TEST_CASE_FIXTURE(WithRevoker, "Revoker: revokes a valid certificate once, with its audit row and its metric") {
  const auto leaf = issued(ca, 61, "r.example.internal");
  const auto rec = revoker.find(leaf.serial);
  REQUIRE(rec.has_value());
  REQUIRE(rec->has_value());
  ca.clock.advance(Seconds(90));
  const std::int64_t at = to_unix(ca.clock.now());

  auto done = revoker.revoke(**rec, {RevocationReason::superseded, "acme:acct/7", "acme"});
  REQUIRE_MESSAGE(done.has_value(), (done ? "" : done.error().detail));
  CHECK(done->serial == leaf.serial);
  CHECK(done->reason == RevocationReason::superseded);
  CHECK(done->revoked_at == at);
  const auto after = stored(ca, leaf.serial);
  CHECK(after.status == store::CertStatus::revoked);
  CHECK(after.revoked_at == std::optional<std::int64_t>(at));
  CHECK(after.revocation_reason == std::optional<RevocationReason>(RevocationReason::superseded));

  // The audit row, committed with the revocation: who, what, which certificate, why.
  const auto rows = ca.audit();
  REQUIRE_FALSE(rows.empty());
  CHECK(rows.front().at == at);
  CHECK(rows.front().actor == "acme:acct/7");
  CHECK(rows.front().action == "revoke");
  CHECK(rows.front().target == leaf.serial);
  CHECK(rows.front().outcome == "ok");
  CHECK(rows.front().detail == "acme reason=superseded");

  // The series the API always counted, now for every path.
  CHECK(metrics.value("sigil_certificates_revoked_total", {{"profile", "server"}, {"reason", "superseded"}}) == 1);

  // A second revocation is refused (from the record read before, and from a fresh one).
  for (const auto& r : {**rec, after}) {
    auto again = revoker.revoke(r, {RevocationReason::key_compromise, "test", ""});
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == Errc::conflict);
  }
  CHECK(stored(ca, leaf.serial).revocation_reason == std::optional<RevocationReason>(RevocationReason::superseded));
  CHECK(refused(metrics, RevocationReason::key_compromise, "conflict") == 2);
  CHECK(metrics.value("sigil_certificates_revoked_total", {{"profile", "server"}, {"reason", "superseded"}}) == 1);
}

TEST_CASE_FIXTURE(WithRevoker, "Revoker: reasons that are not a leaf's are refused, nothing written") {
  const auto leaf = issued(ca, 62, "x.example.internal");
  const std::size_t audit_rows = ca.audit().size();
  for (int code : {2, 6, 7, 8, 10, 11, -1, 99}) {
    CAPTURE(code);
    auto out = revoker.revoke(stored(ca, leaf.serial), {static_cast<RevocationReason>(code), "test", ""});
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error().code == Errc::bad_revocation_reason);
    CHECK(out.error().detail.find(std::to_string(code)) != std::string::npos);
  }
  CHECK(stored(ca, leaf.serial).status == store::CertStatus::valid);
  CHECK(ca.audit().size() == audit_rows);
  CHECK(refused(metrics, RevocationReason::ca_compromise, "bad_revocation_reason") == 1);
  CHECK(refused(metrics, RevocationReason::certificate_hold, "bad_revocation_reason") == 1);
  // Codes RFC 5280 does not name (7, 11, -1, 99) share one series: a label never takes a caller's value.
  CHECK(metrics.value("sigil_revocations_refused_total", {{"reason", "other"}, {"error", "bad_revocation_reason"}}) ==
        4);
  // Every leaf reason is accepted.
  int slot = 70;
  for (auto r : {RevocationReason::unspecified, RevocationReason::key_compromise, RevocationReason::affiliation_changed,
                 RevocationReason::superseded, RevocationReason::cessation_of_operation,
                 RevocationReason::privilege_withdrawn}) {
    CAPTURE(store::to_string(r));
    const auto other = issued(ca, slot, "leaf" + std::to_string(slot) + ".example.internal");
    ++slot;
    CHECK(revoker.revoke(stored(ca, other.serial), {r, "test", ""}).has_value());
  }
}

TEST_CASE_FIXTURE(WithRevoker, "Revoker: unknown serials and another issuer's certificates are not found") {
  auto unknown = revoker.find("0a0b0c");
  REQUIRE(unknown.has_value());
  CHECK_FALSE(unknown->has_value());

  // Certificates in this ledger whose intermediate the Issuer does not hold.
  CaOptions o;
  o.key_slot = 1;
  TestCa other(o);
  revocation::Revoker foreign(*ca.db, other.issuer(), ca.clock, metrics);
  const auto leaf = issued(ca, 63, "f.example.internal");
  auto found = foreign.find(leaf.serial);
  REQUIRE(found.has_value());
  CHECK_FALSE(found->has_value());
  auto out = foreign.revoke(stored(ca, leaf.serial), {RevocationReason::unspecified, "test", ""});
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().code == Errc::not_found);
  CHECK(stored(ca, leaf.serial).status == store::CertStatus::valid);

  // `sigil revoke` loads no key: every certificate of the home's ledger is its own.
  revocation::Revoker ledger_only(*ca.db, ca.clock, metrics);
  auto mine = ledger_only.find(leaf.serial);
  REQUIRE(mine.has_value());
  REQUIRE(mine->has_value());
  CHECK(ledger_only.revoke(**mine, {RevocationReason::unspecified, "cli:test", ""}).has_value());
}

TEST_CASE_FIXTURE(WithRevoker, "Revoker: keyCompromise blocks the certificate's key, other reasons do not") {
  const auto compromised = issued(ca, 64, "k.example.internal");
  const auto replaced = issued(ca, 65, "s.example.internal");
  const auto key_of = [](const issuer::Issued& i) {
    return issuer::key_sha256(crypto::Certificate::from_der(i.der).value().public_key());
  };
  REQUIRE(revoker.revoke(stored(ca, replaced.serial), {RevocationReason::superseded, "test", ""}));
  auto none = ca.db->blocked_key(key_of(replaced));
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());

  auto done = revoker.revoke(stored(ca, compromised.serial), {RevocationReason::key_compromise, "test", ""});
  REQUIRE(done.has_value());
  auto blocked = ca.db->blocked_key(key_of(compromised));
  REQUIRE(blocked.has_value());
  REQUIRE(blocked->has_value());
  CHECK((*blocked)->serial == compromised.serial);
  CHECK((*blocked)->reason == RevocationReason::key_compromise);
  CHECK((*blocked)->blocked_at == done->revoked_at);
}

TEST_CASE_FIXTURE(WithRevoker, "suggested_renewal_window: the policy's window, or now when revoked or flagged") {
  const auto plain = issued(ca, 66, "p.example.internal");
  const auto flagged = issued(ca, 67, "g.example.internal");
  const auto revoked = issued(ca, 68, "v.example.internal");
  const TimePoint now = ca.clock.now();

  const auto rec = stored(ca, plain.serial);
  auto w = revocation::suggested_renewal_window(*ca.db, rec, now);
  REQUIRE(w.has_value());
  const auto want = policy::renewal_window(from_unix(rec.not_before), from_unix(rec.not_after));
  CHECK(w->start == want.start);
  CHECK(w->end == want.end);

  REQUIRE(ca.db->flag_for_renewal(flagged.serial, std::nullopt, to_unix(now),
                                  {to_unix(now), "test", "flag-renewal", flagged.serial, "ok", ""}));
  REQUIRE(revoker.revoke(stored(ca, revoked.serial), {RevocationReason::superseded, "test", ""}));
  for (const auto& serial : {flagged.serial, revoked.serial}) {
    CAPTURE(serial);
    auto now_w = revocation::suggested_renewal_window(*ca.db, stored(ca, serial), now);
    REQUIRE(now_w.has_value());
    CHECK(now_w->start == policy::renew_now(now).start);
    CHECK(now_w->end == policy::renew_now(now).end);
    CHECK(now_w->end < now);
  }
}

TEST_CASE("a key revoked for keyCompromise is refused by prepare, for a new CSR and for a renewal keeping it") {
  TestCa ca;
  const crypto::KeySigner& bad = cached_key(KeyType::ec_p256, 41);
  const crypto::KeySigner& good = cached_key(KeyType::ec_p256, 42);
  auto first = ca.issue(csr_pem(bad, "k.example.internal", {}), "server");
  REQUIRE(first.has_value());
  auto other = ca.issue(csr_pem(good, "g.example.internal", {}), "server");
  REQUIRE(other.has_value());
  auto record = [&](const std::string& serial) {
    auto rec = ca.db->find(serial);
    REQUIRE(rec.has_value());
    REQUIRE(rec->has_value());
    return **rec;
  };
  Metrics metrics;
  revocation::Revoker revoker(*ca.db, ca.issuer(), ca.clock, metrics);
  // Superseded blocks nothing: the same key may be certified again.
  REQUIRE(revoker.revoke(record(other->serial), {store::RevocationReason::superseded, "test", ""}));
  CHECK(ca.issue(csr_pem(good, "g2.example.internal", {}), "server").has_value());
  // Reasons that are not a leaf's are refused before anything is written.
  auto ca_reason = revoker.revoke(record(first->serial), {store::RevocationReason::ca_compromise, "test", ""});
  REQUIRE_FALSE(ca_reason.has_value());
  CHECK(ca_reason.error().code == Errc::bad_revocation_reason);
  CHECK(record(first->serial).status == store::CertStatus::valid);

  REQUIRE(revoker.revoke(record(first->serial), {store::RevocationReason::key_compromise, "test", ""}));
  const std::int64_t rows = ca.count();
  const std::size_t audit_rows = ca.audit().size();
  const auto leaf = crypto::Certificate::from_der(first->der).value();
  // Another name, another profile: the key is what is refused.
  for (const auto& [csr, profile] : std::vector<std::pair<std::string, std::string>>{
           {csr_pem(bad, "other.example.internal", {}), "server"},
           {csr_pem(bad, "", {{GN::dns, "c.example.internal"}}), "client"}}) {
    auto p = ca.issuer().prepare({csr, profile, std::nullopt, "test:mallory"});
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == Errc::bad_public_key);
    CHECK(p.error().detail.find("key is blocked: revoked for keyCompromise") != std::string::npos);
    CHECK(p.error().detail.find(first->serial) != std::string::npos);
  }
  // A renewal that keeps the key (no CSR) is an issuance too.
  issuer::Request renewal{"", "server", std::nullopt, "test:mallory"};
  renewal.renewal_of = &leaf;
  auto r = ca.issuer().prepare(renewal);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::bad_public_key);
  CHECK(ca.count() == rows);
  CHECK(ca.audit().size() == audit_rows);
  // Other keys are unaffected.
  CHECK(ca.issue(csr_pem(good, "g3.example.internal", {}), "server").has_value());
}

}  // namespace
