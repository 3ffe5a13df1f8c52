// acme/ra against a real CA (tests/support/test_ca.hpp: root, intermediate, SQLite store, Issuer)
// and a validation authority that answers at once: the account's orders list, authorization
// reuse, and how many SQLite commits and WAL syncs (fdatasync) each step of a complete order costs:
// order, authorization and challenge state commits without waiting for a sync.
#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "acme/jws/jws.hpp"
#include "acme/ra/ra.hpp"
#include "store/sqlite/sqlite_store_internal.hpp"
#include "tests/support/raw_extensions.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using acme::ra::Ra;
using store::AccountStatus;
using store::AuthorizationStatus;
using store::OrderStatus;

// Answers every validation at once, on the caller's thread: valid unless the identifier is in `fail`.
class InstantVa final : public acme::va::Validator {
 public:
  acme::va::Outcome validate(const acme::va::Task& task) override {
    std::lock_guard lock(mu_);
    ++validations;
    acme::va::Outcome out;
    out.valid = fail.count(task.identifier) == 0;
    if (!out.valid) {
      out.error_type = "unauthorized";
      out.detail = "wrong answer";
    }
    return out;
  }
  Status submit(acme::va::Task task, std::function<void(acme::va::Outcome)> done) override {
    if (hold) {
      std::lock_guard lock(mu_);
      held.emplace_back([this, task, done] { done(validate(task)); });
      return {};
    }
    done(validate(task));
    return {};
  }
  void shutdown() override {}
  // Answers the held validations (on the caller's thread).
  std::size_t held_count() {
    std::lock_guard lock(mu_);
    return held.size();
  }
  void release() {
    std::vector<std::function<void()>> now;
    {
      std::lock_guard lock(mu_);
      now.swap(held);
    }
    for (auto& f : now) f();
  }

  std::mutex mu_;
  std::set<std::string> fail;
  int validations = 0;
  bool hold = false;  // submit() keeps validations until release(), as a VA on its own threads
  std::vector<std::function<void()>> held;
};

struct Fixture {
  explicit Fixture(acme::ra::Config config = {})
      : ra(config, {*ca.db, *ca.db, *ca.db}, ca.issuer(), revoker, va, ca.clock) {}

  std::int64_t commits() {
    auto n = store::sqlite::write_commits(*ca.db);
    REQUIRE(n.has_value());
    return *n;
  }
  std::int64_t syncs() {  // fdatasyncs of the WAL
    auto n = store::sqlite::wal_syncs(*ca.db);
    REQUIRE(n.has_value());
    return *n;
  }
  std::int64_t now() const { return to_unix(ca.clock.now()); }

  store::AcmeAccount account(int slot) {
    auto jwk =
        acme::jws::parse_jwk(acme::jws::public_jwk(cached_key(crypto::KeyType::ec_p256, 300 + slot).public_key()));
    REQUIRE(jwk.has_value());
    acme::ra::NewAccount req;
    req.key = *jwk;
    req.remote_address = "127.0.0.1";
    auto a = ra.new_account(req);
    REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().detail));
    return *a;
  }

  Ra::OrderView order(const store::AcmeAccount& a, const std::vector<std::string>& names) {
    acme::ra::NewOrder req;
    for (const auto& n : names) req.identifiers.push_back({"dns", n});
    auto out = ra.new_order(a, req, "127.0.0.1");
    if (auto* r = std::get_if<acme::ra::Refusal>(&out)) FAIL(r->error.detail);
    return std::get<Ra::OrderView>(out);
  }

  // Answers http-01 (dns-01 for a wildcard) of every pending authorization of the order.
  void validate(const store::AcmeAccount& a, const Ra::OrderView& v) {
    for (const auto& z : v.authorizations) {
      if (z.status != AuthorizationStatus::pending) continue;
      auto out = ra.answer_challenge(a, z.id, z.wildcard ? "dns-01" : "http-01");
      REQUIRE(std::holds_alternative<store::AcmeAuthorization>(out));
    }
  }

  OrderStatus status(const store::AcmeAccount& a, const std::string& order_id) {
    auto o = ra.order(a, order_id);
    REQUIRE_MESSAGE(o.has_value(), (o ? "" : o.error().detail));
    return o->order.status;
  }

  Bytes csr(const std::vector<std::string>& names) {
    std::vector<GeneralName> sans;
    for (const auto& n : names) sans.push_back({GN::dns, n});
    auto der = crypto::make_csr(cached_key(crypto::KeyType::ec_p256, 7), crypto::encode_name(""), sans);
    REQUIRE(der.has_value());
    return *der;
  }

  TestCa ca;
  InstantVa va;
  Metrics metrics;
  revocation::Revoker revoker{*ca.db, ca.issuer(), ca.clock, metrics};
  Ra ra;
};

