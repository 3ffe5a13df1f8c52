#pragma once
// The PostgreSQL store: several `sigil serve` nodes on one database (libpq).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace sigil::store::postgres {

// "postgresql://..." or "postgres://..." (a libpq connection URI).
bool is_url(std::string_view location);

struct Options {
  std::string password;  // from sigil.json's database_password_file; never in the URL
  int pool_size = 8;     // connections kept open
  std::chrono::seconds connect_timeout{5};
};

// Connects (libpq URI, multi-host with target_session_attrs=read-write included), applies the
// numbered migrations under an advisory lock (nodes starting together migrate once), and
// prepares the connection pool. A database written by a newer sigil is refused.
Result<std::unique_ptr<Store>> open(const std::string& url, const Options& options = {});

}  // namespace sigil::store::postgres
