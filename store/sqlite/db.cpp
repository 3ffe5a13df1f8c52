// The SQLite connection: opening, preparing and running statements, connection diagnostics.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

Error db_error(sqlite3* db, std::string_view what) {
  std::string detail = "sqlite: " + std::string(what);
  if (db != nullptr) {
    detail += ": ";
    detail += sqlite3_errmsg(db);
    detail += " (code " + std::to_string(sqlite3_extended_errcode(db)) + ")";
  }
  return make_error(Errc::storage, std::move(detail));
}

Result<DbPtr> open_connection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // owned even when the open failed
  if (rc != SQLITE_OK) return db_error(db.get(), "cannot open " + path);
  if (sqlite3_extended_result_codes(db.get(), 1) != SQLITE_OK ||
      sqlite3_busy_timeout(db.get(), kBusyTimeoutMs) != SQLITE_OK) {
    return db_error(db.get(), "cannot configure connection to " + path);
  }
  return db;
}

Result<StmtPtr> prepare(sqlite3* db, std::string_view sql, unsigned flags) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), flags, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK || !stmt) return db_error(db, "cannot prepare statement");
  return stmt;
}

Status exec(sqlite3* db, std::string_view sql, std::string_view what) {
  const std::string text(sql);
  if (sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return db_error(db, what);
  }
  return {};
}

Result<std::string> query_text(sqlite3* db, std::string_view sql) {
  SIGIL_TRY(StmtPtr stmt, prepare(db, sql));
  Query q(db, stmt.get(), sql);
  SIGIL_TRY(bool row, q.step());
  if (!row) return make_error(Errc::storage, "sqlite: no result from " + std::string(sql));
  return q.text(0);
}

Result<std::int64_t> query_int(sqlite3* db, std::string_view sql) {
  SIGIL_TRY(StmtPtr stmt, prepare(db, sql));
  Query q(db, stmt.get(), sql);
  SIGIL_TRY(bool row, q.step());
  if (!row) return make_error(Errc::storage, "sqlite: no result from " + std::string(sql));
  return q.int64(0);
}

Status SqliteStore::prepare_statements() {
  for (std::size_t i = 0; i < kSql.size(); ++i) {
    SIGIL_TRY(stmts_[i], prepare(db_.get(), kSql[i].sql, SQLITE_PREPARE_PERSISTENT));
  }
  return {};
}

Result<std::string> SqliteStore::integrity_check() {
  std::lock_guard lock(mu_);
  Query q = use(Sql::integrity_check);
  std::string out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) break;
    if (!out.empty()) out += '\n';
    out += q.text(0);
  }
  return out;
}

Result<ConnectionSettings> SqliteStore::settings() {
  std::lock_guard lock(mu_);
  ConnectionSettings s;
  SIGIL_TRY(s.journal_mode, query_text(db_.get(), "PRAGMA journal_mode"));
  SIGIL_TRY(const std::int64_t synchronous, query_int(db_.get(), "PRAGMA synchronous"));
  SIGIL_TRY(const std::int64_t foreign_keys, query_int(db_.get(), "PRAGMA foreign_keys"));
  SIGIL_TRY(const std::int64_t busy, query_int(db_.get(), "PRAGMA busy_timeout"));
  SIGIL_TRY(const std::int64_t version, query_int(db_.get(), "PRAGMA user_version"));
  s.synchronous = static_cast<int>(synchronous);
  s.foreign_keys = static_cast<int>(foreign_keys);
  s.busy_timeout_ms = static_cast<int>(busy);
  s.user_version = static_cast<int>(version);
  return s;
}

Result<sqlite3_stmt*> SqliteStore::list_statement(const std::string& sql) {
  auto it = list_stmts_.find(sql);
  if (it == list_stmts_.end()) {
    SIGIL_TRY(StmtPtr stmt, prepare(db_.get(), sql, SQLITE_PREPARE_PERSISTENT));
    it = list_stmts_.emplace(sql, std::move(stmt)).first;
  }
  return it->second.get();
}

}  // namespace sigil::store::sqlite::detail