acme::ra::Outcome<store::AcmeAuthorization> answer(Fixture& f, const store::AcmeAccount& a, const Ra::OrderView& v) {
  return f.ra.answer_challenge(a, v.authorizations.at(0).id, "http-01");
}

store::ChallengeStatus challenge_status(const acme::ra::Outcome<store::AcmeAuthorization>& out) {
  const auto* z = std::get_if<store::AcmeAuthorization>(&out);
  REQUIRE(z != nullptr);
  return z->challenges.at(0).status;
}

std::vector<std::string> all_pages(Fixture& f, const store::AcmeAccount& a, int* pages = nullptr) {
  std::vector<std::string> ids;
  std::string cursor;
  int n = 0;
  do {
    auto page = f.ra.orders(a, cursor);
    REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().detail));
    ids.insert(ids.end(), page->order_ids.begin(), page->order_ids.end());
    cursor = page->next_cursor;
    REQUIRE(++n < 100);
  } while (!cursor.empty());
  if (pages) *pages = n;
  return ids;
}

}  // namespace

TEST_CASE("a complete order costs six commits and one WAL sync: the certificate's, before it is served") {
  Fixture f;
  const auto acct = f.account(1);
  const std::int64_t start = f.commits(), start_syncs = f.syncs();
  auto v = f.order(acct, {"one.example.internal"});
  const std::int64_t after_order = f.commits(), after_order_syncs = f.syncs();
  f.validate(acct, v);  // the instant VA stores the result before answer_challenge returns
  const std::int64_t after_validation = f.commits(), after_validation_syncs = f.syncs();
  CHECK(f.status(acct, v.order.id) == OrderStatus::ready);
  auto fin = f.ra.finalize(acct, v.order.id, f.csr({"one.example.internal"}));
  REQUIRE_MESSAGE(fin.has_value(), (fin ? "" : fin.error().detail));
  CHECK(fin->order.status == OrderStatus::valid);
  const std::int64_t after_finalize = f.commits(), after_finalize_syncs = f.syncs();
  // Reads cost nothing: the order is valid from the ledger's own commit of the certificate.
  auto again = f.ra.order(acct, v.order.id);
  REQUIRE(again.has_value());
  CHECK(again->order.status == OrderStatus::valid);
  CHECK(again->order.certificate_serial == fin->order.certificate_serial);
  auto chain = f.ra.certificate_chain(again->order.certificate_serial);
  REQUIRE_MESSAGE(chain.has_value(), (chain ? "" : chain.error().detail));
  CHECK(f.commits() == after_finalize);
  CHECK(f.syncs() == after_finalize_syncs);

  MESSAGE("commits: newOrder " << after_order - start << ", challenge + validation " << after_validation - after_order
                               << ", finalize " << after_finalize - after_validation << "; WAL syncs "
                               << after_finalize_syncs - start_syncs);
  CHECK(after_order - start == 1);                // rate counter + order + authorizations + audit
  CHECK(after_validation - after_order == 2);     // processing; then result + audit (+ failure count)
  CHECK(after_finalize - after_validation == 3);  // processing + serial (the CAS); reserve; complete
  CHECK(after_finalize - start == 6);
  // Order state waits for no sync; the certificate's completion syncs everything before it.
  CHECK(after_order_syncs == start_syncs);
  CHECK(after_validation_syncs == start_syncs);
  CHECK(after_finalize_syncs - start_syncs == 1);

  // The validation's audit row rode with its result.
  bool audited = false;
  for (const auto& e : f.ca.audit()) audited |= e.action == "acme-validate" && e.target == "one.example.internal";
  CHECK(audited);
}

