// The store contract both engines keep (tests/store/engines.hpp): opening, reopening, engine(),
// and what several nodes on one database rely on (concurrent stores, nonces, heartbeats, the CRL
// signer).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "store/postgres/pg.hpp"
#include "tests/store/store_fixture.hpp"

using sigil::store::Engine;
using sigil::test::engines::PostgresEngine;
using sigil::test::engines::SqliteEngine;

TEST_CASE_TEMPLATE("a store reopens its own database: migrations apply once, a second opener shares it", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  CHECK(std::string(to_string(engine.store().engine())) == E::kName);
  auto again = engine.open_again();
  CHECK(again->engine() == engine.store().engine());
}

TEST_CASE("postgresql: a database with foreign tables is refused, not migrated") {
  // PostgreSQL only: SQLite's equivalent (application_id) is in sqlite_store_file_test.cpp.
  const std::string server = sigil::test::engines::postgres_server_url();
  const std::string name = "sigil_test_foreign_" + std::to_string(getpid());
  sigil::test::engines::postgres_admin("CREATE DATABASE " + name);
  const std::string url = server.substr(0, server.rfind('/') + 1) + name;
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "CREATE TABLE invoices (id INTEGER)"));
  PQfinish(c);
  auto store = sigil::store::postgres::open(url);
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error().detail.find("not a sigil database") != std::string::npos);
  sigil::test::engines::postgres_admin("DROP DATABASE " + name + " WITH (FORCE)");
}

TEST_CASE("postgresql: an unreachable server is unavailable (503 upstream), not a crash") {
  auto store = sigil::store::postgres::open("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error().code == sigil::Errc::unavailable);
}

TEST_CASE("postgresql: one statement name given to two texts is refused, never run as the other") {
  PostgresEngine engine;
  namespace pg = sigil::store::postgres::detail;
  auto conn = pg::connect(pg::ConnectOptions{engine.location(), "", 5});
  REQUIRE(conn.has_value());
  const pg::Statement one{"same_name", "one", "SELECT 1"};
  const pg::Statement two{"same_name", "two", "SELECT 2"};
  auto first = (*conn)->run(one);
  REQUIRE(first.has_value());
  CHECK(first->int64(0, 0) == 1);
  auto second = (*conn)->run(two);
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == sigil::Errc::internal);
  CHECK((*conn)->run(one)->int64(0, 0) == 1);
}

// ---- several nodes on one database ------------------------------------------------------------
// Each node is a Store of its own (engine.open_again()): its own connections, nothing shared in
// memory, as two processes on two machines would be.

namespace {

using namespace sigil::test::store_fixture;

// Runs fn(i) on `n` threads released together, so their statements overlap.
template <class Fn>
void all_at_once(int n, Fn fn) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < n) std::this_thread::yield();
      fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

// `n` more stores on the engine's database: `n` nodes.
template <class E>
std::vector<std::unique_ptr<Store>> nodes_on(const E& engine, int n) {
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < n; ++i) nodes.push_back(engine.open_again());
  return nodes;
}

}  // namespace

