// The CRL publisher with shards and delta CRLs, against a real SQLite store and a whole test CA
// (tests/support/test_ca.hpp). Time is a FakeClock; revocations are picked up by the publisher's
// own thread (polling every few milliseconds here), as in `sigil serve`.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ca/base/metrics.hpp"
#include "ca/revocation/revocation.hpp"
#include "ca/revocation/revoker.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;

struct Leaf {
  std::string serial;
  int shard = 0;
  Bytes der;
};

struct ShardedCa {
  explicit ShardedCa(int n, bool deltas) : shards(n) {
    REQUIRE(ca.issuer().update_crl_layout({n, deltas}));
    options.public_url = kPublicUrl;
    options.shards = n;
    options.delta_interval = deltas ? Seconds(3600) : Seconds(0);
    options.poll = std::chrono::milliseconds(5);
    options.debounce = std::chrono::milliseconds(5);
    options.shard_check = Seconds(0);
  }

  Leaf issue(const std::string& name, std::optional<Seconds> ttl = std::nullopt) {
    auto a = ca.issue(csr_pem(cached_key(KeyType::ec_p256, 7), name + ".example.internal", {}), "server", ttl);
    REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().detail));
    auto rec = ca.db->find(a->serial);
    REQUIRE(rec.has_value());
    REQUIRE(rec->has_value());
    return {a->serial, (*rec)->crl_shard, a->der};
  }
  // At least one leaf in every shard 1..N.
  std::map<int, Leaf> one_per_shard() {
    std::map<int, Leaf> out;
    for (int i = 0; static_cast<int>(out.size()) < shards && i < 400; ++i) {
      Leaf l = issue("leaf" + std::to_string(i));
      out.emplace(l.shard, l);
    }
    REQUIRE(static_cast<int>(out.size()) == shards);
    return out;
  }
  revocation::CrlPublisher publisher() {
    return revocation::CrlPublisher(*ca.int_key, *ca.intermediate, issuer::issuer_id(*ca.intermediate), *ca.db, *ca.db,
                                    *ca.db, ca.clock, metrics, options);
  }
  void revoke(const std::string& serial) {
    auto rec = ca.db->find(serial);
    REQUIRE(rec.has_value());
    REQUIRE(rec->has_value());
    revocation::Revoker revoker(*ca.db, ca.issuer(), ca.clock, metrics);
    REQUIRE(revoker.revoke(**rec, {store::RevocationReason::key_compromise, "test", ""}));
  }
  std::string path(int shard, bool delta = false) { return issuer::crl_path(*ca.intermediate, shard, delta); }
  std::string url(int shard, bool delta = false) { return issuer::crl_url(kPublicUrl, *ca.intermediate, shard, delta); }

  int shards;
  TestCa ca;
  Metrics metrics;
  revocation::CrlOptions options;
};

crypto::CrlSummary summary(const std::shared_ptr<const revocation::PublishedCrl>& crl) {
  REQUIRE(crl != nullptr);
  auto s = crypto::parse_crl_summary(crl->der);
  REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().detail));
  return *s;
}

bool lists(const std::shared_ptr<const revocation::PublishedCrl>& crl, const std::string& serial_hex) {
  REQUIRE(crl != nullptr);
  auto x = crl_from_der(crl->der);
  auto bn = from_hex(serial_hex);
  REQUIRE(bn.has_value());
  AsnIntPtr serial(ASN1_INTEGER_new());
  BnPtr b(BN_bin2bn(bn->data(), static_cast<int>(bn->size()), nullptr));
  REQUIRE(BN_to_ASN1_INTEGER(b.get(), serial.get()) != nullptr);
  X509_REVOKED* entry = nullptr;
  return X509_CRL_get0_by_serial(x.get(), &entry, serial.get()) == 1;
}

