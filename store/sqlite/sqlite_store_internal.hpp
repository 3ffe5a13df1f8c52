#pragma once
// For tests and diagnostics only: what the SQLite connection behind a Store actually runs with.
// Per-connection settings (synchronous, foreign_keys, busy_timeout) are invisible to a second
// connection, so they are read through the store's own.
#include <string>

#include "store/sqlite/sqlite_store.hpp"

namespace sigil::store::sqlite {

struct ConnectionSettings {
  std::string journal_mode;  // "wal"
  int synchronous = -1;      // 1 = NORMAL: durability comes from group_write's own WAL sync
  int foreign_keys = -1;     // 1 = on
  int busy_timeout_ms = -1;
  int user_version = -1;  // schema version
};

// invalid_argument if `store` was not made by sqlite::open().
Result<ConnectionSettings> connection_settings(Store& store);

// Write transactions this store committed with at least one change since it was opened (a group
// commit counts once). invalid_argument as above.
Result<std::int64_t> write_commits(Store& store);

// fdatasyncs of the WAL this store ran to make durable changes durable (one covers every commit
// before it). invalid_argument as above.
Result<std::int64_t> wal_syncs(Store& store);

}  // namespace sigil::store::sqlite
