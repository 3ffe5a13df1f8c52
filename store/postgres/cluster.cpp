// PLACEHOLDER: every method below is being written (issue 13); each returns internal until then.
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {
Error not_yet() { return make_error(Errc::internal, "postgresql: not implemented yet"); }
}  // namespace

Result<bool> PgStore::spend_nonce(const std::string&, std::int64_t, std::int64_t) { return not_yet(); }
Status PgStore::heartbeat(const NodeRecord&) { return not_yet(); }
Result<std::vector<NodeRecord>> PgStore::nodes(std::int64_t) { return not_yet(); }
Result<bool> PgStore::hold_crl_signer(const std::string&, int) { return not_yet(); }

}  // namespace sigil::store::postgres::detail
