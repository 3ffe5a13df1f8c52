// The audit log as operators read it (page by page, filtered, counted) and the valid
// certificates' expiries per day, on PostgreSQL: the same statements as on SQLite
// (store_internal), read at the pool's default isolation (one statement each).
#include <variant>

#include "store/postgres/postgres_internal.hpp"
#include "store/store_internal.hpp"

namespace sigil::store::postgres::detail {
namespace {
std::string dollar(int index) { return "$" + std::to_string(index); }

Result<Rows> run_ad_hoc(Pool& pool, const internal::ListSql& sql, const char* what) {
  Params params;
  for (const auto& v : sql.values) std::visit([&](const auto& x) { params.add(x); }, v);
  SIGIL_TRY(Lease c, pool.acquire());
  return c->query(sql.sql, params, what);
}
}  // namespace

Result<AuditPage> PgStore::audit_page(const AuditFilter& filter) {
  SIGIL_TRY(internal::ListSql sql, internal::audit_sql(filter, kMaxLimit, false, {dollar, "serial"}));
  SIGIL_TRY(Rows rows, run_ad_hoc(pool_, sql, "read audit log"));
  std::vector<AuditRecord> out;
  for (int i = 0; i < rows.size(); ++i)
    out.push_back({rows.int64(i, 0), AuditEntry{rows.int64(i, 1), rows.text(i, 2), rows.text(i, 3), rows.text(i, 4),
                                                rows.text(i, 5), rows.text(i, 6)}});
  return internal::audit_page_of(std::move(out), filter.limit);
}

Result<std::int64_t> PgStore::count_audit(const AuditFilter& filter) {
  SIGIL_TRY(internal::ListSql sql, internal::audit_sql(filter, kMaxLimit, true, {dollar, "serial"}));
  SIGIL_TRY(Rows rows, run_ad_hoc(pool_, sql, "count audit log"));
  return rows.int64(0, 0);
}

Result<std::vector<std::int64_t>> PgStore::expiring_per_day(std::int64_t now, int days) {
  SIGIL_TRY_STATUS(internal::check_expiry_days(days));
  SIGIL_TRY(Rows rows, run_ad_hoc(pool_, internal::expiry_sql(now, days, {dollar, "serial"}), "count expiries"));
  std::vector<std::int64_t> out(static_cast<std::size_t>(days), 0);
  for (int i = 0; i < rows.size(); ++i) {
    const std::int64_t day = rows.int64(i, 0);
    if (day >= 0 && day < days) out[static_cast<std::size_t>(day)] = rows.int64(i, 1);
  }
  return out;
}

}  // namespace sigil::store::postgres::detail
