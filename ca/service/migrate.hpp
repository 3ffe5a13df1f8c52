#pragma once
// `sigil migrate --to postgresql://...`: an embedded CA's SQLite database copied into an empty
// PostgreSQL database (store/transfer.hpp: one snapshot, one transaction, verified before COMMIT),
// then the home pointed at it; the SQLite file is kept, renamed.
#include <string>

#include "ca/base/clock.hpp"
#include "ca/service/home.hpp"
#include "store/transfer.hpp"

namespace sigil::service {

// A node whose heartbeat is this recent is serving the home: its writes would miss the copy.
inline constexpr Seconds kServingHeartbeat{10};

struct MigrateRequest {
  fs::path home;
  std::string url;            // postgresql://..., never with a password
  std::string password_file;  // written as database_password_file (absolute, or relative to the home)
  std::string actor;          // for the audit log
};

struct Migrated {
  std::string url;
  store::transfer::Report report;
  fs::path kept;  // the SQLite file's new name
};

// Refuses, changing nothing, when the home's database already is PostgreSQL, when a `sigil serve`
// heartbeat in it is under kServingHeartbeat old, and when the target holds any row (conflict).
// Once the copy is committed, sigil.json names the URL (rewritten atomically, its other keys as
// they were) and the SQLite file (its WAL checkpointed into it) becomes
// "<file>.migrated-<UTC time>". If the copy fails, nothing is renamed or rewritten.
Result<Migrated> migrate_database(const MigrateRequest& req, const Clock& clock,
                                  const store::transfer::Progress& progress = {});

}  // namespace sigil::service
