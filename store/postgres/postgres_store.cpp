#include "store/postgres/postgres_store.hpp"

#include "store/postgres/migrations.hpp"
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres {
namespace detail {
namespace {

constexpr auto kLatestVersion = static_cast<std::int64_t>(kMigrations.size());
// pg_advisory_xact_lock key of schema changes ("SIGL", as SQLite's application_id).
constexpr std::int64_t kMigrationLock = 0x5349474C;

// Brings the schema to kLatestVersion in one transaction, under a lock every opener takes, so
// nodes starting together migrate once. Refuses a database that is not sigil's (tables but no
// sigil_schema) or was written by a newer sigil.
Status migrate(Conn& c) {
  SIGIL_TRY_STATUS(c.exec("BEGIN", "begin migration"));
  Status st = [&]() -> Status {
    SIGIL_TRY(Rows locked, c.query("SELECT pg_advisory_xact_lock($1)", Params().add(kMigrationLock), "lock schema"));
    (void)locked;
    SIGIL_TRY(Rows has, c.query("SELECT to_regclass('sigil_schema') IS NOT NULL, "
                                "(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())",
                                Params(), "read schema"));
    std::int64_t version = 0;
    if (has.boolean(0, 0)) {
      SIGIL_TRY(Rows v, c.query("SELECT version FROM sigil_schema WHERE id = 1", Params(), "read schema version"));
      if (v.empty()) return make_error(Errc::storage, "postgresql: sigil_schema has no version row");
      version = v.int64(0, 0);
    } else if (has.int64(0, 1) > 0) {
      return make_error(Errc::storage, "postgresql: not a sigil database (it has tables but no sigil_schema)");
    } else {
      SIGIL_TRY_STATUS(
          c.exec("CREATE TABLE sigil_schema (id INTEGER PRIMARY KEY CHECK (id = 1), "
                 "version INTEGER NOT NULL); INSERT INTO sigil_schema VALUES (1, 0)",
                 "create sigil_schema"));
    }
    if (version > kLatestVersion) {
      return make_error(Errc::storage, "postgresql: database schema version " + std::to_string(version) +
                                           " is newer than this sigil supports (" + std::to_string(kLatestVersion) +
                                           "); upgrade sigil");
    }
    for (auto i = static_cast<std::size_t>(version); i < kMigrations.size(); ++i) {
      SIGIL_TRY_STATUS(c.exec(kMigrations[i], "migration " + std::to_string(i + 1) + " failed"));
    }
    if (version < kLatestVersion) {
      SIGIL_TRY(Rows done, c.query("UPDATE sigil_schema SET version = $1 WHERE id = 1", Params().add(kLatestVersion),
                                   "record schema version"));
      (void)done;
    }
    return {};
  }();
  if (st) return c.exec("COMMIT", "commit migration");
  if (!c.broken()) (void)c.exec("ROLLBACK", "roll back migration");
  return st;
}

}  // namespace
}  // namespace detail

using namespace detail;

bool is_url(std::string_view location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> open(const std::string& url, const Options& options) {
  if (!is_url(url)) return make_error(Errc::invalid_argument, "not a postgresql:// URL");
  if (options.pool_size < 1) return make_error(Errc::invalid_argument, "pool size must be at least 1");
  ConnectOptions o{url, options.password, static_cast<int>(options.connect_timeout.count())};
  auto store = std::make_unique<PgStore>(o, options.pool_size);
  {
    SIGIL_TRY(Lease c, store->pool().acquire());
    SIGIL_TRY_STATUS(migrate(*c));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace sigil::store::postgres
