// The SQLite store's group commit: commits run with synchronous=NORMAL and durable changes wait
// for the store's own fdatasync of the WAL, which one sync shares among concurrent writers;
// reservations are deferred (no sync of their own) yet survive a process crash; a failed sync
// stops every later write rather than report durability it cannot promise.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "store/sqlite/sqlite_store_internal.hpp"
#include "tests/store/sqlite_fixture.hpp"

using namespace sigil::test::sqlite_fixture;

namespace {
std::int64_t syncs(Store& store) {
  auto n = sqlite::wal_syncs(store);
  REQUIRE(n.has_value());
  return *n;
}
}  // namespace

TEST_CASE("a reservation commits without a sync; completing it syncs the WAL once") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  const auto before = syncs(*store);
  REQUIRE(store->reserve(pending("01"), audit("reserve", "01")));
  CHECK(syncs(*store) == before);
  REQUIRE(store->complete("01", kDer, audit("issue", "01")));
  CHECK(syncs(*store) == before + 1);
  // A refused change writes nothing and waits for no sync.
  CHECK_FALSE(store->complete("01", kDer, audit("issue", "01")));
  CHECK(syncs(*store) == before + 1);
}

TEST_CASE("concurrent durable writers all return committed, sharing syncs") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  constexpr int kThreads = 16;
  constexpr int kEach = 20;
  const auto before = syncs(*store);
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        char serial[16];
        std::snprintf(serial, sizeof serial, "%02x%04x", t, i);
        if (!store->reserve(pending(serial), audit("reserve", serial)) ||
            !store->complete(serial, kDer, audit("issue", serial)))
          failed++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failed == 0);
  CHECK(count_of(*store) == kThreads * kEach);
  const auto used = syncs(*store) - before;
  CHECK(used >= 1);
  CHECK(used <= kThreads * kEach);  // never more than one per durable change
  MESSAGE("WAL syncs for ", kThreads * kEach, " issuances from ", kThreads, " threads: ", used);
}

TEST_CASE("deferred and durable changes survive a process that dies without closing the store") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  open_store(db).reset();  // migrated before the child writes
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto store = sqlite::open(db.string());
    if (!store) ::_exit(1);
    if (!(*store)->reserve(pending("01"), audit("reserve", "01"))) ::_exit(2);
    if (!(*store)->reserve(pending("02"), audit("reserve", "02"))) ::_exit(3);
    if (!(*store)->complete("02", kDer, audit("issue", "02"))) ::_exit(4);
    if (!(*store)->reserve(pending("03"), audit("reserve", "03"))) ::_exit(5);
    ::_exit(0);  // as SIGKILL: no destructor, no close, no checkpoint
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto store = open_store(db);
  for (const char* serial : {"01", "02", "03"}) {
    auto r = store->find(serial);
    REQUIRE(r.has_value());
    REQUIRE_MESSAGE(r->has_value(), serial);
    CHECK((*r)->status == (std::string(serial) == "02" ? CertStatus::valid : CertStatus::pending));
  }
}

TEST_CASE("a WAL that cannot be synced stops every later write; reads go on") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  issue(*store, pending("01"));
  // The file SQLite writes is gone from under the store: a sync can no longer reach it.
  REQUIRE(fs::remove(fs::path(db.string() + "-wal")));
  auto deferred = store->reserve(pending("02"), audit("reserve", "02"));
  CHECK(deferred.has_value());  // committed; it asks for no sync
  auto failed = store->complete("02", kDer, audit("issue", "02"));
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code == Errc::storage);
  CHECK(failed.error().detail.find("writes stopped until restart") != std::string::npos);
  auto later = store->reserve(pending("03"), audit("reserve", "03"));
  REQUIRE_FALSE(later.has_value());
  CHECK(later.error().code == Errc::storage);
  auto read = store->find("01");
  REQUIRE(read.has_value());
  CHECK(read->has_value());
}
