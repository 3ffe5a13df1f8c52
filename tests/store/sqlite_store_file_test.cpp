// The SQLite store's database file: persistence, migrations, connection settings, backup, the
// schema-3 migration to CRL shards (engine-neutral cases are in store_test.cpp and store_crl_test.cpp). Where the store
// must refuse something of the file itself (a newer schema), the test opens the file with the SQLite C API directly.
#include <doctest/doctest.h>

#include "tests/store/sqlite_fixture.hpp"

using namespace sigil::test::sqlite_fixture;

namespace {
// Issues certificates (DER `der`) through `store` on a thread of its own, as another process
// would, until stop() (at most 5000); stop() returns how many it completed.
class BackgroundWriter {
 public:
  BackgroundWriter(Store& store, Bytes der)
      : thread_([this, &store, der = std::move(der)] {
          for (int i = 0; !stop_.load() && i < 5000; ++i) {
            const std::string serial = "w" + std::to_string(i);
            if (!store.reserve(pending(serial), audit("reserve", serial))) break;
            if (!store.complete(serial, der, audit("issue", serial))) break;
            written_.fetch_add(1);
          }
        }) {}
  ~BackgroundWriter() {
    if (thread_.joinable()) stop();
  }
  int stop() {
    stop_ = true;
    thread_.join();
    return written_.load();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> written_{0};
  std::thread thread_;  // last: it starts once the counters exist
};
}  // namespace

TEST_CASE("data persists across reopen and migrations run once") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  std::string schema_before;
  {
    auto store = open_store(db);
    issue(*store, pending("01"));
    REQUIRE(store->revoke("01", 7, RevocationReason::cessation_of_operation, "", audit("revoke", "01")));
    RawDb raw(db);
    schema_before = raw.text(
        "SELECT group_concat(name, ',') FROM "
        "(SELECT name FROM sqlite_master ORDER BY name)");
  }
  for (int reopen = 0; reopen < 3; ++reopen) {
    auto store = open_store(db);
    auto found = store->find("01");
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->status == CertStatus::revoked);
    CHECK((*found)->revocation_reason == RevocationReason::cessation_of_operation);
    CHECK(count_of(*store) == 1);
    CHECK(audit_rows(*store).size() == 3);
    auto settings = sqlite::connection_settings(*store);
    REQUIRE(settings.has_value());
    CHECK(settings->user_version == static_cast<int>(sqlite::kMigrations.size()));
  }
  RawDb raw(db);
  CHECK(raw.text("SELECT group_concat(name, ',') FROM "
                 "(SELECT name FROM sqlite_master ORDER BY name)") == schema_before);
  CHECK(schema_before.find("certificates_serial") != std::string::npos);
  CHECK(schema_before.find("audit_log_no_delete") != std::string::npos);
  CHECK(raw.integer("PRAGMA user_version") == static_cast<std::int64_t>(sqlite::kMigrations.size()));
  CHECK(raw.integer("PRAGMA application_id") == sqlite::kApplicationId);
}

