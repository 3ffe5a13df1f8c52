// PLACEHOLDER: every method below is being written (issue 13); each returns internal until then.
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {
Error not_yet() { return make_error(Errc::internal, "postgresql: not implemented yet"); }
}  // namespace

Status insert_audit(Conn&, const AuditEntry&) { return not_yet(); }

Status PgStore::reserve(const PendingCertificate&, const AuditEntry&) { return not_yet(); }
Status PgStore::complete(const std::string&, const Bytes&, const AuditEntry&) { return not_yet(); }
Result<std::optional<CertificateRecord>> PgStore::find(const std::string&) { return not_yet(); }
Result<Page> PgStore::list(const ListFilter&) { return not_yet(); }
Status PgStore::revoke(const std::string&, std::int64_t, RevocationReason, const std::string&, const AuditEntry&) {
  return not_yet();
}
Result<std::optional<BlockedKey>> PgStore::blocked_key(const std::string&) { return not_yet(); }
Result<std::int64_t> PgStore::flag_for_renewal(const std::optional<std::string>&, std::optional<std::int64_t>,
                                               std::int64_t, const AuditEntry&) {
  return not_yet();
}
Result<std::optional<std::int64_t>> PgStore::renewal_flagged_at(const std::string&) { return not_yet(); }
Status PgStore::append(const AuditEntry&) { return not_yet(); }
Result<std::vector<AuditEntry>> PgStore::recent(int) { return not_yet(); }
Status PgStore::backup(const std::string&) { return not_yet(); }
Result<std::string> PgStore::integrity_check() { return not_yet(); }
Result<std::int64_t> PgStore::count() { return not_yet(); }

}  // namespace sigil::store::postgres::detail
