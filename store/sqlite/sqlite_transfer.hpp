#pragma once
// The SQLite side of `sigil migrate` (store/transfer.hpp): a database file as a copy's source,
// and the file set aside once its rows live elsewhere.
#include <memory>
#include <string>

#include "store/transfer.hpp"

namespace sigil::store::sqlite {

// The sigil database at `path`, read-only through a connection of its own. Refused unless its
// schema is this sigil's (open it once with sqlite::open to migrate an older one) and every
// table in it is one transfer::tables() or transfer::kNotCopied names.
Result<std::unique_ptr<transfer::Source>> transfer_source(const std::string& path);

// Renames the database at `path` to `to`, with its write-ahead log checkpointed into it first
// so the one file holds every committed row; a -wal or -shm still beside it follows as
// `to`-wal / `to`-shm. Every Store on it must be closed.
Status retire(const std::string& path, const std::string& to);

}  // namespace sigil::store::sqlite