TEST_CASE("a database from a newer sigil, or not from sigil, is refused untouched") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  { auto store = open_store(db); }
  const auto newer = static_cast<std::int64_t>(sqlite::kMigrations.size()) + 1;
  {
    RawDb raw(db);
    REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(newer)) == SQLITE_OK);
  }
  auto refused = sqlite::open(db.string());
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::storage);
  CHECK(refused.error().detail.find("newer") != std::string::npos);
  {
    RawDb raw(db);
    CHECK(raw.integer("PRAGMA user_version") == newer);
  }

  const fs::path foreign = dir / "foreign.db";
  {
    sqlite3* handle = nullptr;
    REQUIRE(sqlite3_open(foreign.c_str(), &handle) == SQLITE_OK);
    CHECK(sqlite3_exec(handle, "CREATE TABLE t (x); PRAGMA application_id = 42; PRAGMA user_version = 1", nullptr,
                       nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(handle);
  }
  auto not_ours = sqlite::open(foreign.string());
  REQUIRE_FALSE(not_ours.has_value());
  CHECK(not_ours.error().code == Errc::storage);

  auto nowhere = sqlite::open((dir / "missing-dir" / "sigil.db").string());
  REQUIRE_FALSE(nowhere.has_value());
  CHECK(nowhere.error().code == Errc::io);
}

TEST_CASE("connection settings: WAL, synchronous NORMAL, foreign keys, busy timeout, 0600") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  auto settings = sqlite::connection_settings(*store);
  REQUIRE(settings.has_value());
  CHECK(settings->journal_mode == "wal");
  CHECK(settings->synchronous == 1);  // durability: group_write syncs the WAL (sqlite_group_commit_test.cpp)
  CHECK(settings->foreign_keys == 1);
  CHECK(settings->busy_timeout_ms == 5000);

  RawDb raw(db);  // WAL is a property of the file, so a second connection sees it too
  CHECK(raw.text("PRAGMA journal_mode") == "wal");

  struct stat st {};
  REQUIRE(::stat(db.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("foreign keys are enforced on the store's tables") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  RawDb raw(db);
  REQUIRE(raw.exec("PRAGMA foreign_keys = ON") == SQLITE_OK);
  CHECK(raw.exec("INSERT INTO certificate_sans (serial, position, name) "
                 "VALUES ('nope', 0, 'dns:x')") == SQLITE_CONSTRAINT);
}

TEST_CASE("backup writes a complete, consistent copy atomically") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  for (int i = 0; i < 50; ++i) issue(*store, pending("s" + std::to_string(i)));
  REQUIRE(store->revoke("s7", 9, RevocationReason::superseded, "", audit("revoke", "s7")));

  const fs::path copy = dir / "backup.db";
  REQUIRE(store->backup(copy.string()));
  // Replacing an older backup works the same way.
  issue(*store, pending("s50"));
  auto again = store->backup(copy.string());
  REQUIRE_MESSAGE(again.has_value(), (again ? "" : again.error().detail));

  // No temporary file is left beside the backup.
  for (const auto& name : files_in(dir.path())) {
    CAPTURE(name);
    CHECK(name.find(".tmp.") == std::string::npos);
  }
  struct stat st {};
  REQUIRE(::stat(copy.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto restored = open_store(copy);
  CHECK(count_of(*restored) == 51);
  CHECK(count_of(*restored) == count_of(*store));
  auto ok = restored->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");
  auto found = restored->find("s7");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->status == CertStatus::revoked);
  CHECK(audit_rows(*restored).size() == audit_rows(*store).size());

  auto nowhere = store->backup((dir / "missing-dir" / "backup.db").string());
  REQUIRE_FALSE(nowhere.has_value());
  CHECK(nowhere.error().code == Errc::io);
}

TEST_CASE("backup is consistent while another connection writes") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  auto writer_store = open_store(db);  // a second connection, as another process would have
  for (int i = 0; i < 100; ++i) issue(*store, pending("base" + std::to_string(i)));

  BackgroundWriter writer(*writer_store, kDer);
  std::vector<std::int64_t> counts;
  for (int b = 0; b < 5; ++b) {
    const fs::path copy = dir / ("backup" + std::to_string(b) + ".db");
    auto st = store->backup(copy.string());
    REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.error().detail));
    auto restored = open_store(copy);
    auto ok = restored->integrity_check();
    REQUIRE(ok.has_value());
    CHECK(*ok == "ok");
    // Each backup is one snapshot: every certificate in it is complete, with its audit rows.
    const std::int64_t n = count_of(*restored);
    counts.push_back(n);
    CHECK(n >= 100);
    CHECK(static_cast<std::int64_t>(audit_rows(*restored).size()) <= 2 * n);
  }
  const int written = writer.stop();
  CHECK(written > 0);
  CHECK(std::is_sorted(counts.begin(), counts.end()));
  CHECK(count_of(*store) == 100 + written);
}

