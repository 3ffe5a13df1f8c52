#pragma once
#include <memory>
#include <string>

#include "store/store.hpp"

namespace sigil::store::sqlite {

// Opens (creating if needed) the database at `path`: WAL, synchronous=FULL, foreign keys,
// busy timeout, migrations applied in order inside transactions.
Result<std::unique_ptr<Store>> open(const std::string& path);

}  // namespace sigil::store::sqlite
