// Rate-limit counters (store/acme.hpp) on both engines: fixed windows, counting across two
// connections and across real child processes, and the hits that commit with the change they
// limit (an order, a validation result) in one transaction.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store_internal.hpp"

#include "tests/store/acme_store_fixture.hpp"

using namespace sigil::test::acme_store;
using sigil::Bytes;
using sigil::Errc;
using sigil::Status;
using namespace sigil::store;

TEST_CASE_TEMPLATE("rate_take: a fixed window up to its limit, windows and keys apart", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  const std::string key = "new-order:acct1";
  CHECK(hits(*store, key, 1000) == 0);
  for (int i = 0; i < 3; ++i) CHECK(take(*store, key, 1000, 3));
  CHECK(hits(*store, key, 1000) == 3);
  CHECK_FALSE(take(*store, key, 1000, 3));
  CHECK_FALSE(take(*store, key, 1000, 3));
  CHECK(hits(*store, key, 1000) == 3);  // a refused hit changes nothing

  // A higher limit for the same window lets more through; a lower one refuses.
  CHECK(take(*store, key, 1000, 4));
  CHECK_FALSE(take(*store, key, 1000, 2));
  CHECK(hits(*store, key, 1000) == 4);

  // Another key is counted apart.
  CHECK(take(*store, "new-order:acct2", 1000, 1));
  CHECK_FALSE(take(*store, "new-order:acct2", 1000, 1));
  CHECK(hits(*store, "new-order:acct2", 1000) == 1);

  // The next window starts from zero; the previous one may be pruned.
  CHECK(take(*store, key, 2000, 3));
  CHECK(hits(*store, key, 2000) == 1);
  CHECK(hits(*store, key, 1000) == 0);
  CHECK(hits(*store, "new-order:acct2", 1000) == 1);  // other keys keep their windows

  CHECK_FALSE(take(*store, key, 3000, 0));
  CHECK(hits(*store, key, 3000) == 0);
  CHECK(error_of(store->rate_take(key, 3000, -1)) == Errc::invalid_argument);
}

TEST_CASE_TEMPLATE("rate_take counts across two stores on one database, exactly to the limit", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  auto a = engine.open_again();
  auto b = engine.open_again();
  constexpr int kThreads = 8;
  constexpr int kTries = 40;
  constexpr std::int64_t kLimit = 100;
  std::atomic<int> taken{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < kTries; ++i) {
        auto r = s.rate_take("k", 60, kLimit);
        if (!r) {
          failures.fetch_add(1);
        } else if (*r) {
          taken.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(taken.load() == kLimit);
  CHECK(hits(*a, "k", 60) == kLimit);
  CHECK(hits(*b, "k", 60) == kLimit);
}

TEST_CASE_TEMPLATE("orders created from two stores at once never pass their shared rate limit", E, SqliteEngine,
                   PostgresEngine) {
  TwoStores<E> two;
  auto [a, b] = std::tie(two.a, two.b);
  constexpr int kThreads = 6;
  constexpr int kTries = 8;
  constexpr std::int64_t kLimit = 20;
  const RateHit hit{"new-order:acct1", 3600, kLimit};
  const std::vector<Status> outcomes = race(kThreads, kTries, [&](int t, int i) {
    const std::string id = "o" + std::to_string(t) + "-" + std::to_string(i);
    OrderWithAuthz o = order(id, {id + ".example.test"});
    return (t % 2 == 0 ? *a : *b).create_order(o.order, o.authorizations, audit("new-order", id), hit);
  });
  CHECK(count(outcomes) == kLimit);
  CHECK(count(outcomes, Errc::rate_limited) == kThreads * kTries - kLimit);
  CHECK(hits(*a, "new-order:acct1", 3600) == kLimit);
  auto listed = a->orders_of_account("acct1", 0, std::nullopt, 1000);
  REQUIRE(listed.has_value());
  CHECK(listed->size() == static_cast<std::size_t>(kLimit));  // the refused ones left no order behind
}

TEST_CASE_TEMPLATE("rate_take counts across processes sharing the database", E, SqliteEngine, PostgresEngine) {
  E engine;  // migrated before the children race
  constexpr int kChildren = 4;
  constexpr int kTries = 30;
  constexpr std::int64_t kLimit = 50;
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The child reports how many hits it took as its exit status (255: failure).
      auto store = open_plain(engine);
      if (!store) ::_exit(255);
      int mine = 0;
      for (int i = 0; i < kTries; ++i) {
        auto r = (*store)->rate_take("shared", 0, kLimit);
        if (!r) ::_exit(255);
        if (*r) ++mine;
      }
      store->reset();
      ::_exit(mine);
    }
    children.push_back(pid);
  }
  int total = 0;
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) != 255);
    total += WEXITSTATUS(status);
  }
  CHECK(total == kLimit);
  auto store = engine.open_again();
  CHECK(hits(*store, "shared", 0) == kLimit);
}