TEST_CASE("a failed validation stores its result, audit row and failure count in one commit") {
  Fixture f;
  const auto acct = f.account(1);
  f.va.fail.insert("bad.example.internal");
  auto v = f.order(acct, {"bad.example.internal"});
  const std::int64_t before = f.commits(), before_syncs = f.syncs();
  f.validate(acct, v);
  CHECK(f.commits() - before == 2);
  CHECK(f.syncs() == before_syncs);
  CHECK(f.status(acct, v.order.id) == OrderStatus::invalid);
  const std::int64_t t = f.now();
  auto failed = f.ca.db->rate_count(acme::ra::failed_validation_key(acct.id, "bad.example.internal"), t - t % 3600);
  REQUIRE(failed.has_value());
  CHECK(*failed == 1);
  bool audited = false;
  for (const auto& e : f.ca.audit())
    audited |= e.action == "acme-validate" && e.target == "bad.example.internal" && e.outcome == "refused";
  CHECK(audited);
}

TEST_CASE("failed validations are limited per account and identifier: one account cannot spend another's") {
  acme::ra::Config config;
  config.limits.failed_validations_per_identifier_per_hour = 2;
  Fixture f(config);
  const auto mallory = f.account(1);
  const auto victim = f.account(2);
  const std::string name = "shared.example.internal";
  f.va.fail.insert(name);
  const auto answer = [&](const store::AcmeAccount& a) {
    auto v = f.order(a, {name});
    return f.ra.answer_challenge(a, v.authorizations.at(0).id, "http-01");
  };
  REQUIRE(std::holds_alternative<store::AcmeAuthorization>(answer(mallory)));
  REQUIRE(std::holds_alternative<store::AcmeAuthorization>(answer(mallory)));
  auto spent = answer(mallory);  // mallory's limit: refused, and nothing started
  REQUIRE(std::holds_alternative<acme::ra::Refusal>(spent));
  CHECK(std::get<acme::ra::Refusal>(spent).error.code == Errc::rate_limited);
  CHECK(f.va.validations == 2);
  // The victim's validations of the same name still run (and the name now validates).
  f.va.fail.erase(name);
  auto mine = answer(victim);
  REQUIRE(std::holds_alternative<store::AcmeAuthorization>(mine));
  // The instant VA decided before the answer went out: the answer carries the result.
  CHECK(std::get<store::AcmeAuthorization>(mine).status == AuthorizationStatus::valid);
  CHECK(f.va.validations == 3);
  const std::int64_t t = f.now();
  CHECK(f.ca.db->rate_count(acme::ra::failed_validation_key(mallory.id, name), t - t % 3600).value() == 2);
  CHECK(f.ca.db->rate_count(acme::ra::failed_validation_key(victim.id, name), t - t % 3600).value() == 0);
}

acme::jws::Jwk test_jwk(int slot) {
  auto jwk = acme::jws::parse_jwk(acme::jws::public_jwk(cached_key(crypto::KeyType::ec_p256, slot).public_key()));
  REQUIRE(jwk.has_value());
  return *jwk;
}

store::AcmeAccount stored_account(Fixture& f, const std::string& id) {
  auto a = f.ca.db->account(id);
  REQUIRE(a.has_value());
  REQUIRE(a->has_value());
  return **a;
}