// Waits (real time, bounded) until `path` serves a CRL numbered above `than`.
std::shared_ptr<const revocation::PublishedCrl> wait_newer(const revocation::CrlPublisher& p, const std::string& path,
                                                           std::int64_t than) {
  for (int i = 0; i < 1000; ++i) {
    auto c = p.find(path);
    if (c && c->number > than) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  FAIL("no newer CRL at " << path << " than #" << than);
  return nullptr;
}

std::map<std::string, std::int64_t> numbers(const revocation::CrlPublisher& p) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [path, crl] : p.published()) out[path] = crl->number;
  return out;
}

TEST_CASE("unsharded (the default): one CRL at the issuer's URL, without IDP or FreshestCRL") {
  ShardedCa t(1, false);
  const Leaf leaf = t.issue("single");
  CHECK(leaf.shard == 0);
  auto p = t.publisher();
  REQUIRE(p.rebuild());
  const auto all = p.published();
  REQUIRE(all.size() == 1);
  CHECK(all.begin()->first == t.path(0));
  CHECK(p.current() == p.find(t.path(0)));
  const auto s = summary(p.current());
  CHECK_FALSE(s.idp.has_value());
  CHECK(s.freshest_crl_urls.empty());
  CHECK_FALSE(s.base_number.has_value());
  CHECK(p.find(t.path(0, true)) == nullptr);
  CHECK(p.find(t.path(1)) == nullptr);
}

