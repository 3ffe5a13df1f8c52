#pragma once
// The PostgreSQL side of `sigil migrate` (store/transfer.hpp): an opened PostgreSQL store's
// database as a copy's target.
#include <memory>

#include "store/store.hpp"
#include "store/transfer.hpp"

namespace sigil::store::postgres {

// The database behind `store` (made by postgres::open, which created the schema) as the target
// of one copy, on one of the store's connections, held until the target is destroyed: it must
// not outlive the store. invalid_argument for any other store.
Result<std::unique_ptr<transfer::Target>> transfer_target(Store& store);

}  // namespace sigil::store::postgres
