// PLACEHOLDER: every method below is being written (issue 13); each returns internal until then.
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {
Error not_yet() { return make_error(Errc::internal, "postgresql: not implemented yet"); }
}  // namespace

Status PgStore::for_each_revoked(const std::string&, int, std::int64_t,
                                 const std::function<Status(const RevokedSerial&)>&) {
  return not_yet();
}
Result<std::int64_t> PgStore::count_revoked(const std::string&, int, std::int64_t) { return not_yet(); }
Status PgStore::for_each_revoked_since(const std::string&, int, std::int64_t, std::int64_t,
                                       const std::function<Status(const RevokedSerial&)>&) {
  return not_yet();
}
Result<std::vector<int>> PgStore::crl_shards(const std::string&, std::int64_t) { return not_yet(); }
Result<std::vector<int>> PgStore::revoked_shards_since(const std::string&, std::int64_t) { return not_yet(); }
Status PgStore::for_each_certificate(const std::string&, std::int64_t,
                                     const std::function<Status(const RevokedSerial&, bool revoked)>&) {
  return not_yet();
}
Result<std::int64_t> PgStore::revocation_sequence() { return not_yet(); }
Result<std::vector<std::pair<std::string, std::int64_t>>> PgStore::revoked_since(std::int64_t, int) {
  return not_yet();
}
Result<std::int64_t> PgStore::next_crl_number(const std::string&, int) { return not_yet(); }
Status PgStore::save_crl(const CrlRecord&) { return not_yet(); }
Result<std::optional<CrlRecord>> PgStore::latest_crl(const std::string&, int, bool) { return not_yet(); }
Result<std::optional<std::int64_t>> PgStore::latest_crl_this_update(const std::string&, int, bool) { return not_yet(); }
Result<std::vector<CrlRecord>> PgStore::list_crls(const std::string&) { return not_yet(); }

}  // namespace sigil::store::postgres::detail