TEST_CASE("shard CRLs: one per shard with a critical IDP naming its URL; a revocation lands only in its shard") {
  ShardedCa t(4, false);
  const auto leaves = t.one_per_shard();
  auto p = t.publisher();
  REQUIRE(p.rebuild());
  const auto all = p.published();
  CHECK(all.size() == 5);  // shard 0 (the issuer's CRL) and 1..4
  for (int k = 0; k <= 4; ++k) {
    CAPTURE(k);
    const auto s = summary(p.find(t.path(k)));
    REQUIRE(s.idp.has_value());  // shard 0 too, once other shards exist
    CHECK(s.idp_critical);
    CHECK(s.idp->urls == std::vector<std::string>{t.url(k)});
    CHECK(s.idp->only_user_certs);
    CHECK(s.entries == 0);
    CHECK(p.find(t.path(k, true)) == nullptr);  // no deltas
  }

  const auto before = numbers(p);
  p.start();
  const Leaf& victim = leaves.at(3);
  t.revoke(victim.serial);
  auto crl3 = wait_newer(p, t.path(3), before.at(t.path(3)));
  CHECK(lists(crl3, victim.serial));
  CHECK(summary(crl3).entries == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  p.stop();
  // The other shards were not rebuilt, and do not list it.
  for (int k : {0, 1, 2, 4}) {
    CAPTURE(k);
    CHECK(p.find(t.path(k))->number == before.at(t.path(k)));
    CHECK_FALSE(lists(p.find(t.path(k)), victim.serial));
  }
  // Persisted per shard.
  auto saved = t.ca.db->latest_crl(issuer::issuer_id(*t.ca.intermediate), 3, false);
  REQUIRE(saved.has_value());
  REQUIRE(saved->has_value());
  CHECK((*saved)->der == p.find(t.path(3))->der);
}

TEST_CASE("each shard's CRL numbers increase across a restart and are never reused") {
  ShardedCa t(3, true);
  (void)t.one_per_shard();
  std::map<std::string, std::int64_t> first;
  {
    auto p = t.publisher();
    REQUIRE(p.rebuild());
    first = numbers(p);
    REQUIRE(p.rebuild());
  }
  CHECK(first.size() == 8);  // shards 0..3, complete and delta
  auto p = t.publisher();    // a restart: same store
  REQUIRE(p.rebuild());
  const auto second = numbers(p);
  REQUIRE(second.size() == first.size());
  for (const auto& [path, n] : second) {
    CAPTURE(path);
    CHECK(n > first.at(path) + 1);  // the rebuild in between used numbers too
  }
  // A shard's delta and complete CRLs share its sequence: the delta comes after its base.
  for (int k = 0; k <= 3; ++k) {
    const auto full = p.find(t.path(k));
    const auto delta = p.find(t.path(k, true));
    CHECK(delta->number == full->number + 1);
  }
}

TEST_CASE("delta CRLs: base named by number, FreshestCRL, revocations since the base, rebased at half-validity") {
  ShardedCa t(2, true);
  const auto leaves = t.one_per_shard();
  auto p = t.publisher();
  REQUIRE(p.rebuild());
  for (int k = 0; k <= 2; ++k) {
    CAPTURE(k);
    const auto full = p.find(t.path(k));
    const auto delta = p.find(t.path(k, true));
    const auto full_summary = summary(full);
    const auto ds = summary(delta);
    CHECK(full_summary.freshest_crl_urls == std::vector<std::string>{t.url(k, true)});
    CHECK(ds.base_number == full->number);
    CHECK(ds.delta_indicator_critical);
    CHECK(ds.freshest_crl_urls.empty());
    REQUIRE(ds.idp.has_value());
    CHECK(ds.idp->urls == std::vector<std::string>{t.url(k)});  // the base's scope
    CHECK(ds.entries == 0);
    CHECK(delta->next_update - delta->this_update == 2 * t.options.delta_interval);
  }
  const std::int64_t base = p.find(t.path(1))->number;
  const std::int64_t delta0 = p.find(t.path(1, true))->number;

  p.start();
  const Leaf& victim = leaves.at(1);
  t.revoke(victim.serial);
  auto delta = wait_newer(p, t.path(1, true), delta0);
  CHECK(lists(delta, victim.serial));
  CHECK(delta->base_number == base);  // still relative to the same base
  const auto full = p.find(t.path(1));
  CHECK(lists(full, victim.serial));  // the complete CRL is rebuilt too, for clients without deltas
  CHECK(full->number > base);
  CHECK(full->number < delta->number);
  CHECK_FALSE(lists(p.find(t.path(2, true)), victim.serial));

  // At the interval, every delta is rebuilt against the same base. (A CRL made in the same second
  // as the one before it at its URL takes the next second as thisUpdate: a few seconds more.)
  const auto before = numbers(p);
  t.ca.clock.advance(t.options.delta_interval + Seconds(5));
  auto later = wait_newer(p, t.path(2, true), before.at(t.path(2, true)));
  CHECK(later->base_number == before.at(t.path(2)));
  auto delta1 = wait_newer(p, t.path(1, true), before.at(t.path(1, true)));
  CHECK(delta1->base_number == base);
  CHECK(lists(delta1, victim.serial));
  CHECK(p.find(t.path(1))->number == before.at(t.path(1)));  // complete CRLs wait for half-validity

  // At half of the complete CRL's validity: a new complete CRL becomes the base; the revocation it
  // lists leaves the delta.
  t.ca.clock.advance(t.options.validity / 2 + Seconds(5));
  auto rebased = wait_newer(p, t.path(1, true), p.find(t.path(1, true))->number);
  for (int i = 0; i < 200 && rebased->base_number == base; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    rebased = p.find(t.path(1, true));
  }
  p.stop();
  const auto new_full = p.find(t.path(1));
  CHECK(new_full->number > before.at(t.path(1)));
  CHECK(rebased->base_number == new_full->number);
  CHECK(lists(new_full, victim.serial));
  CHECK_FALSE(lists(rebased, victim.serial));
}

TEST_CASE("shards named by unexpired certificates stay published after the layout shrinks, then go") {
  ShardedCa t(6, false);
  std::map<int, Leaf> leaves;
  for (int i = 0; leaves.size() < 6 && i < 400; ++i) {
    Leaf l = t.issue("old" + std::to_string(i), Seconds(3600));
    leaves.emplace(l.shard, l);
  }
  REQUIRE(leaves.size() == 6);
  t.options.shards = 2;  // e.g. sigil.json changed and the server restarted
  REQUIRE(t.ca.issuer().update_crl_layout({2, false}));
  auto p = t.publisher();
  REQUIRE(p.rebuild());
  for (int k = 0; k <= 6; ++k) {
    CAPTURE(k);
    CHECK(p.find(t.path(k)) != nullptr);
  }
  // The old leaves expire: their shards' CRLs stay for one CRL validity more (so that a CRL
  // dated after the expiry is published, RFC 5280 §3.3), then are no longer needed.
  t.ca.clock.advance(Seconds(2 * 3600));
  REQUIRE(p.rebuild());
  CHECK(p.find(t.path(5)) != nullptr);
  t.ca.clock.advance(t.options.validity);
  REQUIRE(p.rebuild());
  CHECK(p.find(t.path(5)) == nullptr);
  CHECK(p.find(t.path(6)) == nullptr);
  CHECK(p.find(t.path(1)) != nullptr);
  CHECK(p.find(t.path(2)) != nullptr);
  CHECK(p.find(t.path(0)) != nullptr);
}

TEST_CASE("an expired certificate's entry stays on the first complete CRL dated after its expiry, then leaves") {
  ShardedCa t(1, false);
  const Leaf leaf = t.issue("brief", Seconds(3600));
  const TimePoint not_after = crypto::Certificate::from_der(leaf.der).value().tbs().not_after;
  t.revoke(leaf.serial);
  auto p = t.publisher();
  REQUIRE(p.rebuild());
  CHECK(lists(p.current(), leaf.serial));
  // Expired: the next CRL, whose thisUpdate is after notAfter, still lists it (RFC 5280 §3.3).
  t.ca.clock.advance(Seconds(3600 + 60));
  REQUIRE(p.rebuild());
  REQUIRE(p.current()->this_update > not_after);
  CHECK(lists(p.current(), leaf.serial));
  // It has appeared on a CRL issued after its expiry: the next one drops it.
  t.ca.clock.advance(Seconds(60));
  REQUIRE(p.rebuild());
  CHECK_FALSE(lists(p.current(), leaf.serial));
  CHECK(summary(p.current()).entries == 0);
}

TEST_CASE("an entry that expired while no CRL was published (a long stop) is on the first CRL after the restart") {
  ShardedCa t(2, false);
  const Leaf leaf = t.issue("stopped", Seconds(3600));
  t.revoke(leaf.serial);
  {
    auto p = t.publisher();
    REQUIRE(p.rebuild());
    CHECK(lists(p.find(t.path(leaf.shard)), leaf.serial));
  }
  // Down for three CRL validities: no CRL was dated between the expiry and now.
  t.ca.clock.advance(3 * t.options.validity);
  auto p = t.publisher();
  REQUIRE(p.rebuild());
  REQUIRE(p.find(t.path(leaf.shard)) != nullptr);
  CHECK(lists(p.find(t.path(leaf.shard)), leaf.serial));
  t.ca.clock.advance(Seconds(1));
  REQUIRE(p.rebuild());
  CHECK_FALSE(lists(p.find(t.path(leaf.shard)), leaf.serial));
}

TEST_CASE("a delta CRL keeps an expired entry as long as its base's scope would, and agrees with the complete CRL") {
  ShardedCa t(1, true);
  const Leaf leaf = t.issue("delta-expiry", Seconds(3600));
  auto p = t.publisher();
  REQUIRE(p.rebuild());  // the base: before the revocation
  const std::int64_t base = p.find(t.path(0))->number;
  const std::int64_t delta0 = p.find(t.path(0, true))->number;
  p.start();
  t.revoke(leaf.serial);
  auto delta = wait_newer(p, t.path(0, true), delta0);
  CHECK(lists(delta, leaf.serial));
  CHECK(lists(p.find(t.path(0)), leaf.serial));
  // Past the expiry, at the delta interval: the delta (same base, which does not list it) must
  // still list it, or base + delta would say less than the complete CRL.
  t.ca.clock.advance(t.options.delta_interval + Seconds(5));
  auto later = wait_newer(p, t.path(0, true), delta->number);
  p.stop();
  CHECK(later->base_number == base);
  CHECK(later->this_update > crypto::Certificate::from_der(leaf.der).value().tbs().not_after);
  CHECK(lists(later, leaf.serial));
  CHECK(lists(p.find(t.path(0)), leaf.serial));
}

// Another node holds the CRL signer: the real store for everything else. `signer` flips it (the
// other node's hold lapsed); the lock's own behaviour is the PostgreSQL store's test.
class OtherNodeSigns final : public store::ClusterStore {
 public:
  explicit OtherNodeSigns(store::ClusterStore& inner) : inner_(inner) {}
  Result<bool> spend_nonce(const std::string& n, std::int64_t e, std::int64_t now) override {
    return inner_.spend_nonce(n, e, now);
  }
  Status heartbeat(const store::NodeRecord& node) override { return inner_.heartbeat(node); }
  Result<std::vector<store::NodeRecord>> nodes(std::int64_t since) override { return inner_.nodes(since); }
  Result<bool> hold_crl_signer(const std::string&, int) override {
    ++asked;
    return signer.load();
  }
  std::atomic<bool> signer{false};
  std::atomic<int> asked{0};

 private:
  store::ClusterStore& inner_;
};

TEST_CASE("one CRL signer per shard: a follower serves the signer's CRLs, numbers included, and takes over") {
  ShardedCa t(2, true);
  const auto leaves = t.one_per_shard();
  OtherNodeSigns cluster(*t.ca.db);
  auto leader = t.publisher();  // SQLite: this process is always the signer
  revocation::CrlPublisher follower(*t.ca.int_key, *t.ca.intermediate, issuer::issuer_id(*t.ca.intermediate), *t.ca.db,
                                    *t.ca.db, cluster, t.ca.clock, t.metrics, t.options);
  REQUIRE(follower.rebuild());
  CHECK(follower.published().empty());  // nothing signed yet, and it signs nothing itself
  CHECK(cluster.asked > 0);
  REQUIRE(leader.rebuild());
  REQUIRE(follower.rebuild());
  const auto signed_by_leader = numbers(leader);
  CHECK(signed_by_leader.size() == 6);  // shards 0..2, complete and delta
  CHECK(numbers(follower) == signed_by_leader);
  for (const auto& [path, crl] : leader.published()) CHECK(follower.find(path)->der == crl->der);

  // A revocation through the leader's node: in the follower's CRLs within the poll (< 1 s).
  leader.start();
  follower.start();
  const Leaf& victim = leaves.at(2);
  const auto started = std::chrono::steady_clock::now();
  t.revoke(victim.serial);
  auto full = wait_newer(follower, t.path(2), signed_by_leader.at(t.path(2)));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  CHECK(lists(full, victim.serial));
  auto delta = wait_newer(follower, t.path(2, true), signed_by_leader.at(t.path(2, true)));
  CHECK(lists(delta, victim.serial));
  leader.stop();
  CHECK(full->number == leader.find(t.path(2))->number);
  CHECK(full->der == leader.find(t.path(2))->der);

  // The signer's node is gone and the hold passes to this one: it signs from then on, a complete
  // CRL first (its deltas need a base of its own), with numbers after the leader's.
  const std::int64_t last = leader.find(t.path(1))->number;
  cluster.signer = true;
  auto own = wait_newer(follower, t.path(1), last);  // taken over: a complete CRL of its own
  t.revoke(leaves.at(1).serial);
  auto own_delta = wait_newer(follower, t.path(1, true), own->number);   // the takeover's delta
  own_delta = wait_newer(follower, t.path(1, true), own_delta->number);  // the revocation's
  follower.stop();
  CHECK(own_delta->base_number == own->number);
  CHECK(lists(own_delta, leaves.at(1).serial));
  CHECK(lists(follower.find(t.path(1)), leaves.at(1).serial));
}

}  // namespace