TEST_CASE("account writes are compare-and-set on the state the request read") {
  Fixture f;
  const auto acct = f.account(1);
  const auto new_key = test_jwk(401);

  // Read before a key change, written after it: refused, the new key stays.
  const auto before_key_change = f.ra.account(acct.id).value();
  REQUIRE(f.ra.change_key(f.ra.account(acct.id).value(), new_key).has_value());
  auto late = f.ra.update_account(before_key_change, std::vector<std::string>{"mailto:late@example.test"}, false);
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().code == Errc::unauthorized);
  CHECK(stored_account(f, acct.id).thumbprint == new_key.thumbprint);
  CHECK(stored_account(f, acct.id).contact.empty());

  // Only the contact changed meanwhile: applied once more on the fresh state.
  const auto read = f.ra.account(acct.id).value();
  REQUIRE(f.ra.update_account(read, std::vector<std::string>{"mailto:first@example.test"}, false).has_value());
  auto second = f.ra.update_account(read, std::vector<std::string>{"mailto:second@example.test"}, false);
  REQUIRE_MESSAGE(second.has_value(), (second ? "" : second.error().detail));
  CHECK(stored_account(f, acct.id).contact == std::vector<std::string>{"mailto:second@example.test"});

  // Read before a deactivation, written after it: refused, the account stays deactivated.
  const auto before_deactivation = f.ra.account(acct.id).value();
  REQUIRE(f.ra.update_account(f.ra.account(acct.id).value(), std::nullopt, true).has_value());
  auto revive = f.ra.update_account(before_deactivation, std::vector<std::string>{"mailto:x@example.test"}, false);
  REQUIRE_FALSE(revive.has_value());
  CHECK(revive.error().code == Errc::unauthorized);
  auto rekey = f.ra.change_key(before_deactivation, test_jwk(402));
  REQUIRE_FALSE(rekey.has_value());
  CHECK(rekey.error().code == Errc::unauthorized);
  CHECK(stored_account(f, acct.id).status == AccountStatus::deactivated);
  CHECK(stored_account(f, acct.id).thumbprint == new_key.thumbprint);
}

TEST_CASE("keyChange and contact updates racing on threads: the last key change wins, no update restores a key") {
  Fixture f;
  const auto acct = f.account(1);
  // The updaters run until the key changes are done (bounded), so some read before the last key
  // change and write after it: a blind write would then restore an old key.
  constexpr int kKeyChanges = 20, kUpdaters = 3, kMaxUpdates = 2000;
  std::atomic<bool> done{false};
  std::vector<acme::jws::Jwk> keys;
  for (int i = 0; i < kKeyChanges; ++i) keys.push_back(test_jwk(410 + i));
  std::mutex mu;
  std::string last_key;  // the thumbprint of the last key change that succeeded
  std::atomic<int> key_ok{0}, update_ok{0}, update_refused{0}, other{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (const auto& k : keys) {
      auto read = f.ra.account(acct.id);
      if (!read) {
        other.fetch_add(1);
        continue;
      }
      auto r = f.ra.change_key(*read, k);
      if (r) {
        std::lock_guard lock(mu);
        last_key = k.thumbprint;
        key_ok.fetch_add(1);
      } else if (r.error().code != Errc::conflict) {
        other.fetch_add(1);
      }
      std::this_thread::yield();
    }
    done.store(true);
  });
  for (int t = 0; t < kUpdaters; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kMaxUpdates && !done.load(); ++i) {
        auto read = f.ra.account(acct.id);
        if (!read) {
          other.fetch_add(1);
          continue;
        }
        std::this_thread::yield();  // widen the window between read and write
        const std::string c = "mailto:t" + std::to_string(t) + "-" + std::to_string(i) + "@example.test";
        auto r = f.ra.update_account(*read, std::vector<std::string>{c}, false);
        if (r)
          update_ok.fetch_add(1);
        else if (r.error().code == Errc::unauthorized || r.error().code == Errc::conflict)
          update_refused.fetch_add(1);
        else
          other.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  INFO("key changes " << key_ok.load() << ", updates " << update_ok.load() << " ok / " << update_refused.load()
                      << " refused, other " << other.load());
  CHECK(other.load() == 0);
  REQUIRE(key_ok.load() > 0);
  CHECK(update_ok.load() > 0);
  const auto final_state = stored_account(f, acct.id);
  CHECK(final_state.thumbprint == last_key);
  CHECK(final_state.status == AccountStatus::valid);
  // The stored JWK is the key of that thumbprint, never a mix of two writes.
  auto jwk = acme::jws::parse_jwk(final_state.jwk);
  REQUIRE(jwk.has_value());
  CHECK(jwk->thumbprint == last_key);
}