namespace {

// SQLite's group-commit counter; PostgreSQL commits once per transaction by construction (no
// counter), so the commit checks below are SQLite's only and read 0 there.
template <class E>
std::int64_t commits(Store& store) {
  if constexpr (!is_sqlite<E>) return 0;
  auto n = sqlite::write_commits(store);
  REQUIRE(n.has_value());
  return *n;
}

}  // namespace

TEST_CASE_TEMPLATE("create_order takes its rate-limit hit in the same transaction, or writes nothing", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const RateHit hit{"new-order:acct1", 3600, 2};
  const std::int64_t before = commits<E>(*store);
  for (const char* id : {"o1", "o2"}) {
    OrderWithAuthz o = order(id, {std::string(id) + ".example.test"});
    REQUIRE_OK(store->create_order(o.order, o.authorizations, audit("new-order", id), hit));
  }
  if constexpr (is_sqlite<E>) CHECK(commits<E>(*store) - before == 2);  // one commit per order, its count included
  CHECK(hits(*store, "new-order:acct1", 3600) == 2);
  const std::size_t rows = audit_count(*store);

  OrderWithAuthz third = order("o3", {"o3.example.test"});
  CHECK(error_of(store->create_order(third.order, third.authorizations, audit("new-order", "o3"), hit)) ==
        Errc::rate_limited);
  CHECK(hits(*store, "new-order:acct1", 3600) == 2);
  CHECK(audit_count(*store) == rows);
  auto missing = store->order("o3");
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
  auto no_authz = store->authorization("o3-0");
  REQUIRE(no_authz.has_value());
  CHECK_FALSE(no_authz->has_value());
  if constexpr (is_sqlite<E>) CHECK(commits<E>(*store) - before == 2);  // a refused change is no commit

  // A refused order (its id taken) does not count against the limit either.
  OrderWithAuthz dup = order("o1", {"again.example.test"});
  dup.order.authorization_ids = {"o1-x"};
  dup.authorizations[0].id = "o1-x";
  CHECK(error_of(store->create_order(dup.order, dup.authorizations, audit("new-order", "o1"),
                                     RateHit{"new-order:acct1", 7200, 5})) == Errc::already_exists);
  CHECK(hits(*store, "new-order:acct1", 7200) == 0);
}

TEST_CASE_TEMPLATE("update_authorization carries its audit row and rate-limit hit, only when the update wins", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const OrderWithAuthz o = order("ord1", {"a.example.test"});
  create(*store, o);
  const std::size_t rows = audit_count(*store);
  const std::int64_t before = commits<E>(*store);

  AcmeAuthorization failed = o.authorizations[0];
  failed.status = AuthorizationStatus::invalid;
  failed.challenges[0] = AcmeChallenge{"http-01", ChallengeStatus::invalid, 0, R"({"type":"x"})"};
  const AuditEntry entry = audit("acme-validate", "a.example.test");
  const RateHit hit{"failed-validation:a.example.test", 0, INT64_MAX};
  REQUIRE_OK(store->update_authorization(failed, AuthorizationStatus::pending, &entry, hit));
  if constexpr (is_sqlite<E>) CHECK(commits<E>(*store) - before == 1);
  CHECK(audit_count(*store) == rows + 1);
  CHECK(hits(*store, "failed-validation:a.example.test", 0) == 1);
  check_same(get_authorization(*store, "ord1-0"), failed);

  // The compare-and-set lost: neither the audit row nor the hit is written.
  CHECK(error_of(store->update_authorization(failed, AuthorizationStatus::pending, &entry, hit)) == Errc::conflict);
  CHECK(audit_count(*store) == rows + 1);
  CHECK(hits(*store, "failed-validation:a.example.test", 0) == 1);
  if constexpr (is_sqlite<E>) CHECK(commits<E>(*store) - before == 1);

  // A hit over its limit refuses the whole update.
  AcmeAuthorization back = failed;
  back.status = AuthorizationStatus::deactivated;
  CHECK(error_of(store->update_authorization(back, AuthorizationStatus::invalid, &entry, RateHit{"k", 0, 0})) ==
        Errc::rate_limited);
  CHECK(get_authorization(*store, "ord1-0").status == AuthorizationStatus::invalid);
  CHECK(audit_count(*store) == rows + 1);
}
