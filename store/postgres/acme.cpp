// PLACEHOLDER: every method below is being written (issue 13); each returns internal until then.
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {
Error not_yet() { return make_error(Errc::internal, "postgresql: not implemented yet"); }
}  // namespace

Status PgStore::create_account(const AcmeAccount&, const AuditEntry&) { return not_yet(); }
Result<std::optional<AcmeAccount>> PgStore::account(const std::string&) { return not_yet(); }
Result<std::optional<AcmeAccount>> PgStore::account_by_thumbprint(const std::string&) { return not_yet(); }
Status PgStore::update_account(const AcmeAccount&, const AcmeAccount&, const AuditEntry&) { return not_yet(); }
Result<std::vector<AcmeAccount>> PgStore::list_accounts() { return not_yet(); }
Status PgStore::create_order(const AcmeOrder&, const std::vector<AcmeAuthorization>&, const AuditEntry&,
                             const std::optional<RateHit>&) {
  return not_yet();
}
Result<std::optional<AcmeOrder>> PgStore::order(const std::string&) { return not_yet(); }
Status PgStore::update_order(const AcmeOrder&, OrderStatus) { return not_yet(); }
Result<std::optional<AcmeOrder>> PgStore::order_replacing(const std::string&) { return not_yet(); }
Result<std::vector<AcmeOrder>> PgStore::orders_of_account(const std::string&, std::int64_t,
                                                          const std::optional<AcmeOrderCursor>&, int) {
  return not_yet();
}
Result<std::optional<AcmeAuthorization>> PgStore::authorization(const std::string&) { return not_yet(); }
Status PgStore::update_authorization(const AcmeAuthorization&, AuthorizationStatus, const AuditEntry*,
                                     const std::optional<RateHit>&) {
  return not_yet();
}
Result<std::optional<AcmeAuthorization>> PgStore::reusable_authorization(const std::string&, const AcmeIdentifier&,
                                                                         bool, std::int64_t) {
  return not_yet();
}
Result<std::vector<AcmeAuthorization>> PgStore::authorizations_of_order(const std::string&) { return not_yet(); }
Status PgStore::create_eab_key(const EabKey&, const AuditEntry&) { return not_yet(); }
Result<std::optional<EabKey>> PgStore::eab_key(const std::string&) { return not_yet(); }
Result<std::vector<EabKey>> PgStore::list_eab_keys() { return not_yet(); }
Status PgStore::revoke_eab_key(const std::string&, std::int64_t, const AuditEntry&) { return not_yet(); }
Result<bool> PgStore::rate_take(const std::string&, std::int64_t, std::int64_t) { return not_yet(); }
Result<std::int64_t> PgStore::rate_count(const std::string&, std::int64_t) { return not_yet(); }

}  // namespace sigil::store::postgres::detail