TEST_CASE("two finalize calls racing: one certificate, the other gets orderNotReady") {
  Fixture f;
  const auto acct = f.account(1);
  for (int round = 0; round < 5; ++round) {
    const std::string name = "race" + std::to_string(round) + ".example.internal";
    auto v = f.order(acct, {name});
    f.validate(acct, v);
    const std::int64_t certs = f.ca.count();
    std::atomic<int> wins{0}, not_ready{0};
    std::vector<std::thread> threads;
    const Bytes csr = f.csr({name});
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        auto r = f.ra.finalize(acct, v.order.id, csr);
        if (r)
          wins.fetch_add(1);
        else if (r.error().code == Errc::order_not_ready)
          not_ready.fetch_add(1);
      });
    for (auto& t : threads) t.join();
    CHECK(wins.load() == 1);
    CHECK(not_ready.load() == 3);
    CHECK(f.ca.count() == certs + 1);
    CHECK(f.status(acct, v.order.id) == OrderStatus::valid);
  }
}

TEST_CASE("new orders over the rate limit are refused in the order's own transaction, nothing written") {
  acme::ra::Config config;
  config.limits.new_orders_per_account_per_hour = 2;
  Fixture f(config);
  const auto acct = f.account(1);
  f.order(acct, {"r1.example.internal"});
  f.order(acct, {"r2.example.internal"});
  const std::int64_t commits = f.commits();
  const auto audit_rows = f.ca.audit().size();
  acme::ra::NewOrder req;
  req.identifiers.push_back({"dns", "r3.example.internal"});
  auto out = f.ra.new_order(acct, req, "127.0.0.1");
  auto* refusal = std::get_if<acme::ra::Refusal>(&out);
  REQUIRE(refusal != nullptr);
  CHECK(refusal->error.code == Errc::rate_limited);
  REQUIRE(refusal->retry_after.has_value());
  CHECK(*refusal->retry_after > 0);
  CHECK(*refusal->retry_after <= 3600);
  CHECK(f.commits() == commits);  // the refused transaction rolled back (the batch still commits nothing new)
  CHECK(f.ca.audit().size() == audit_rows);
  CHECK(all_pages(f, acct).size() == 2);
}

TEST_CASE("the account's orders list: newest first, paginated, no invalid orders, the account's own only") {
  acme::ra::Config config;
  config.orders_per_page = 2;
  Fixture f(config);
  const auto a = f.account(1);
  const auto b = f.account(2);
  f.va.fail.insert("o2.example.internal");
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) {
    auto v = f.order(a, {"o" + std::to_string(i) + ".example.internal"});
    ids.push_back(v.order.id);
    if (i == 2) f.validate(a, v);  // fails: o2 is invalid
    if (i == 3) {                  // o3 becomes valid
      f.validate(a, v);
      REQUIRE(f.ra.finalize(a, v.order.id, f.csr({"o3.example.internal"})).has_value());
    }
    f.ca.clock.advance(Seconds(1));
  }
  f.order(b, {"other.example.internal"});

  auto first = f.ra.orders(a, "");
  REQUIRE(first.has_value());
  CHECK(first->order_ids == std::vector<std::string>{ids[4], ids[3]});
  CHECK(!first->next_cursor.empty());
  int pages = 0;
  CHECK(all_pages(f, a, &pages) == std::vector<std::string>{ids[4], ids[3], ids[2], ids[0]});
  CHECK(pages == 3);  // [o5 o4] [o3 (o2 dropped)] [o1]
  CHECK(all_pages(f, b).size() == 1);

  for (const char* bad : {"x", "12", "12.", ".abc", "-1x.abc", "1e3.abc"}) {
    CAPTURE(bad);
    auto r = f.ra.orders(a, bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }

  // Once the pending orders expired, only the valid one is left.
  f.ca.clock.advance(f.ra.config().order_lifetime + Seconds(1));
  CHECK(all_pages(f, a) == std::vector<std::string>{ids[2]});
}

