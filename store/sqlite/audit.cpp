// The audit log as operators read it (page by page, filtered, counted) and the valid
// certificates' expiries per day: what the console and `sigil audit list` read.
#include "store/sqlite/sqlite_internal.hpp"
#include "store/store_internal.hpp"

namespace sigil::store::sqlite::detail {
namespace {
// Numbered, so one value may appear twice in a statement (expiry_sql).
std::string numbered(int index) { return "?" + std::to_string(index); }
}  // namespace

Status SqliteStore::run_ad_hoc(const internal::ListSql& sql, const char* what,
                               const std::function<void(const Query&)>& row) {
  SIGIL_TRY(sqlite3_stmt * stmt, list_statement(sql.sql));
  Query q(db_.get(), stmt, what);
  for (std::size_t i = 0; i < sql.values.size(); ++i)
    std::visit([&](const auto& v) { q.bind(static_cast<int>(i + 1), v); }, sql.values[i]);
  for (;;) {
    SIGIL_TRY(bool more, q.step());
    if (!more) return {};
    row(q);
  }
}

Result<AuditPage> SqliteStore::audit_page(const AuditFilter& filter) {
  SIGIL_TRY(internal::ListSql sql, internal::audit_sql(filter, kMaxLimit, false, {numbered, "serial"}));
  std::vector<AuditRecord> rows;
  std::lock_guard lock(mu_);
  SIGIL_TRY_STATUS(run_ad_hoc(sql, "read audit log", [&](const Query& q) {
    rows.push_back({q.int64(0), AuditEntry{q.int64(1), q.text(2), q.text(3), q.text(4), q.text(5), q.text(6)}});
  }));
  return internal::audit_page_of(std::move(rows), filter.limit);
}

Result<std::int64_t> SqliteStore::count_audit(const AuditFilter& filter) {
  SIGIL_TRY(internal::ListSql sql, internal::audit_sql(filter, kMaxLimit, true, {numbered, "serial"}));
  std::int64_t n = 0;
  std::lock_guard lock(mu_);
  SIGIL_TRY_STATUS(run_ad_hoc(sql, "count audit log", [&](const Query& q) { n = q.int64(0); }));
  return n;
}

Result<std::vector<std::int64_t>> SqliteStore::expiring_per_day(std::int64_t now, int days) {
  SIGIL_TRY_STATUS(internal::check_expiry_days(days));
  std::vector<std::int64_t> out(static_cast<std::size_t>(days), 0);
  const internal::ListSql sql = internal::expiry_sql(now, days, {numbered, "serial"});
  std::lock_guard lock(mu_);
  SIGIL_TRY_STATUS(run_ad_hoc(sql, "count expiries", [&](const Query& q) {
    const std::int64_t day = q.int64(0);
    if (day >= 0 && day < days) out[static_cast<std::size_t>(day)] = q.int64(1);
  }));
  return out;
}

}  // namespace sigil::store::sqlite::detail