TEST_CASE("a schema-3 database migrates to CRL shards: certificates in shard 0, CRL numbers continue") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  REQUIRE(sqlite::kMigrations.size() >= 4);
  {
    // What sigil wrote before CRL shards: migrations 1-3, certificates (one revoked), CRL number
    // 41 and the CRL it numbered.
    std::FILE* f = std::fopen(db.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
    RawDb raw(db);
    REQUIRE(raw.exec("PRAGMA journal_mode = WAL") == SQLITE_OK);
    for (std::size_t i = 0; i < 3; ++i) {
      REQUIRE(raw.exec("BEGIN") == SQLITE_OK);
      REQUIRE(raw.exec(std::string(sqlite::kMigrations[i])) == SQLITE_OK);
      REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(i + 1)) == SQLITE_OK);
      REQUIRE(raw.exec("PRAGMA application_id = " + std::to_string(sqlite::kApplicationId)) == SQLITE_OK);
      REQUIRE(raw.exec("COMMIT") == SQLITE_OK);
    }
    REQUIRE(
        raw.exec("INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
                 "not_before, not_after, created_at, status) "
                 "VALUES ('0a', 'ab12', x'3003020101', x'30820100', 'CN=a', 'server', 'cli', 1, 2000, 1, 'valid')") ==
        SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
                     "not_before, not_after, created_at, status, revoked_at, revocation_reason, revocation_seq) "
                     "VALUES ('0b', 'ab12', x'3003020101', x'30820100', 'CN=b', 'server', 'cli', 1, 3000, 1, "
                     "'revoked', 5, 1, 1)") == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO crl_numbers (issuer_id, last_number) VALUES ('ab12', 41)") == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO crl_state (issuer_id, number, this_update, next_update, der) "
                     "VALUES ('ab12', 41, 100, 200, x'3005')") == SQLITE_OK);
    REQUIRE(raw.integer("PRAGMA user_version") == 3);
  }
  auto store = open_store(db);
  auto settings = sqlite::connection_settings(*store);
  REQUIRE(settings.has_value());
  CHECK(settings->user_version == static_cast<int>(sqlite::kMigrations.size()));
  auto old = store->find("0a");
  REQUIRE(old.has_value());
  REQUIRE(old->has_value());
  CHECK((*old)->crl_shard == 0);
  CHECK(shards_of(*store, 0) == std::vector<int>{0});
  CHECK(shards_of(*store, 3'001).empty());  // the latest not_after of shard 0 was 3000
  CHECK(revoked_in(*store, 0, 0) == std::vector<std::string>{"0b"});
  CHECK(*store->count_revoked("ab12", 0, 0) == 1);
  // The issuer's CRL numbers go on in shard 0: never reused.
  CHECK(next_number(*store, "ab12", 0) == 42);
  CHECK(next_number(*store, "ab12", 1) == 1);
  auto kept = store->latest_crl("ab12", 0, false);
  REQUIRE(kept.has_value());
  REQUIRE(kept->has_value());
  CHECK((*kept)->number == 41);
  CHECK((*kept)->der == Bytes{0x30, 0x05});
  auto ok = store->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");
  RawDb raw(db);
  CHECK(raw.text("SELECT name FROM sqlite_master WHERE name = 'crl_numbers_v3'").empty());
  CHECK(raw.text("SELECT name FROM sqlite_master WHERE name = 'crl_state_v3'").empty());
}

TEST_CASE("backup of a store larger than one step: one snapshot while a writer goes on, progress to the end") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  auto writer_store = open_store(db);
  const Bytes big(4096, 0x5a);  // 1 page each: the copy takes several steps of 1024 pages
  for (int i = 0; i < 3000; ++i) {
    const std::string serial = "big" + std::to_string(i);
    REQUIRE(store->reserve(pending(serial), audit("reserve", serial)));
    REQUIRE(store->complete(serial, big, audit("issue", serial)));
  }
  BackgroundWriter writer(*writer_store, big);
  std::vector<std::pair<std::int64_t, std::int64_t>> steps;
  const fs::path copy = dir / "backup.db";
  auto st =
      store->backup(copy.string(), [&](std::int64_t done, std::int64_t total) { steps.emplace_back(done, total); });
  const int written = writer.stop();
  REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.error().detail));
  REQUIRE(steps.size() >= 3);
  CHECK(steps.back().first == steps.back().second);
  for (std::size_t i = 1; i < steps.size(); ++i) CHECK(steps[i].first >= steps[i - 1].first);
  auto restored = open_store(copy);
  auto ok = restored->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");
  const std::int64_t n = count_of(*restored);
  CHECK(n >= 3000);
  CHECK(static_cast<std::int64_t>(audit_rows(*restored).size()) <= 2 * n);
  CHECK(written > 0);
}