TEST_CASE("authorization reuse: the account's valid authorization for the same identifier, and only that") {
  Fixture f;
  const auto a = f.account(1);
  const auto b = f.account(2);
  auto first = f.order(a, {"reuse.example.internal"});
  f.validate(a, first);
  const std::string authz = first.order.authorization_ids.at(0);
  REQUIRE(f.ra.authorization(a, authz)->status == AuthorizationStatus::valid);
  const int validations = f.va.validations;

  SUBCASE("a new order for the same name is ready at once, naming the same authorization") {
    auto second = f.order(a, {"reuse.example.internal"});
    CHECK(second.order.status == OrderStatus::ready);
    CHECK(second.order.authorization_ids == std::vector<std::string>{authz});
    CHECK(second.order.expires <= f.ra.authorization(a, authz)->expires);
    CHECK(f.status(a, second.order.id) == OrderStatus::ready);
    auto fin = f.ra.finalize(a, second.order.id, f.csr({"reuse.example.internal"}));
    REQUIRE_MESSAGE(fin.has_value(), (fin ? "" : fin.error().detail));
    CHECK(fin->order.status == OrderStatus::valid);
    CHECK(f.va.validations == validations);
  }
  SUBCASE("with a new name beside it, only the known name is reused") {
    auto second = f.order(a, {"new.example.internal", "reuse.example.internal"});
    REQUIRE(second.order.authorization_ids.size() == 2);
    CHECK(second.order.authorization_ids[1] == authz);
    CHECK(second.order.authorization_ids[0] != authz);
    CHECK(second.order.status == OrderStatus::pending);
    f.validate(a, second);
    CHECK(f.status(a, second.order.id) == OrderStatus::ready);
  }
  SUBCASE("a wildcard is another identifier") {
    auto w = f.order(a, {"*.reuse.example.internal"});
    CHECK(w.order.authorization_ids.at(0) != authz);
    CHECK(w.order.status == OrderStatus::pending);
  }
  SUBCASE("another account's authorization is never reused") {
    auto other = f.order(b, {"reuse.example.internal"});
    CHECK(other.order.authorization_ids.at(0) != authz);
    CHECK(other.order.status == OrderStatus::pending);
  }
  SUBCASE("a deactivated authorization is not reused") {
    REQUIRE(f.ra.deactivate_authorization(a, authz).has_value());
    auto second = f.order(a, {"reuse.example.internal"});
    CHECK(second.order.authorization_ids.at(0) != authz);
    CHECK(second.order.status == OrderStatus::pending);
  }
  SUBCASE("an authorization about to expire, or expired, is not reused") {
    f.ca.clock.advance(f.ra.config().valid_authorization_lifetime - f.ra.config().reuse_min_remaining + Seconds(1));
    auto second = f.order(a, {"reuse.example.internal"});
    CHECK(second.order.authorization_ids.at(0) != authz);
    f.ca.clock.advance(Seconds(7200));
    auto third = f.order(a, {"reuse.example.internal"});
    CHECK(third.order.authorization_ids.at(0) != authz);
  }
  SUBCASE("a pending authorization is not reused, nor an invalid one") {
    auto pending = f.order(a, {"pending.example.internal"});
    auto second = f.order(a, {"pending.example.internal"});
    CHECK(second.order.authorization_ids != pending.order.authorization_ids);
    f.va.fail.insert("pending.example.internal");
    f.validate(a, pending);
    CHECK(f.ra.authorization(a, pending.order.authorization_ids[0])->status == AuthorizationStatus::invalid);
    auto third = f.order(a, {"pending.example.internal"});
    CHECK(third.order.authorization_ids != pending.order.authorization_ids);
    CHECK(third.order.status == OrderStatus::pending);
  }
}

