#include "store/sqlite/sqlite_store.hpp"

#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite {
namespace detail {
namespace {

// ---- opening: settings and migrations ------------------------------------------------------

Status configure(sqlite3* db) {
  SIGIL_TRY_STATUS(exec(db, "PRAGMA foreign_keys = ON", "cannot enable foreign keys"));
  SIGIL_TRY(const std::int64_t foreign_keys, query_int(db, "PRAGMA foreign_keys"));
  if (foreign_keys != 1) return make_error(Errc::storage, "sqlite: foreign keys unsupported");
  SIGIL_TRY(const std::string mode, query_text(db, "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return make_error(Errc::storage, "sqlite: cannot enable WAL (journal_mode is " + mode + ")");
  }
  // NORMAL: COMMIT writes the WAL without an fsync; group_write syncs it for durable changes.
  return exec(db, "PRAGMA synchronous = NORMAL", "cannot set synchronous=NORMAL");
}

constexpr auto kLatestVersion = static_cast<std::int64_t>(kMigrations.size());

// Refuses databases this code must not touch: written by a newer sigil, or not sigil's at all.
Result<std::int64_t> schema_version(sqlite3* db) {
  SIGIL_TRY(const std::int64_t version, query_int(db, "PRAGMA user_version"));
  SIGIL_TRY(const std::int64_t app_id, query_int(db, "PRAGMA application_id"));
  if (app_id != kApplicationId && (app_id != 0 || version != 0)) {
    return make_error(Errc::storage, "sqlite: not a sigil database (application_id " + std::to_string(app_id) + ")");
  }
  if (version > kLatestVersion) {
    return make_error(Errc::storage, "sqlite: database schema version " + std::to_string(version) +
                                         " is newer than this sigil supports (" + std::to_string(kLatestVersion) +
                                         "); upgrade sigil");
  }
  return version;
}

// Moves the schema from version `index` to `index + 1` unless another opener already did.
Status apply_migration(sqlite3* db, std::size_t index) {
  const auto target = static_cast<std::int64_t>(index) + 1;
  SIGIL_TRY(const std::int64_t version, schema_version(db));
  if (version >= target) return {};
  const std::string what = "migration " + std::to_string(target) + " failed";
  SIGIL_TRY_STATUS(exec(db, kMigrations[index], what));
  SIGIL_TRY_STATUS(exec(db, "PRAGMA user_version = " + std::to_string(target), what));
  return exec(db, "PRAGMA application_id = " + std::to_string(kApplicationId), what);
}

Status migrate(sqlite3* db) {
  SIGIL_TRY(const std::int64_t version, schema_version(db));
  if (version == kLatestVersion) return {};
  for (std::size_t i = static_cast<std::size_t>(version); i < kMigrations.size(); ++i) {
    // BEGIN IMMEDIATE: two processes opening a fresh database apply each migration once.
    SIGIL_TRY_STATUS(exec(db, "BEGIN IMMEDIATE", "cannot begin migration"));
    Status st = apply_migration(db, i);
    if (st) st = exec(db, "COMMIT", "cannot commit migration");
    if (!st) {
      if (sqlite3_get_autocommit(db) == 0) {
        Status rolled_back = exec(db, "ROLLBACK", "cannot roll back migration");
        if (!rolled_back) {
          return make_error(Errc::storage, st.error().detail + "; then " + rolled_back.error().detail);
        }
      }
      return st;
    }
  }
  return {};
}

}  // namespace
}  // namespace detail

using namespace detail;

Result<std::unique_ptr<Store>> open(const std::string& path) {
  if (path.empty()) return make_error(Errc::invalid_argument, "database path is empty");
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (ec) return make_error(Errc::io, "cannot resolve " + path + ": " + ec.message());
  SIGIL_TRY_STATUS(create_private_file(absolute, /*must_be_new=*/false));
  SIGIL_TRY(DbPtr db, open_connection(absolute.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  SIGIL_TRY_STATUS(configure(db.get()));
  SIGIL_TRY_STATUS(migrate(db.get()));
  auto store = std::make_unique<SqliteStore>(std::move(db), absolute.string());
  SIGIL_TRY_STATUS(store->prepare_statements());
  // Migrations just committed without an fsync (synchronous=NORMAL).
  SIGIL_TRY_STATUS(store->sync_wal(/*missing_ok=*/true));
  return std::unique_ptr<Store>(std::move(store));
}

Result<ConnectionSettings> connection_settings(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) {
    return make_error(Errc::invalid_argument, "not a SQLite store");
  }
  return sqlite_store->settings();
}

Result<std::int64_t> write_commits(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) {
    return make_error(Errc::invalid_argument, "not a SQLite store");
  }
  return sqlite_store->write_commits();
}

Result<std::int64_t> wal_syncs(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) {
    return make_error(Errc::invalid_argument, "not a SQLite store");
  }
  return sqlite_store->wal_syncs();
}

}  // namespace sigil::store::sqlite