TEST_CASE_TEMPLATE("two stores on one database see each other's writes", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store& a = engine.store();
  auto b = engine.open_again();
  issue(a, pending("01"));
  REQUIRE(b->revoke("01", 5'000, RevocationReason::superseded, "", audit("revoke", "01")));
  auto found = a.find("01");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->status == CertStatus::revoked);
  CHECK((*found)->sans == pending("01").sans);
  REQUIRE(a.append(AuditEntry{6'000, "cli:admin", "init", "ca", "ok", ""}));
  CHECK(audit_rows(*b).size() == 4);
  CHECK(audit_rows(*b).front().action == "init");
  CHECK(count_of(*b) == 1);
  CHECK(*a.revocation_sequence() == *b->revocation_sequence());
}

TEST_CASE_TEMPLATE("one serial reserved by two stores at once: exactly one wins", E, SqliteEngine, PostgresEngine) {
  E engine;
  auto nodes = nodes_on(engine, 2);
  constexpr int kSerials = 20;
  std::atomic<int> won{0}, taken{0}, other{0};
  for (int s = 0; s < kSerials; ++s) {
    const std::string serial = "race" + std::to_string(s);
    all_at_once(2, [&](int i) {
      auto st = nodes[static_cast<std::size_t>(i)]->reserve(pending(serial), audit("reserve", serial));
      if (st) {
        won.fetch_add(1);
      } else if (st.error().code == Errc::already_exists) {
        taken.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
    });
  }
  CHECK(won.load() == kSerials);
  CHECK(taken.load() == kSerials);
  CHECK(other.load() == 0);
  CHECK(count_of(engine.store()) == kSerials);
  CHECK(audit_rows(engine.store()).size() == static_cast<std::size_t>(kSerials));  // the losers wrote nothing
}

TEST_CASE_TEMPLATE("CRL numbers drawn by two stores at once never repeat", E, SqliteEngine, PostgresEngine) {
  E engine;
  auto nodes = nodes_on(engine, 2);
  constexpr int kEach = 40;
  std::mutex mu;
  std::vector<std::int64_t> numbers;
  std::atomic<int> failures{0};
  all_at_once(4, [&](int t) {
    for (int k = 0; k < kEach; ++k) {
      auto n = nodes[static_cast<std::size_t>(t % 2)]->next_crl_number("ab12", 1);
      if (!n) {
        failures.fetch_add(1);
        continue;
      }
      std::lock_guard lock(mu);
      numbers.push_back(*n);
    }
  });
  CHECK(failures.load() == 0);
  std::sort(numbers.begin(), numbers.end());
  std::vector<std::int64_t> expected(4 * kEach);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::int64_t>(i) + 1;
  CHECK(numbers == expected);  // each number once, none skipped without a crash
}

TEST_CASE_TEMPLATE("revocations from two stores: the sequence only grows and revoked_since sees them all", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  auto nodes = nodes_on(engine, 2);
  constexpr int kEach = 25;
  for (int i = 0; i < 2 * kEach; ++i) issue(engine.store(), pending("r" + std::to_string(i)));
  const std::int64_t start = *engine.store().revocation_sequence();

  // A poller on a third store, reading while the two revoke: what it has seen never shrinks, and
  // once it has seen N it has seen every revocation numbered up to N.
  std::atomic<bool> done{false};
  std::atomic<int> gaps{0}, backwards{0};
  std::thread poller([&] {
    auto reader = engine.open_again();
    std::int64_t last = start;
    while (!done.load()) {
      auto seq = reader->revocation_sequence();
      if (!seq) continue;
      if (*seq < last) backwards.fetch_add(1);
      auto since = reader->revoked_since(start, 1000);
      if (since && static_cast<std::int64_t>(since->size()) < *seq - start) gaps.fetch_add(1);
      last = *seq;
    }
  });
  std::atomic<int> failures{0};
  all_at_once(2, [&](int t) {
    for (int k = 0; k < kEach; ++k) {
      const std::string serial = "r" + std::to_string(t * kEach + k);
      if (!nodes[static_cast<std::size_t>(t)]->revoke(serial, 5'000, RevocationReason::superseded, "",
                                                      audit("revoke", serial)))
        failures.fetch_add(1);
    }
  });
  done = true;
  poller.join();
  CHECK(failures.load() == 0);
  CHECK(backwards.load() == 0);
  CHECK(gaps.load() == 0);
  CHECK(*engine.store().revocation_sequence() == start + 2 * kEach);
  auto since = nodes[0]->revoked_since(start, 1000);
  REQUIRE(since.has_value());
  REQUIRE(since->size() == static_cast<std::size_t>(2 * kEach));
  std::set<std::string> serials;
  for (std::size_t i = 0; i < since->size(); ++i) {
    serials.insert((*since)[i].first);
    CHECK((*since)[i].second == start + static_cast<std::int64_t>(i) + 1);  // strictly increasing, no holes
  }
  CHECK(serials.size() == static_cast<std::size_t>(2 * kEach));
}

TEST_CASE_TEMPLATE("a nonce is spent once; an expired record may be spent again", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store& store = engine.store();
  CHECK(*store.spend_nonce("n1", 200, 100) == true);
  CHECK(*store.spend_nonce("n1", 200, 150) == false);  // a replay
  CHECK(*store.spend_nonce("n2", 200, 150) == true);
  CHECK(*store.spend_nonce("n1", 400, 250) == true);  // its record expired at 200
  CHECK(*store.spend_nonce("n1", 400, 260) == false);
}

TEST_CASE("postgresql: a nonce spent on one node is a replay on every other") {
  // PostgreSQL only: SQLite's spent nonces live in the one serving process (store.hpp).
  PostgresEngine engine;
  auto nodes = nodes_on(engine, 3);
  constexpr int kNonces = 30;
  std::atomic<int> firsts{0}, replays{0}, failures{0};
  for (int n = 0; n < kNonces; ++n) {
    const std::string nonce = "nonce-" + std::to_string(n);
    all_at_once(3, [&](int i) {
      auto spent = nodes[static_cast<std::size_t>(i)]->spend_nonce(nonce, 1'000, 100);
      if (!spent) {
        failures.fetch_add(1);
      } else {
        (*spent ? firsts : replays).fetch_add(1);
      }
    });
  }
  CHECK(failures.load() == 0);
  CHECK(firsts.load() == kNonces);
  CHECK(replays.load() == 2 * kNonces);
}

TEST_CASE("postgresql: expired spent nonces are pruned in bounded batches, not on every call") {
  PostgresEngine engine;
  Store& store = engine.store();
  RawPg raw(engine.location());
  // 255 spends of nonces already expired by `now`: no prune yet, every row still there.
  for (int i = 0; i < 255; ++i) REQUIRE(*store.spend_nonce("old" + std::to_string(i), 50, 100));
  CHECK(raw.integer("SELECT COUNT(*) FROM acme_spent_nonces") == 255);
  // The 256th call prunes what expired before its own insert.
  REQUIRE(*store.spend_nonce("fresh", 1'000, 100));
  CHECK(raw.integer("SELECT COUNT(*) FROM acme_spent_nonces") == 1);
  CHECK(raw.text("SELECT nonce FROM acme_spent_nonces") == "fresh");
}

TEST_CASE_TEMPLATE("heartbeats: each node's row, refreshed in place, filtered by last seen", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  auto b = engine.open_again();
  REQUIRE(engine.store().heartbeat(NodeRecord{"aa", "host-a", "https://a:8443", "1.0", 100, 100}));
  REQUIRE(b->heartbeat(NodeRecord{"bb", "host-b", "https://b:8443 http://b:8080", "1.0", 110, 110}));
  auto seen = b->nodes(0);
  REQUIRE(seen.has_value());
  REQUIRE(seen->size() == 2);
  CHECK((*seen)[0].id == "aa");
  CHECK((*seen)[0].hostname == "host-a");
  CHECK((*seen)[1].urls == "https://b:8443 http://b:8080");
  CHECK((*seen)[1].started_at == 110);

  // A refresh moves last_seen and keeps started_at; a node gone quiet drops out of recent views.
  REQUIRE(engine.store().heartbeat(NodeRecord{"aa", "host-a", "https://a:8443", "1.1", 999, 200}));
  seen = b->nodes(150);
  REQUIRE(seen.has_value());
  REQUIRE(seen->size() == 1);
  CHECK((*seen)[0].id == "aa");
  CHECK((*seen)[0].version == "1.1");
  CHECK((*seen)[0].started_at == 100);
  CHECK((*seen)[0].last_seen == 200);
  CHECK(b->nodes(201)->empty());
}

TEST_CASE("sqlite: the one serving process is always the CRL signer") {
  SqliteEngine engine;
  CHECK(*engine.store().hold_crl_signer("ab12", 0) == true);
  CHECK(*engine.open_again()->hold_crl_signer("ab12", 0) == true);
}

// PostgreSQL only: on SQLite one process serves the database and signs every CRL.
TEST_CASE("postgresql: one CRL signer per issuer and shard, released when its session ends") {
  PostgresEngine engine;
  auto a = engine.open_again();
  auto b = engine.open_again();
  auto holds = [](Store& s, const std::string& issuer, int shard) {
    auto held = s.hold_crl_signer(issuer, shard);
    REQUIRE_MESSAGE(held.has_value(), (held ? "" : held.error().detail));
    return *held;
  };
  // Waits for the server to end a closed session (it releases the locks then, asynchronously).
  auto eventually_holds = [&](Store& s, const std::string& issuer, int shard) {
    for (int i = 0; i < 100; ++i) {
      if (holds(s, issuer, shard)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  CHECK(holds(*a, "ab12", 0));
  CHECK_FALSE(holds(*b, "ab12", 0));
  CHECK(holds(*a, "ab12", 0));  // still held, and asking again does not stack it
  CHECK(holds(*b, "ab12", 1));  // another shard
  CHECK(holds(*b, "cd34", 0));  // another issuer
  CHECK_FALSE(holds(*a, "ab12", 1));

  // The holder's store closes: the other node takes the shard on its next try.
  a.reset();
  CHECK(eventually_holds(*b, "ab12", 0));

  // The holder's session is lost (a failover, a killed backend): another node takes over, and
  // the old holder, noticing on its next try, reconnects and finds the shard taken.
  auto c = engine.open_again();
  RawPg raw(engine.location());
  REQUIRE(raw.integer("SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_locks "
                      "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                      // This test's database only: other tests' sessions (a migration holds an
                      // advisory lock too) share the cluster.
                      "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) "
                      "AS killed") >= 1);
  CHECK(eventually_holds(*c, "ab12", 0));
  CHECK_FALSE(holds(*b, "ab12", 0));
  CHECK(holds(*b, "ef56", 2));  // its new session works
}

TEST_CASE("postgresql: sessions lost under the store (a failover) are unavailable, then replaced") {
  PostgresEngine engine;
  Store& store = engine.store();
  issue(store, pending("01"));
  RawPg raw(engine.location());
  REQUIRE(raw.integer("SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS killed") >= 1);
  // Each pooled session that was killed fails once, as unavailable (503, Retry-After upstream),
  // and is dropped; then a new session answers.
  int failures = 0;
  bool answered = false;
  for (int i = 0; i < 10 && !answered; ++i) {
    auto found = store.find("01");
    if (found) {
      answered = found->has_value();
    } else {
      ++failures;
      CHECK(found.error().code == Errc::unavailable);
    }
  }
  CHECK(answered);
  CHECK(failures >= 1);
  REQUIRE(store.revoke("01", 5, RevocationReason::superseded, "", audit("revoke", "01")));
  CHECK(*store.revocation_sequence() == 1);
}