TEST_CASE("authorization reuse can be turned off") {
  acme::ra::Config config;
  config.reuse_authorizations = false;
  Fixture f(config);
  const auto a = f.account(1);
  auto first = f.order(a, {"noreuse.example.internal"});
  f.validate(a, first);
  auto second = f.order(a, {"noreuse.example.internal"});
  CHECK(second.order.authorization_ids != first.order.authorization_ids);
  CHECK(second.order.status == OrderStatus::pending);
}

TEST_CASE("revokeCert: the largest certificate the CA issues fits the size limit; a 60,000-extension one is refused") {
  Fixture f;
  const auto acct = f.account(1);
  // 100 identifiers (the most an order or a CSR may carry) of 253 octets (the most a DNS name has).
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    const std::string label = std::string(60, 'a') + std::to_string(100 + i);  // 63 octets
    names.push_back(label + "." + label + "." + label + "." + std::string(44, 'd') + ".example.internal");
    REQUIRE(names.back().size() == 253);
  }
  auto v = f.order(acct, names);
  f.validate(acct, v);
  auto fin = f.ra.finalize(acct, v.order.id, f.csr(names));
  REQUIRE_MESSAGE(fin.has_value(), (fin ? "" : fin.error().detail));
  auto rec = f.ca.db->find(fin->order.certificate_serial);
  REQUIRE(rec.has_value());
  REQUIRE(rec->has_value());
  const Bytes& largest = (*rec)->der;
  MESSAGE("largest issued certificate: " << largest.size() << " octets; limit " << acme::ra::kMaxRevokeCertificate);
  CHECK(largest.size() * 2 <= acme::ra::kMaxRevokeCertificate);  // room for RSA-8192 and long URLs

  // Signed by a fresh key, no account: refused as malformed, whatever the key or the store say.
  const crypto::KeySigner& stranger = cached_key(crypto::KeyType::ec_p256, 99);
  // 60,000 distinct private extensions: what anyone can send to revokeCert with that key in the
  // JWS, no account needed.
  const Bytes big = test::raw_certificate(stranger, "big.example.internal", test::many_unknown(60'000));
  REQUIRE(big.size() > acme::ra::kMaxRevokeCertificate);
  auto refused = f.ra.revoke(nullptr, &stranger.public_key(), big, 0);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::malformed);
  CHECK(refused.error().detail.find("larger than any this CA issues") != std::string::npos);

  // The largest legitimate one is still revocable, by its account.
  auto ok = f.ra.revoke(&acct, nullptr, largest, 1);
  CHECK_MESSAGE(ok.has_value(), (ok ? "" : ok.error().detail));
}

TEST_CASE("finalize refuses a CSR whose key is the account key (RFC 8555 §11.1); the order stays ready") {
  Fixture f;
  const auto acct = f.account(1);
  auto v = f.order(acct, {"acctkey.example.internal"});
  f.validate(acct, v);
  const std::int64_t rows = f.ca.count();
  auto der = crypto::make_csr(cached_key(crypto::KeyType::ec_p256, 300 + 1), crypto::encode_name(""),
                              {{GN::dns, "acctkey.example.internal"}});
  REQUIRE(der.has_value());
  auto fin = f.ra.finalize(acct, v.order.id, *der);
  REQUIRE_FALSE(fin.has_value());
  CHECK(fin.error().code == Errc::bad_csr);
  CHECK(fin.error().detail.find("account key") != std::string::npos);
  CHECK(f.status(acct, v.order.id) == OrderStatus::ready);
  CHECK(f.ca.count() == rows);
  // Another key is certified.
  auto ok = f.ra.finalize(acct, v.order.id, f.csr({"acctkey.example.internal"}));
  REQUIRE_MESSAGE(ok.has_value(), (ok ? "" : ok.error().detail));
}

TEST_CASE("revokeCert signed by the certificate's key for keyCompromise blocks the key for later finalizes") {
  Fixture f;
  const auto acct = f.account(1);
  auto v = f.order(acct, {"leaked.example.internal"});
  f.validate(acct, v);
  auto fin = f.ra.finalize(acct, v.order.id, f.csr({"leaked.example.internal"}));
  REQUIRE_MESSAGE(fin.has_value(), (fin ? "" : fin.error().detail));
  auto rec = f.ca.db->find(fin->order.certificate_serial);
  REQUIRE(rec.has_value());
  REQUIRE(rec->has_value());
  const Bytes der = (*rec)->der;
  const crypto::PublicKey key = cached_key(crypto::KeyType::ec_p256, 7).public_key();

  // Reasons outside the one leaf allow-list: badRevocationReason, nothing changes.
  for (int reason : {2, 6, 7, 8, 10, 11, -1}) {
    CAPTURE(reason);
    auto st = f.ra.revoke(nullptr, &key, der, reason);
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().code == Errc::bad_revocation_reason);
  }
  CHECK((*f.ca.db->find((*rec)->serial))->status == store::CertStatus::valid);

  REQUIRE(f.ra.revoke(nullptr, &key, der, 1));  // keyCompromise, signed by the certificate's key
  auto blocked = f.ca.db->blocked_key(issuer::key_sha256(key));
  REQUIRE(blocked.has_value());
  REQUIRE(blocked->has_value());
  CHECK((*blocked)->serial == (*rec)->serial);

  // The same key, another order of another account: badPublicKey, naming the reason; the order
  // stays ready.
  const auto other = f.account(2);
  auto again = f.order(other, {"leaked.example.internal"});
  f.validate(other, again);
  const std::int64_t rows = f.ca.count();
  auto refused = f.ra.finalize(other, again.order.id, f.csr({"leaked.example.internal"}));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::bad_public_key);
  CHECK(refused.error().detail.find("key is blocked: revoked for keyCompromise") != std::string::npos);
  CHECK(f.status(other, again.order.id) == OrderStatus::ready);
  CHECK(f.ca.count() == rows);
}

TEST_CASE("a challenge answered on a quiet server waits for its own validation, within a bound") {
  acme::ra::Config config;
  config.challenge_wait = std::chrono::seconds(30);
  Fixture f(config);
  const auto acct = f.account(1);
  f.va.hold = true;

  // The validation finishes on another thread while the answer waits: the answer is decided.
  auto v = f.order(acct, {"quiet.example.internal"});
  std::thread validator([&] {
    while (f.va.held_count() == 0) std::this_thread::yield();
    f.va.release();
  });
  const auto decided = answer(f, acct, v);
  validator.join();
  CHECK(challenge_status(decided) == store::ChallengeStatus::valid);
  CHECK(std::get<store::AcmeAuthorization>(decided).status == AuthorizationStatus::valid);

  // Under load (another validation in flight in this process) nobody waits: processing at once.
  auto first = f.order(acct, {"busy1.example.internal"});
  auto second = f.order(acct, {"busy2.example.internal"});
  std::thread holder([&] {
    // The first answer waits for its validation (the server is quiet when it starts) ...
    CHECK(challenge_status(answer(f, acct, first)) == store::ChallengeStatus::valid);
  });
  while (f.va.held_count() == 0) std::this_thread::yield();
  // ... the second finds it in flight and returns without waiting (well before the 30 s bound,
  // which it would otherwise sit out: nothing answers its validation meanwhile).
  const auto asked = std::chrono::steady_clock::now();
  CHECK(challenge_status(answer(f, acct, second)) == store::ChallengeStatus::processing);
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(15));
  f.va.release();
  holder.join();
  CHECK(f.status(acct, second.order.id) == OrderStatus::ready);
}

TEST_CASE("a challenge's wait for its validation ends at the bound; zero turns it off") {
  for (const int ms : {0, 20}) {
    CAPTURE(ms);
    acme::ra::Config config;
    config.challenge_wait = std::chrono::milliseconds(ms);
    Fixture f(config);
    const auto acct = f.account(1);
    f.va.hold = true;
    auto v = f.order(acct, {"slow.example.internal"});
    CHECK(challenge_status(answer(f, acct, v)) == store::ChallengeStatus::processing);  // never answered
    f.va.release();
    CHECK(f.status(acct, v.order.id) == OrderStatus::ready);
  }
}
