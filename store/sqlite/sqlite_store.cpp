#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store_internal.hpp"

namespace sigil::store::sqlite {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;
constexpr int kMaxLimit = 1000;
constexpr std::size_t kMaxPageTokenSize = 1024;
constexpr int kBackupRetries = 500;  // x 10 ms, on top of the busy timeout
constexpr std::string_view kPageTokenVersion = "1";

// ---- RAII for the C API --------------------------------------------------------------------

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

Error db_error(sqlite3* db, std::string_view what) {
  std::string detail = "sqlite: " + std::string(what);
  if (db != nullptr) {
    detail += ": ";
    detail += sqlite3_errmsg(db);
    detail += " (code " + std::to_string(sqlite3_extended_errcode(db)) + ")";
  }
  return make_error(Errc::storage, std::move(detail));
}

Error errno_error(std::string_view what, const fs::path& p) {
  return make_error(Errc::io, std::string(what) + " " + p.string() + ": " + std::strerror(errno));
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

Result<StmtPtr> prepare(sqlite3* db, std::string_view sql, unsigned flags = 0) {
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

// ---- one use of a prepared statement --------------------------------------------------------

// Binds, steps and reads one prepared statement, and always resets it on the way out, so no
// read transaction is left open and the cached statement is ready for the next use. A failed
// bind is reported by the next step().
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) : db_(db), stmt_(stmt), what_(what) {}
  ~Query() {
    sqlite3_reset(stmt_);  // repeats the last step's error, already reported
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Query& bind(int i, std::string_view v) {
    // A null pointer would bind SQL NULL; an empty string must stay a string.
    const char* p = v.data() != nullptr ? v.data() : "";
    return check(sqlite3_bind_text64(stmt_, i, p, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Query& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Query& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Query& bind(int i, const Bytes& v) {
    if (v.empty()) return check(sqlite3_bind_zeroblob(stmt_, i, 0));
    return check(sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  Query& bind_null(int i) { return check(sqlite3_bind_null(stmt_, i)); }
  Query& bind(int i, const std::optional<std::int64_t>& v) { return v ? bind(i, *v) : bind_null(i); }
  // For optional references stored as NULL when empty (a foreign key or a partial index needs NULL).
  Query& bind_or_null(int i, const std::string& v) { return v.empty() ? bind_null(i) : bind(i, v); }
  Query& bind(int i, bool v) { return bind(i, std::int64_t{v ? 1 : 0}); }

  // true: a row is available; false: done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return db_error(db_, "cannot bind " + std::string(what_));
    last_rc_ = sqlite3_step(stmt_);
    if (last_rc_ == SQLITE_ROW) return true;
    if (last_rc_ == SQLITE_DONE) return false;
    return db_error(db_, what_);
  }
  // For statements that return no rows.
  Status run() {
    SIGIL_TRY(bool row, step());
    (void)row;
    return {};
  }
  int last_rc() const { return last_rc_; }

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<std::int64_t> optional_int64(int col) const {
    if (is_null(col)) return std::nullopt;
    return int64(col);
  }
  std::string text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);  // before _bytes, per the docs
    const int n = sqlite3_column_bytes(stmt_, col);
    if (p == nullptr || n <= 0) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  Bytes blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    if (p == nullptr || n <= 0) return {};
    const auto* b = static_cast<const std::uint8_t*>(p);
    return Bytes(b, b + n);
  }

 private:
  Query& check(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string_view what_;
  int bind_rc_ = SQLITE_OK;
  int last_rc_ = SQLITE_OK;
};

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

// ---- the cached statements -----------------------------------------------------------------

#define SIGIL_CERT_COLUMNS                                                                \
  "serial, issuer_id, tbs_der, der, subject, profile, requester, not_before, not_after, " \
  "created_at, status, revoked_at, revocation_reason, crl_shard"

#define SIGIL_ACCOUNT_COLUMNS "id, thumbprint, jwk, status, terms_agreed, eab_kid, created_at"
#define SIGIL_ORDER_COLUMNS                                                                                \
  "id, account_id, status, expires, not_before, not_after, profile, replaces, certificate_serial, error, " \
  "created_at"
#define SIGIL_AUTHZ_COLUMNS                                                                       \
  "a.id, a.account_id, a.order_id, a.identifier_type, a.identifier_value, a.wildcard, a.status, " \
  "a.expires, a.token"
#define SIGIL_EAB_COLUMNS "kid, hmac_key, description, created_at, revoked_at, account_id"

enum class Sql : std::size_t {
  begin,
  begin_read,
  commit,
  rollback,
  savepoint,
  release,
  rollback_to,
  insert_certificate,
  insert_san,
  insert_audit,
  mark_valid,
  mark_revoked,
  block_key,
  blocked_key,
  status_of,
  find,
  sans_of,
  recent_audit,
  count,
  integrity_check,
  revocation_sequence,
  revoked_since,
  count_revoked,
  revoked_shards_since,
  crl_shards,
  note_crl_shard,
  next_crl_number,
  save_crl,
  latest_crl,
  latest_crl_this_update,
  list_crls,
  insert_account,
  account_by_id,
  account_by_thumbprint,
  update_account,
  list_accounts,
  insert_contact,
  delete_contacts,
  contacts_of,
  insert_order,
  order_by_id,
  update_order,
  order_status,
  order_replacing,
  orders_of_account,
  orders_of_account_after,
  insert_order_identifier,
  order_identifiers,
  insert_order_authorization,
  order_authorization_ids,
  insert_authorization,
  authorization_by_id,
  update_authorization,
  authorization_status,
  authorizations_of_order,
  reusable_authorization,
  insert_challenge,
  delete_challenges,
  challenges_of,
  insert_eab_key,
  eab_key_by_kid,
  list_eab_keys,
  insert_eab_allowed,
  eab_allowed_of,
  bind_eab_key,
  eab_state,
  revoke_eab_key,
  rate_prune,
  rate_take,
  rate_count,
  flag_serial,
  flag_issued_before,
  flagged_at,
  size_,
};

struct SqlText {
  Sql id;
  std::string_view what;  // for error details
  std::string_view sql;
};

constexpr std::array<SqlText, static_cast<std::size_t>(Sql::size_)> kSql{{
    {Sql::begin, "begin transaction", "BEGIN IMMEDIATE"},
    {Sql::begin_read, "begin read transaction", "BEGIN"},
    {Sql::commit, "commit", "COMMIT"},
    {Sql::rollback, "rollback", "ROLLBACK"},
    {Sql::savepoint, "savepoint", "SAVEPOINT op"},
    {Sql::release, "release savepoint", "RELEASE op"},
    {Sql::rollback_to, "roll back to savepoint", "ROLLBACK TO op"},
    {Sql::insert_certificate, "insert certificate",
     "INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
     "not_before, not_after, created_at, status, crl_shard) "
     "VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10)"},
    {Sql::insert_san, "insert subject alternative name",
     "INSERT INTO certificate_sans (serial, position, name) VALUES (?1, ?2, ?3)"},
    {Sql::insert_audit, "append audit entry",
     "INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    {Sql::mark_valid, "complete certificate",
     "UPDATE certificates SET der = ?1, status = 'valid' WHERE serial = ?2 AND status = 'pending'"},
    {Sql::mark_revoked, "revoke certificate",
     "UPDATE certificates SET status = 'revoked', revoked_at = ?1, revocation_reason = ?2, "
     "revocation_seq = (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates "
     "WHERE revocation_seq IS NOT NULL) "
     "WHERE serial = ?3 AND status = 'valid'"},
    {Sql::block_key, "block key",
     "INSERT INTO blocked_keys (key_sha256, reason, blocked_at, serial) VALUES (?1, ?2, ?3, ?4) "
     "ON CONFLICT (key_sha256) DO NOTHING"},
    {Sql::blocked_key, "read blocked key",
     "SELECT key_sha256, reason, blocked_at, serial FROM blocked_keys WHERE key_sha256 = ?1"},
    {Sql::status_of, "read certificate status", "SELECT status FROM certificates WHERE serial = ?1"},
    {Sql::find, "find certificate", "SELECT " SIGIL_CERT_COLUMNS " FROM certificates WHERE serial = ?1"},
    {Sql::sans_of, "read subject alternative names",
     "SELECT name FROM certificate_sans WHERE serial = ?1 ORDER BY position"},
    {Sql::recent_audit, "read audit log",
     "SELECT at, actor, action, target, outcome, detail FROM audit_log ORDER BY id DESC LIMIT ?1"},
    {Sql::count, "count certificates", "SELECT COUNT(*) FROM certificates"},
    {Sql::integrity_check, "integrity check", "PRAGMA integrity_check"},
    {Sql::revocation_sequence, "read revocation sequence",
     "SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates WHERE revocation_seq IS NOT NULL"},
    {Sql::revoked_since, "read recent revocations",
     "SELECT serial, revocation_seq FROM certificates WHERE revocation_seq > ?1 ORDER BY revocation_seq LIMIT ?2"},
    {Sql::count_revoked, "count revoked certificates",
     "SELECT COUNT(*) FROM certificates INDEXED BY certificates_revoked "
     "WHERE issuer_id = ?1 AND crl_shard = ?2 AND status = 'revoked' AND not_after >= ?3"},
    // Few rows (the revocations since a sequence), found through the sequence's own index.
    {Sql::revoked_shards_since, "read revoked shards",
     "SELECT DISTINCT crl_shard FROM certificates INDEXED BY certificates_revocation_seq "
     "WHERE revocation_seq > ?2 AND issuer_id = ?1 ORDER BY crl_shard"},
    {Sql::crl_shards, "read CRL shards",
     "SELECT shard FROM crl_shards WHERE issuer_id = ?1 AND not_after_max >= ?2 ORDER BY shard"},
    {Sql::note_crl_shard, "record CRL shard",
     "INSERT INTO crl_shards (issuer_id, shard, not_after_max) VALUES (?1, ?2, ?3) "
     "ON CONFLICT (issuer_id, shard) DO UPDATE SET not_after_max = ?3 WHERE crl_shards.not_after_max < ?3"},
    {Sql::next_crl_number, "allocate CRL number",
     "INSERT INTO crl_numbers (issuer_id, shard, last_number) VALUES (?1, ?2, 1) "
     "ON CONFLICT (issuer_id, shard) DO UPDATE SET last_number = crl_numbers.last_number + 1 RETURNING last_number"},
    {Sql::save_crl, "save CRL",
     "INSERT INTO crl_state (issuer_id, shard, delta, number, base_number, this_update, next_update, der) "
     "VALUES (?1, ?6, ?7, ?2, ?8, ?3, ?4, zeroblob(?5)) "
     "ON CONFLICT (issuer_id, shard, delta) DO UPDATE SET number = ?2, base_number = ?8, this_update = ?3, "
     "next_update = ?4, der = zeroblob(?5) WHERE crl_state.number < ?2 RETURNING rowid"},
    {Sql::latest_crl, "read CRL",
     "SELECT number, this_update, next_update, der, shard, delta, base_number FROM crl_state "
     "WHERE issuer_id = ?1 AND shard = ?2 AND delta = ?3"},
    {Sql::latest_crl_this_update, "read CRL thisUpdate",
     "SELECT this_update FROM crl_state WHERE issuer_id = ?1 AND shard = ?2 AND delta = ?3"},
    {Sql::list_crls, "list CRLs",
     "SELECT number, this_update, next_update, der, shard, delta, base_number FROM crl_state "
     "WHERE issuer_id = ?1 ORDER BY shard, delta"},
    {Sql::insert_account, "insert ACME account",
     "INSERT INTO acme_accounts (" SIGIL_ACCOUNT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {Sql::account_by_id, "read ACME account", "SELECT " SIGIL_ACCOUNT_COLUMNS " FROM acme_accounts WHERE id = ?1"},
    {Sql::account_by_thumbprint, "read ACME account by thumbprint",
     "SELECT " SIGIL_ACCOUNT_COLUMNS " FROM acme_accounts WHERE thumbprint = ?1"},
    {Sql::update_account, "update ACME account",
     "UPDATE acme_accounts SET thumbprint = ?1, jwk = ?2, status = ?3, terms_agreed = ?4 "
     "WHERE id = ?5 AND thumbprint = ?6 AND status = ?7 AND terms_agreed = ?8"},
    {Sql::list_accounts, "list ACME accounts",
     "SELECT " SIGIL_ACCOUNT_COLUMNS " FROM acme_accounts ORDER BY created_at, id"},
    {Sql::insert_contact, "insert ACME account contact",
     "INSERT INTO acme_account_contacts (account_id, position, contact) VALUES (?1, ?2, ?3)"},
    {Sql::delete_contacts, "delete ACME account contacts", "DELETE FROM acme_account_contacts WHERE account_id = ?1"},
    {Sql::contacts_of, "read ACME account contacts",
     "SELECT contact FROM acme_account_contacts WHERE account_id = ?1 ORDER BY position"},
    {Sql::insert_order, "insert ACME order",
     "INSERT INTO acme_orders (" SIGIL_ORDER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    {Sql::order_by_id, "read ACME order", "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders WHERE id = ?1"},
    {Sql::update_order, "update ACME order",
     "UPDATE acme_orders SET status = ?1, expires = ?2, certificate_serial = ?3, error = ?4 "
     "WHERE id = ?5 AND status = ?6"},
    {Sql::order_status, "read ACME order status", "SELECT status FROM acme_orders WHERE id = ?1"},
    // replaces = ?1 implies replaces IS NOT NULL, so the partial index serves it, in order.
    {Sql::order_replacing, "find replacing ACME order",
     "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders INDEXED BY acme_orders_replaces "
     "WHERE replaces = ?1 AND status <> 'invalid' ORDER BY created_at DESC, rowid DESC LIMIT 1"},
    // ?2 = now, ?3 = limit, (?4, ?5) = the cursor; the index is walked backwards from the cursor.
    {Sql::orders_of_account, "list ACME orders of account",
     "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders INDEXED BY acme_orders_account "
     "WHERE account_id = ?1 AND status <> 'invalid' AND (status IN ('processing', 'valid') OR expires > ?2) "
     "ORDER BY created_at DESC, id DESC LIMIT ?3"},
    {Sql::orders_of_account_after, "list ACME orders of account",
     "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders INDEXED BY acme_orders_account "
     "WHERE account_id = ?1 AND (created_at, id) < (?4, ?5) AND status <> 'invalid' "
     "AND (status IN ('processing', 'valid') OR expires > ?2) ORDER BY created_at DESC, id DESC LIMIT ?3"},
    {Sql::insert_order_identifier, "insert ACME order identifier",
     "INSERT INTO acme_order_identifiers (order_id, position, type, value) VALUES (?1, ?2, ?3, ?4)"},
    {Sql::order_identifiers, "read ACME order identifiers",
     "SELECT type, value FROM acme_order_identifiers WHERE order_id = ?1 ORDER BY position"},
    {Sql::insert_order_authorization, "link ACME order to authorization",
     "INSERT INTO acme_order_authorizations (order_id, position, authorization_id) VALUES (?1, ?2, ?3)"},
    {Sql::order_authorization_ids, "read ACME order authorizations",
     "SELECT authorization_id FROM acme_order_authorizations WHERE order_id = ?1 ORDER BY position"},
    {Sql::insert_authorization, "insert ACME authorization",
     "INSERT INTO acme_authorizations (id, account_id, order_id, identifier_type, identifier_value, wildcard, "
     "status, expires, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
    {Sql::authorization_by_id, "read ACME authorization",
     "SELECT " SIGIL_AUTHZ_COLUMNS " FROM acme_authorizations AS a WHERE a.id = ?1"},
    {Sql::update_authorization, "update ACME authorization",
     "UPDATE acme_authorizations SET status = ?1, expires = ?2 WHERE id = ?3 AND status = ?4"},
    {Sql::authorization_status, "read ACME authorization status",
     "SELECT status FROM acme_authorizations WHERE id = ?1"},
    {Sql::authorizations_of_order, "read ACME authorizations of order",
     "SELECT " SIGIL_AUTHZ_COLUMNS " FROM acme_order_authorizations AS l "
     "JOIN acme_authorizations AS a ON a.id = l.authorization_id WHERE l.order_id = ?1 ORDER BY l.position"},
    // status = 'valid' selects the partial index; the latest expiry is its last entry.
    {Sql::reusable_authorization, "find reusable ACME authorization",
     "SELECT " SIGIL_AUTHZ_COLUMNS " FROM acme_authorizations AS a INDEXED BY acme_authorizations_reusable "
     "WHERE a.account_id = ?1 AND a.identifier_type = ?2 AND a.identifier_value = ?3 AND a.wildcard = ?4 "
     "AND a.status = 'valid' AND a.expires > ?5 ORDER BY a.expires DESC LIMIT 1"},
    {Sql::insert_challenge, "insert ACME challenge",
     "INSERT INTO acme_challenges (authorization_id, position, type, status, validated, error) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    {Sql::delete_challenges, "delete ACME challenges", "DELETE FROM acme_challenges WHERE authorization_id = ?1"},
    {Sql::challenges_of, "read ACME challenges",
     "SELECT type, status, validated, error FROM acme_challenges WHERE authorization_id = ?1 ORDER BY position"},
    {Sql::insert_eab_key, "insert EAB key",
     "INSERT INTO acme_eab_keys (" SIGIL_EAB_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, NULL)"},
    {Sql::eab_key_by_kid, "read EAB key", "SELECT " SIGIL_EAB_COLUMNS " FROM acme_eab_keys WHERE kid = ?1"},
    {Sql::list_eab_keys, "list EAB keys", "SELECT " SIGIL_EAB_COLUMNS " FROM acme_eab_keys ORDER BY created_at, kid"},
    {Sql::insert_eab_allowed, "insert EAB allowed identifier",
     "INSERT INTO acme_eab_allowed_identifiers (kid, position, pattern) VALUES (?1, ?2, ?3)"},
    {Sql::eab_allowed_of, "read EAB allowed identifiers",
     "SELECT pattern FROM acme_eab_allowed_identifiers WHERE kid = ?1 ORDER BY position"},
    {Sql::bind_eab_key, "bind EAB key",
     "UPDATE acme_eab_keys SET account_id = ?1 WHERE kid = ?2 AND account_id IS NULL AND revoked_at IS NULL"},
    {Sql::eab_state, "read EAB key state", "SELECT account_id, revoked_at FROM acme_eab_keys WHERE kid = ?1"},
    {Sql::revoke_eab_key, "revoke EAB key",
     "UPDATE acme_eab_keys SET revoked_at = ?1 WHERE kid = ?2 AND revoked_at IS NULL"},
    {Sql::rate_prune, "prune rate-limit windows",
     "DELETE FROM acme_rate_counters WHERE key = ?1 AND window_start < ?2"},
    // One statement: the count is tested and raised under the write lock, so two connections
    // (or processes) cannot both take the last hit. No row comes back when the limit is reached.
    {Sql::rate_take, "take rate-limit hit",
     "INSERT INTO acme_rate_counters (key, window_start, hits) VALUES (?1, ?2, 1) "
     "ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1 WHERE hits < ?3 RETURNING hits"},
    {Sql::rate_count, "read rate-limit count",
     "SELECT hits FROM acme_rate_counters WHERE key = ?1 AND window_start = ?2"},
    {Sql::flag_serial, "flag for renewal",
     "INSERT OR IGNORE INTO renewal_flags (serial, flagged_at) SELECT serial, ?2 FROM certificates "
     "WHERE serial = ?1 AND status = 'valid' AND not_after > ?2"},
    {Sql::flag_issued_before, "flag for renewal by issuance time",
     "INSERT OR IGNORE INTO renewal_flags (serial, flagged_at) SELECT serial, ?2 FROM certificates "
     "WHERE created_at < ?1 AND status = 'valid' AND not_after > ?2"},
    {Sql::flagged_at, "read renewal flag", "SELECT flagged_at FROM renewal_flags WHERE serial = ?1"},
}};

constexpr bool sql_table_in_order() {
  for (std::size_t i = 0; i < kSql.size(); ++i) {
    if (static_cast<std::size_t>(kSql[i].id) != i) return false;
  }
  return true;
}
static_assert(sql_table_in_order(), "kSql must list the statements in the order of enum Sql");

// ---- conversions ---------------------------------------------------------------------------

Result<CertStatus> parse_status(std::string_view s) {
  if (s == "pending") return CertStatus::pending;
  if (s == "valid") return CertStatus::valid;
  if (s == "revoked") return CertStatus::revoked;
  return make_error(Errc::storage, "sqlite: unknown certificate status '" + std::string(s) + "'");
}

// Any RFC 5280 code may be read back (rows written before the leaf allow-list); new revocations
// take only store::is_leaf_revocation_reason.
bool is_known_reason(std::int64_t code) {
  return (code >= 0 && code <= 10) && code != 7;  // RFC 5280: 7 is unused
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// RFC 8555 status values, checked before a write so a caller's mistake is reported as such
// (the schema's CHECK constraints are the backstop).
bool is_one_of(std::string_view s, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), s) != allowed.end();
}
bool is_account_status(std::string_view s) { return is_one_of(s, {"valid", "deactivated", "revoked"}); }
bool is_order_status(std::string_view s) {
  return is_one_of(s, {"pending", "ready", "processing", "valid", "invalid"});
}
bool is_authorization_status(std::string_view s) {
  return is_one_of(s, {"pending", "valid", "invalid", "deactivated", "expired", "revoked"});
}
bool is_challenge_status(std::string_view s) { return is_one_of(s, {"pending", "processing", "valid", "invalid"}); }

Status check_account(const AcmeAccount& a) {
  if (a.id.empty()) return make_error(Errc::invalid_argument, "account id is empty");
  if (a.thumbprint.empty()) return make_error(Errc::invalid_argument, "account key thumbprint is empty");
  if (!is_account_status(a.status)) {
    return make_error(Errc::invalid_argument, "unknown account status '" + a.status + "'");
  }
  return {};
}

Status check_authorization(const AcmeAuthorization& authz) {
  if (authz.id.empty()) return make_error(Errc::invalid_argument, "authorization id is empty");
  if (!is_authorization_status(authz.status)) {
    return make_error(Errc::invalid_argument, "unknown authorization status '" + authz.status + "'");
  }
  for (const AcmeChallenge& c : authz.challenges) {
    if (!is_challenge_status(c.status)) {
      return make_error(Errc::invalid_argument, "unknown challenge status '" + c.status + "'");
    }
  }
  return {};
}

// What a failed INSERT or UPDATE means to the caller when a constraint refused it.
struct ConstraintDetails {
  std::string taken;    // a unique key (primary key, thumbprint, kid) is taken: already_exists
  std::string missing;  // a referenced row does not exist: not_found
};

Status explain_constraint(const Status& failed, int rc, const ConstraintDetails& d) {
  if ((rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) && !d.taken.empty()) {
    return make_error(Errc::already_exists, d.taken);
  }
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY && !d.missing.empty()) return make_error(Errc::not_found, d.missing);
  return failed;
}

// ---- page tokens ---------------------------------------------------------------------------
// base64url(no padding) of "1:<not_after>:<serial>", the last key of the previous page.

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 8) | static_cast<std::uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const auto pos = kB64.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Only the canonical encoding is accepted (no stray bits, no impossible lengths).
  if (base64url_encode(out) != in) return std::nullopt;
  return out;
}

struct PageKey {
  std::int64_t not_after = 0;
  std::string serial;
};

std::string encode_page_token(const CertificateRecord& last) {
  return base64url_encode(std::string(kPageTokenVersion) + ":" + std::to_string(last.not_after) + ":" + last.serial);
}

Result<PageKey> decode_page_token(std::string_view token) {
  const Error bad = make_error(Errc::invalid_argument, "malformed page token");
  if (token.size() > kMaxPageTokenSize) return bad;
  const auto decoded = base64url_decode(token);
  if (!decoded) return bad;
  std::string_view rest(*decoded);
  const auto version_end = rest.find(':');
  if (version_end == std::string_view::npos || rest.substr(0, version_end) != kPageTokenVersion) {
    return bad;
  }
  rest.remove_prefix(version_end + 1);
  const auto number_end = rest.find(':');
  if (number_end == std::string_view::npos) return bad;
  PageKey key;
  const char* first = rest.data();
  const char* last = rest.data() + number_end;
  const auto [ptr, ec] = std::from_chars(first, last, key.not_after);
  if (ec != std::errc() || ptr != last || first == last) return bad;
  key.serial = std::string(rest.substr(number_end + 1));
  if (key.serial.empty()) return bad;
  return key;
}

// ---- files ---------------------------------------------------------------------------------

// Creates `path` empty with mode 0600 if it does not exist yet; SQLite would create it with
// 0644 & ~umask. The -wal and -shm files inherit the database file's mode.
Status create_private_file(const fs::path& path, bool must_be_new) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    if (errno == EEXIST && !must_be_new) return {};
    return errno_error("cannot create", path);
  }
  if (::close(fd) != 0) return errno_error("cannot close", path);
  return {};
}

Status fsync_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open", path);
  if (::fsync(fd) != 0) {
    Error e = errno_error("cannot sync", path);
    ::close(fd);
    return e;
  }
  if (::close(fd) != 0) return errno_error("cannot close", path);
  return {};
}

std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  return std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + "." + std::to_string(rd());
}

// Removes a temporary database (and whatever journal SQLite left beside it) unless released.
class TempDatabase {
 public:
  explicit TempDatabase(fs::path path) : path_(std::move(path)) {}
  ~TempDatabase() {
    if (path_.empty()) return;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      ::unlink((path_.string() + suffix).c_str());  // best effort: it may not exist
    }
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  const fs::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Copies the database at `source` page by page into the (empty) database at `dest`, from one
// read snapshot, so writers on other connections neither block it nor tear it.
Status copy_database(const std::string& source, const std::string& dest) {
  SIGIL_TRY(DbPtr src, open_connection(source, SQLITE_OPEN_READONLY));
  SIGIL_TRY(DbPtr dst, open_connection(dest, SQLITE_OPEN_READWRITE));
  sqlite3_backup* backup = sqlite3_backup_init(dst.get(), "main", src.get(), "main");
  if (backup == nullptr) return db_error(dst.get(), "cannot start backup");
  int rc = SQLITE_OK;
  for (int attempt = 0;; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);  // -1: everything, in one read transaction
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < kBackupRetries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    break;
  }
  // finish() frees the handle and reports the step's error, if any, on `dst`.
  const int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE || finish_rc != SQLITE_OK) return db_error(dst.get(), "backup failed");
  if (sqlite3_close(dst.get()) != SQLITE_OK) return db_error(dst.get(), "cannot close backup");
  dst.release();  // closed above
  return {};
}

// ---- the store -----------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  SqliteStore(DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  Status prepare_statements() {
    for (std::size_t i = 0; i < kSql.size(); ++i) {
      SIGIL_TRY(stmts_[i], prepare(db_.get(), kSql[i].sql, SQLITE_PREPARE_PERSISTENT));
    }
    return {};
  }

  Status reserve(const PendingCertificate& p, const AuditEntry& audit) override {
    if (p.serial.empty()) return make_error(Errc::invalid_argument, "serial is empty");
    if (p.crl_shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::insert_certificate);
        q.bind(1, p.serial).bind(2, p.issuer_id).bind(3, p.tbs_der).bind(4, p.subject);
        q.bind(5, p.profile).bind(6, p.requester).bind(7, p.not_before).bind(8, p.not_after);
        q.bind(9, p.created_at).bind(10, static_cast<std::int64_t>(p.crl_shard));
        Status st = q.run();
        if (!st) {
          if (q.last_rc() == SQLITE_CONSTRAINT_UNIQUE) {
            return make_error(Errc::already_exists, "serial " + p.serial + " already exists");
          }
          return st;
        }
      }
      for (std::size_t i = 0; i < p.sans.size(); ++i) {
        Query q = use(Sql::insert_san);
        q.bind(1, p.serial).bind(2, static_cast<std::int64_t>(i)).bind(3, p.sans[i]);
        SIGIL_TRY_STATUS(q.run());
      }
      {
        // The shard's CRL must be published until this certificate expires.
        Query q = use(Sql::note_crl_shard);
        q.bind(1, p.issuer_id).bind(2, static_cast<std::int64_t>(p.crl_shard)).bind(3, p.not_after);
        SIGIL_TRY_STATUS(q.run());
      }
      return insert_audit(audit);
    });
  }

  Status complete(const std::string& serial, const Bytes& der, const AuditEntry& audit) override {
    if (der.empty()) return make_error(Errc::invalid_argument, "certificate DER is empty");
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::mark_valid);
        q.bind(1, der).bind(2, serial);
        SIGIL_TRY_STATUS(q.run());
      }
      if (sqlite3_changes(db_.get()) == 0) return explain_unchanged(serial, "complete");
      return insert_audit(audit);
    });
  }

  Result<std::optional<CertificateRecord>> find(const std::string& serial) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::find);
    q.bind(1, serial);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<CertificateRecord>{};
    SIGIL_TRY(CertificateRecord record, read_certificate(q));
    return std::optional<CertificateRecord>(std::move(record));
  }

  Result<Page> list(const ListFilter& filter) override {
    if (filter.limit < 1 || filter.limit > kMaxLimit) {
      return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
    }
    std::optional<PageKey> after;
    if (!filter.page_token.empty()) {
      SIGIL_TRY(after, decode_page_token(filter.page_token));
    }

    // Each condition is written so an index serves it: status = ... AND not_after in a range,
    // or a scan of (not_after, serial) in order, skipping the few pending rows.
    using Value = std::variant<std::int64_t, std::string>;
    std::string sql = "SELECT " SIGIL_CERT_COLUMNS " FROM certificates WHERE ";
    std::vector<Value> values;
    switch (filter.status) {
      case ListFilter::Status::any:
        sql += "status <> 'pending'";
        break;
      case ListFilter::Status::valid:
        sql += "status = 'valid'";
        // One lower bound on not_after, so the index range starts at the right place: when the
        // page key is past `now` it implies not_after > now, otherwise not_after > now implies it.
        if (after && after->not_after <= filter.now) after.reset();
        if (!after) {
          sql += " AND not_after > ?";
          values.emplace_back(filter.now);
        }
        break;
      case ListFilter::Status::revoked:
        sql += "status = 'revoked'";
        break;
      case ListFilter::Status::expired:
        sql += "status <> 'pending' AND not_after <= ?";
        values.emplace_back(filter.now);
        break;
    }
    if (filter.expiring_before) {
      sql += " AND not_after <= ?";
      values.emplace_back(*filter.expiring_before);
    }
    if (filter.profile) {
      sql += " AND profile = ?";
      values.emplace_back(*filter.profile);
    }
    if (after) {
      sql += " AND (not_after, serial) > (?, ?)";
      values.emplace_back(after->not_after);
      values.emplace_back(after->serial);
    }
    sql += " ORDER BY not_after, serial LIMIT ?";
    // One row more than asked for tells whether there is a next page.
    values.emplace_back(static_cast<std::int64_t>(filter.limit) + 1);

    std::lock_guard lock(mu_);
    SIGIL_TRY(sqlite3_stmt * stmt, list_statement(sql));
    Query q(db_.get(), stmt, "list certificates");
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::visit([&](const auto& v) { q.bind(static_cast<int>(i + 1), v); }, values[i]);
    }
    Page page;
    const auto limit = static_cast<std::size_t>(filter.limit);
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) break;
      if (page.items.size() == limit) {
        page.next_page_token = encode_page_token(page.items.back());
        break;
      }
      SIGIL_TRY(CertificateRecord record, read_certificate(q));
      page.items.push_back(std::move(record));
    }
    return page;
  }

  Status revoke(const std::string& serial, std::int64_t at, RevocationReason reason, const std::string& key_sha256,
                const AuditEntry& audit) override {
    const auto code = static_cast<std::int64_t>(reason);
    SIGIL_TRY_STATUS(leaf_revocation_reason(static_cast<int>(code)));
    // A compromised key must never be certified again: without its hash the revocation could
    // not block it, so it is refused rather than half done.
    const bool block = reason == RevocationReason::key_compromise;
    if (block && !is_sha256_hex(key_sha256))
      return make_error(Errc::invalid_argument, "a keyCompromise revocation needs the key's SHA-256 (64 hex digits)");
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::mark_revoked);
        q.bind(1, at).bind(2, code).bind(3, serial);
        SIGIL_TRY_STATUS(q.run());
      }
      if (sqlite3_changes(db_.get()) == 0) return explain_unchanged(serial, "revoke");
      if (block) {
        Query q = use(Sql::block_key);
        q.bind(1, key_sha256).bind(2, code).bind(3, at).bind(4, serial);
        SIGIL_TRY_STATUS(q.run());
      }
      return insert_audit(audit);
    });
  }

  Result<std::optional<BlockedKey>> blocked_key(const std::string& key_sha256) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::blocked_key);
    q.bind(1, key_sha256);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<BlockedKey>{};
    return std::optional<BlockedKey>(
        BlockedKey{q.text(0), static_cast<RevocationReason>(q.int64(1)), q.int64(2), q.text(3)});
  }

  Status append(const AuditEntry& entry) override {
    return group_write([&]() -> Status { return insert_audit(entry); });
  }

  Result<std::vector<AuditEntry>> recent(int limit) override {
    if (limit < 1 || limit > kMaxLimit) {
      return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
    }
    std::lock_guard lock(mu_);
    Query q = use(Sql::recent_audit);
    q.bind(1, static_cast<std::int64_t>(limit));
    std::vector<AuditEntry> out;
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) break;
      out.push_back(AuditEntry{q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5)});
    }
    return out;
  }

  Status backup(const std::string& path) override {
    if (path.empty()) return make_error(Errc::invalid_argument, "backup path is empty");
    const fs::path dest(path);
    fs::path dir = dest.parent_path();
    if (dir.empty()) dir = ".";
    // The copy is built under a temporary name and renamed when complete and synced, so a
    // half-written backup never appears at `path`.
    TempDatabase tmp(dir / ("." + dest.filename().string() + ".tmp." + unique_suffix()));
    SIGIL_TRY_STATUS(create_private_file(tmp.path(), /*must_be_new=*/true));
    // A connection of its own: the store's mutex is not held, so writers carry on meanwhile.
    SIGIL_TRY_STATUS(copy_database(path_, tmp.path().string()));
    SIGIL_TRY_STATUS(fsync_file(tmp.path()));
    if (::rename(tmp.path().c_str(), dest.c_str()) != 0) {
      return errno_error("cannot rename backup into", dest);
    }
    tmp.release();
    return sync_dir(dir);
  }

  Status for_each_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min,
                          const std::function<Status(const RevokedSerial&)>& fn) override {
    // Its own read-only connection: a long scan (a million entries) holds no lock writers need.
    std::lock_guard lock(reader_mu_);
    if (!reader_) SIGIL_TRY_STATUS(open_reader());
    Query q(reader_.get(), reader_scan_.get(), "read revoked certificates");
    q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, not_after_min);
    return stream_revoked(q, fn);
  }

  Status for_each_revoked_since(const std::string& issuer_id, int shard, std::int64_t sequence,
                                std::int64_t not_after_min,
                                const std::function<Status(const RevokedSerial&)>& fn) override {
    std::lock_guard lock(reader_mu_);
    if (!reader_) SIGIL_TRY_STATUS(open_reader());
    Query q(reader_.get(), reader_since_.get(), "read recently revoked certificates");
    q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, sequence).bind(4, not_after_min);
    return stream_revoked(q, fn);
  }

  static Status stream_revoked(Query& q, const std::function<Status(const RevokedSerial&)>& fn) {
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      RevokedSerial r{q.text(0), q.int64(1), static_cast<RevocationReason>(q.int64(2))};
      SIGIL_TRY_STATUS(fn(r));
    }
  }

  Status for_each_certificate(const std::string& issuer_id, std::int64_t not_after_min,
                              const std::function<Status(const RevokedSerial&, bool revoked)>& fn) override {
    std::lock_guard lock(reader_mu_);
    if (!reader_) SIGIL_TRY_STATUS(open_reader());
    Query q(reader_.get(), reader_all_.get(), "read certificates");
    q.bind(1, issuer_id).bind(2, not_after_min);
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      const bool revoked = q.text(3) == "revoked";
      RevokedSerial r{q.text(0), revoked ? q.int64(1) : 0,
                      revoked ? static_cast<RevocationReason>(q.int64(2)) : RevocationReason::unspecified};
      SIGIL_TRY_STATUS(fn(r, revoked));
    }
  }

  Status open_reader() {
    SIGIL_TRY(reader_, open_connection(path_, SQLITE_OPEN_READONLY));
    SIGIL_TRY(reader_scan_,
              prepare(reader_.get(),
                      "SELECT serial, revoked_at, revocation_reason FROM certificates "
                      "INDEXED BY certificates_revoked "
                      "WHERE issuer_id = ?1 AND crl_shard = ?2 AND status = 'revoked' AND not_after >= ?3 "
                      "ORDER BY serial",
                      SQLITE_PREPARE_PERSISTENT));
    // A delta CRL's few entries: from the sequence's index, sorted afterwards.
    SIGIL_TRY(reader_since_,
              prepare(reader_.get(),
                      "SELECT serial, revoked_at, revocation_reason FROM certificates "
                      "INDEXED BY certificates_revocation_seq "
                      "WHERE revocation_seq > ?3 AND issuer_id = ?1 AND crl_shard = ?2 AND status = 'revoked' "
                      "AND not_after >= ?4 ORDER BY serial",
                      SQLITE_PREPARE_PERSISTENT));
    SIGIL_TRY(reader_all_, prepare(reader_.get(),
                                   "SELECT serial, revoked_at, revocation_reason, status FROM certificates "
                                   "INDEXED BY certificates_live "
                                   "WHERE issuer_id = ?1 AND status <> 'pending' AND not_after >= ?2",
                                   SQLITE_PREPARE_PERSISTENT));
    return {};
  }

  Result<std::int64_t> count_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::count_revoked);
    q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, not_after_min);
    SIGIL_TRY(bool row, q.step());
    return row ? q.int64(0) : 0;
  }

  Result<std::vector<int>> crl_shards(const std::string& issuer_id, std::int64_t not_after_min) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::crl_shards);
    q.bind(1, issuer_id).bind(2, not_after_min);
    return read_shards(q);
  }

  Result<std::vector<int>> revoked_shards_since(const std::string& issuer_id, std::int64_t sequence) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::revoked_shards_since);
    q.bind(1, issuer_id).bind(2, sequence);
    return read_shards(q);
  }

  static Result<std::vector<int>> read_shards(Query& q) {
    std::vector<int> out;
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return out;
      out.push_back(static_cast<int>(q.int64(0)));
    }
  }

  Result<std::int64_t> revocation_sequence() override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::revocation_sequence);
    SIGIL_TRY(bool row, q.step());
    return row ? q.int64(0) : 0;
  }

  Result<std::vector<std::pair<std::string, std::int64_t>>> revoked_since(std::int64_t sequence, int limit) override {
    if (limit < 1 || limit > 100000) return make_error(Errc::invalid_argument, "limit out of range");
    std::lock_guard lock(mu_);
    Query q = use(Sql::revoked_since);
    q.bind(1, sequence).bind(2, static_cast<std::int64_t>(limit));
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return out;
      out.emplace_back(q.text(0), q.int64(1));
    }
  }

  Result<std::int64_t> next_crl_number(const std::string& issuer_id, int shard) override {
    if (shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
    std::int64_t number = 0;
    SIGIL_TRY_STATUS(group_write([&]() -> Status {
      Query q = use(Sql::next_crl_number);
      q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard));
      SIGIL_TRY(bool row, q.step());
      if (!row) return make_error(Errc::storage, "sqlite: no CRL number returned");
      number = q.int64(0);
      SIGIL_TRY(bool more, q.step());  // runs the statement to completion
      (void)more;
      return {};
    }));
    return number;
  }

  Status save_crl(const CrlRecord& crl) override {
    if (crl.shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
    if (crl.delta != crl.base_number.has_value())
      return make_error(Errc::invalid_argument, "a delta CRL, and only one, has a base CRL number");
    return group_write([&]() -> Status {
      // The row gets a zero-filled blob of the right size, then the DER is written into it in
      // place: no extra copy of a CRL that may be tens of megabytes.
      std::int64_t rowid = 0;
      {
        Query q = use(Sql::save_crl);
        q.bind(1, crl.issuer_id).bind(2, crl.number).bind(3, crl.this_update).bind(4, crl.next_update);
        q.bind(5, static_cast<std::int64_t>(crl.der.size()));
        q.bind(6, static_cast<std::int64_t>(crl.shard)).bind(7, crl.delta).bind(8, crl.base_number);
        SIGIL_TRY(bool row, q.step());
        if (!row) return {};  // a newer CRL is already saved
        rowid = q.int64(0);
        SIGIL_TRY(bool more, q.step());
        (void)more;
      }
      sqlite3_blob* blob = nullptr;
      if (sqlite3_blob_open(db_.get(), "main", "crl_state", "der", rowid, 1, &blob) != SQLITE_OK)
        return db_error(db_.get(), "open CRL blob");
      const int rc = sqlite3_blob_write(blob, crl.der.data(), static_cast<int>(crl.der.size()), 0);
      sqlite3_blob_close(blob);
      if (rc != SQLITE_OK) return db_error(db_.get(), "write CRL blob");
      return {};
    });
  }

  Result<std::optional<CrlRecord>> latest_crl(const std::string& issuer_id, int shard, bool delta) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::latest_crl);
    q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, delta);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<CrlRecord>{};
    return std::optional<CrlRecord>(read_crl(q, issuer_id));
  }

  Result<std::optional<std::int64_t>> latest_crl_this_update(const std::string& issuer_id, int shard,
                                                             bool delta) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::latest_crl_this_update);
    q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, delta);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>(q.int64(0));
  }

  Result<std::vector<CrlRecord>> list_crls(const std::string& issuer_id) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::list_crls);
    q.bind(1, issuer_id);
    std::vector<CrlRecord> out;
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return out;
      out.push_back(read_crl(q, issuer_id));
    }
  }

  // The current row of latest_crl / list_crls.
  static CrlRecord read_crl(const Query& q, const std::string& issuer_id) {
    return CrlRecord{issuer_id,       q.int64(0),         q.int64(1),
                     q.int64(2),      q.blob(3),          static_cast<int>(q.int64(4)),
                     q.int64(5) != 0, q.optional_int64(6)};
  }

  // ---- ACME ----

  Status create_account(const AcmeAccount& a, const AuditEntry& audit) override {
    SIGIL_TRY_STATUS(check_account(a));
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::insert_account);
        q.bind(1, a.id).bind(2, a.thumbprint).bind(3, a.jwk).bind(4, a.status).bind(5, a.terms_agreed);
        q.bind_or_null(6, a.eab_kid).bind(7, a.created_at);
        Status st = q.run();
        if (!st) {
          if (q.last_rc() == SQLITE_CONSTRAINT_UNIQUE && !a.eab_kid.empty()) {
            // Either the thumbprint is taken or the key is bound already; the thumbprint wins.
            SIGIL_TRY(std::optional<AcmeAccount> holder, read_account(Sql::account_by_thumbprint, a.thumbprint));
            if (!holder) return explain_eab_unavailable(a.eab_kid);
          }
          return explain_constraint(
              st, q.last_rc(),
              {q.last_rc() == SQLITE_CONSTRAINT_PRIMARYKEY ? "account " + a.id + " already exists"
                                                           : "an account with this key already exists",
               "no EAB key " + a.eab_kid});
        }
      }
      SIGIL_TRY_STATUS(insert_contacts(a.id, a.contact));
      if (!a.eab_kid.empty()) {
        {
          Query q = use(Sql::bind_eab_key);
          q.bind(1, a.id).bind(2, a.eab_kid);
          SIGIL_TRY_STATUS(q.run());
        }
        if (sqlite3_changes(db_.get()) == 0) return explain_eab_unavailable(a.eab_kid);
      }
      return insert_audit(audit);
    });
  }

  Result<std::optional<AcmeAccount>> account(const std::string& id) override {
    std::lock_guard lock(mu_);
    std::optional<AcmeAccount> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      SIGIL_TRY(out, read_account(Sql::account_by_id, id));
      return {};
    }));
    return out;
  }

  Result<std::optional<AcmeAccount>> account_by_thumbprint(const std::string& thumbprint) override {
    std::lock_guard lock(mu_);
    std::optional<AcmeAccount> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      SIGIL_TRY(out, read_account(Sql::account_by_thumbprint, thumbprint));
      return {};
    }));
    return out;
  }

  Status update_account(const AcmeAccount& a, const AcmeAccount& expected, const AuditEntry& audit) override {
    SIGIL_TRY_STATUS(check_account(a));
    return group_write([&]() -> Status {
      const auto changed = [&] { return make_error(Errc::conflict, "account " + a.id + " changed meanwhile"); };
      // The contacts are rows of their own: compared here, inside the same write transaction.
      SIGIL_TRY(std::vector<std::string> contact, read_strings(Sql::contacts_of, a.id));
      if (contact != expected.contact) {
        SIGIL_TRY(std::optional<AcmeAccount> now, read_account(Sql::account_by_id, a.id));
        if (!now) return make_error(Errc::not_found, "no account " + a.id);
        return changed();
      }
      {
        Query q = use(Sql::update_account);
        q.bind(1, a.thumbprint).bind(2, a.jwk).bind(3, a.status).bind(4, a.terms_agreed).bind(5, a.id);
        q.bind(6, expected.thumbprint).bind(7, expected.status).bind(8, expected.terms_agreed);
        Status st = q.run();
        if (!st) return explain_constraint(st, q.last_rc(), {"another account already has this key", ""});
      }
      if (sqlite3_changes(db_.get()) == 0) {
        SIGIL_TRY(std::optional<AcmeAccount> now, read_account(Sql::account_by_id, a.id));
        if (!now) return make_error(Errc::not_found, "no account " + a.id);
        return changed();
      }
      {
        Query q = use(Sql::delete_contacts);
        q.bind(1, a.id);
        SIGIL_TRY_STATUS(q.run());
      }
      SIGIL_TRY_STATUS(insert_contacts(a.id, a.contact));
      return insert_audit(audit);
    });
  }

  Result<std::vector<AcmeAccount>> list_accounts() override {
    std::lock_guard lock(mu_);
    std::vector<AcmeAccount> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      std::vector<std::string> ids;
      {
        Query q = use(Sql::list_accounts);
        for (;;) {
          SIGIL_TRY(bool row, q.step());
          if (!row) break;
          ids.push_back(q.text(0));
        }
      }
      for (const auto& id : ids) {
        SIGIL_TRY(std::optional<AcmeAccount> a, read_account(Sql::account_by_id, id));
        if (a) out.push_back(std::move(*a));
      }
      return {};
    }));
    return out;
  }

  Status create_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations,
                      const AuditEntry& audit, const std::optional<RateHit>& rate) override {
    if (order.id.empty()) return make_error(Errc::invalid_argument, "order id is empty");
    if (!is_order_status(order.status)) {
      return make_error(Errc::invalid_argument, "unknown order status '" + order.status + "'");
    }
    for (const AcmeAuthorization& authz : authorizations) {
      SIGIL_TRY_STATUS(check_authorization(authz));
      if (authz.order_id != order.id || authz.account_id != order.account_id) {
        return make_error(Errc::invalid_argument,
                          "authorization " + authz.id + " does not belong to order " + order.id + "'s account");
      }
      const auto& ids = order.authorization_ids;
      if (std::find(ids.begin(), ids.end(), authz.id) == ids.end()) {
        return make_error(Errc::invalid_argument, "order " + order.id + " does not name authorization " + authz.id);
      }
    }
    return group_write([&]() -> Status {
      if (rate) SIGIL_TRY_STATUS(take_hit(*rate));
      {
        Query q = use(Sql::insert_order);
        q.bind(1, order.id).bind(2, order.account_id).bind(3, order.status).bind(4, order.expires);
        q.bind(5, order.not_before).bind(6, order.not_after).bind(7, order.profile).bind_or_null(8, order.replaces);
        q.bind(9, order.certificate_serial).bind(10, order.error).bind(11, order.created_at);
        Status st = q.run();
        if (!st) {
          return explain_constraint(st, q.last_rc(),
                                    {"order " + order.id + " already exists", "no account " + order.account_id});
        }
      }
      for (std::size_t i = 0; i < order.identifiers.size(); ++i) {
        Query q = use(Sql::insert_order_identifier);
        q.bind(1, order.id).bind(2, static_cast<std::int64_t>(i));
        q.bind(3, order.identifiers[i].type).bind(4, order.identifiers[i].value);
        SIGIL_TRY_STATUS(q.run());
      }
      for (const AcmeAuthorization& authz : authorizations) SIGIL_TRY_STATUS(insert_authorization(authz));
      for (std::size_t i = 0; i < order.authorization_ids.size(); ++i) {
        Query q = use(Sql::insert_order_authorization);
        q.bind(1, order.id).bind(2, static_cast<std::int64_t>(i)).bind(3, order.authorization_ids[i]);
        Status st = q.run();
        if (!st) {
          return explain_constraint(st, q.last_rc(), {"", "no authorization " + order.authorization_ids[i]});
        }
      }
      return insert_audit(audit);
    });
  }

  Result<std::optional<AcmeOrder>> order(const std::string& id) override {
    std::lock_guard lock(mu_);
    std::optional<AcmeOrder> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      SIGIL_TRY(out, read_order(Sql::order_by_id, id));
      return {};
    }));
    return out;
  }

  Status update_order(const AcmeOrder& order, const std::string& expected_status) override {
    if (!is_order_status(order.status)) {
      return make_error(Errc::invalid_argument, "unknown order status '" + order.status + "'");
    }
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::update_order);
        q.bind(1, order.status).bind(2, order.expires).bind(3, order.certificate_serial).bind(4, order.error);
        q.bind(5, order.id).bind(6, expected_status);
        SIGIL_TRY_STATUS(q.run());
      }
      if (sqlite3_changes(db_.get()) == 0) {
        return explain_status_changed(Sql::order_status, "order", order.id, expected_status);
      }
      return {};
    });
  }

  Result<std::optional<AcmeOrder>> order_replacing(const std::string& replaces) override {
    if (replaces.empty()) return std::optional<AcmeOrder>{};  // "" means "replaces nothing"
    std::lock_guard lock(mu_);
    std::optional<AcmeOrder> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      SIGIL_TRY(out, read_order(Sql::order_replacing, replaces));
      return {};
    }));
    return out;
  }

  Result<std::vector<AcmeOrder>> orders_of_account(const std::string& account_id, std::int64_t now,
                                                   const std::optional<AcmeOrderCursor>& after, int limit) override {
    if (limit < 1 || limit > kMaxLimit) {
      return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
    }
    std::lock_guard lock(mu_);
    std::vector<AcmeOrder> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      Query q = use(after ? Sql::orders_of_account_after : Sql::orders_of_account);
      q.bind(1, account_id).bind(2, now).bind(3, static_cast<std::int64_t>(limit));
      if (after) q.bind(4, after->created_at).bind(5, after->id);
      for (;;) {
        SIGIL_TRY(bool row, q.step());
        if (!row) return {};
        SIGIL_TRY(AcmeOrder o, read_order_row(q));
        out.push_back(std::move(o));
      }
    }));
    return out;
  }

  Result<std::optional<AcmeAuthorization>> authorization(const std::string& id) override {
    std::lock_guard lock(mu_);
    std::optional<AcmeAuthorization> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      Query q = use(Sql::authorization_by_id);
      q.bind(1, id);
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      SIGIL_TRY(out, read_authorization(q));
      return {};
    }));
    return out;
  }

  Status update_authorization(const AcmeAuthorization& authz, const std::string& expected_status,
                              const AuditEntry* audit, const std::optional<RateHit>& rate) override {
    SIGIL_TRY_STATUS(check_authorization(authz));
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::update_authorization);
        q.bind(1, authz.status).bind(2, authz.expires).bind(3, authz.id).bind(4, expected_status);
        SIGIL_TRY_STATUS(q.run());
      }
      if (sqlite3_changes(db_.get()) == 0) {
        return explain_status_changed(Sql::authorization_status, "authorization", authz.id, expected_status);
      }
      {
        Query q = use(Sql::delete_challenges);
        q.bind(1, authz.id);
        SIGIL_TRY_STATUS(q.run());
      }
      SIGIL_TRY_STATUS(insert_challenges(authz));
      if (rate) SIGIL_TRY_STATUS(take_hit(*rate));
      return audit != nullptr ? insert_audit(*audit) : Status{};
    });
  }

  Result<std::optional<AcmeAuthorization>> reusable_authorization(const std::string& account_id,
                                                                  const AcmeIdentifier& identifier, bool wildcard,
                                                                  std::int64_t expires_after) override {
    std::lock_guard lock(mu_);
    std::optional<AcmeAuthorization> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      Query q = use(Sql::reusable_authorization);
      q.bind(1, account_id).bind(2, identifier.type).bind(3, identifier.value).bind(4, wildcard);
      q.bind(5, expires_after);
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      SIGIL_TRY(out, read_authorization(q));
      return {};
    }));
    return out;
  }

  Result<std::vector<AcmeAuthorization>> authorizations_of_order(const std::string& order_id) override {
    std::lock_guard lock(mu_);
    std::vector<AcmeAuthorization> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      Query q = use(Sql::authorizations_of_order);
      q.bind(1, order_id);
      for (;;) {
        SIGIL_TRY(bool row, q.step());
        if (!row) return {};
        SIGIL_TRY(AcmeAuthorization authz, read_authorization(q));
        out.push_back(std::move(authz));
      }
    }));
    return out;
  }

  Status create_eab_key(const EabKey& key, const AuditEntry& audit) override {
    if (key.kid.empty()) return make_error(Errc::invalid_argument, "EAB key id is empty");
    if (key.hmac_key.empty()) return make_error(Errc::invalid_argument, "EAB HMAC key is empty");
    if (!key.account_id.empty()) {
      return make_error(Errc::invalid_argument, "a new EAB key cannot be bound; create_account binds it");
    }
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::insert_eab_key);
        q.bind(1, key.kid).bind(2, key.hmac_key).bind(3, key.description).bind(4, key.created_at);
        q.bind(5, key.revoked_at);
        Status st = q.run();
        if (!st) return explain_constraint(st, q.last_rc(), {"EAB key " + key.kid + " already exists", ""});
      }
      for (std::size_t i = 0; i < key.allowed_identifiers.size(); ++i) {
        Query q = use(Sql::insert_eab_allowed);
        q.bind(1, key.kid).bind(2, static_cast<std::int64_t>(i)).bind(3, key.allowed_identifiers[i]);
        SIGIL_TRY_STATUS(q.run());
      }
      return insert_audit(audit);
    });
  }

  Result<std::optional<EabKey>> eab_key(const std::string& kid) override {
    std::lock_guard lock(mu_);
    std::optional<EabKey> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      Query q = use(Sql::eab_key_by_kid);
      q.bind(1, kid);
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      SIGIL_TRY(out, read_eab_key(q));
      return {};
    }));
    return out;
  }

  Result<std::vector<EabKey>> list_eab_keys() override {
    std::lock_guard lock(mu_);
    std::vector<EabKey> out;
    SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
      Query q = use(Sql::list_eab_keys);
      for (;;) {
        SIGIL_TRY(bool row, q.step());
        if (!row) return {};
        SIGIL_TRY(EabKey key, read_eab_key(q));
        out.push_back(std::move(key));
      }
    }));
    return out;
  }

  Status revoke_eab_key(const std::string& kid, std::int64_t at, const AuditEntry& audit) override {
    return group_write([&]() -> Status {
      {
        Query q = use(Sql::revoke_eab_key);
        q.bind(1, at).bind(2, kid);
        SIGIL_TRY_STATUS(q.run());
      }
      if (sqlite3_changes(db_.get()) == 0) {
        Query q = use(Sql::eab_state);
        q.bind(1, kid);
        SIGIL_TRY(bool row, q.step());
        if (!row) return make_error(Errc::not_found, "no EAB key " + kid);
        return make_error(Errc::conflict, "EAB key " + kid + " is already revoked");
      }
      return insert_audit(audit);
    });
  }

  Result<bool> rate_take(const std::string& key, std::int64_t window_start, std::int64_t limit) override {
    if (limit < 0) return make_error(Errc::invalid_argument, "rate limit is negative");
    if (limit == 0) return false;  // nothing may be taken, so nothing is written
    bool taken = false;
    Status st = group_write([&]() -> Status {
      Status hit = take_hit(RateHit{key, window_start, limit});
      if (!hit && hit.error().code != Errc::rate_limited) return hit;
      taken = hit.has_value();
      return {};
    });
    if (!st) return st.error();
    return taken;
  }

  Result<std::int64_t> rate_count(const std::string& key, std::int64_t window_start) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::rate_count);
    q.bind(1, key).bind(2, window_start);
    SIGIL_TRY(bool row, q.step());
    return row ? q.int64(0) : 0;
  }

  Result<std::int64_t> flag_for_renewal(const std::optional<std::string>& serial,
                                        std::optional<std::int64_t> issued_before, std::int64_t at,
                                        const AuditEntry& audit) override {
    if (serial.has_value() == issued_before.has_value())
      return make_error(Errc::invalid_argument, "flag either one serial or the certificates issued before a time");
    std::int64_t changed = 0;
    auto written = group_write([&]() -> Status {
      {
        Query q = use(serial ? Sql::flag_serial : Sql::flag_issued_before);
        if (serial)
          q.bind(1, *serial).bind(2, at);
        else
          q.bind(1, *issued_before).bind(2, at);
        SIGIL_TRY_STATUS(q.run());
      }
      changed = sqlite3_changes(db_.get());
      AuditEntry a = audit;
      a.detail += (a.detail.empty() ? "" : "; ") + std::to_string(changed) + " certificate(s) flagged";
      return insert_audit(a);
    });
    if (!written) return written.error();
    return changed;
  }

  Result<std::optional<std::int64_t>> renewal_flagged_at(const std::string& serial) override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::flagged_at);
    q.bind(1, serial);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(q.int64(0));
  }

  Result<std::string> integrity_check() override {
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

  Result<std::int64_t> count() override {
    std::lock_guard lock(mu_);
    Query q = use(Sql::count);
    SIGIL_TRY(bool row, q.step());
    if (!row) return make_error(Errc::storage, "sqlite: COUNT returned no row");
    return q.int64(0);
  }

  std::int64_t write_commits() const { return commits_.load(std::memory_order_relaxed); }

  Result<ConnectionSettings> settings() {
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

 private:
  Query use(Sql id) {
    const auto i = static_cast<std::size_t>(id);
    return Query(db_.get(), stmts_[i].get(), kSql[i].what);
  }

  // Group commit: concurrent writers queue their changes; one of them (the leader) runs every
  // queued change in a single transaction, each inside its own savepoint so one refusal undoes
  // only itself, and one COMMIT (one fsync with synchronous=FULL) makes the batch durable.
  // Each writer returns only after the commit that holds its change.
  struct WriteOp {
    std::function<Status()> body;
    Status result;
    bool done = false;
  };

  Status group_write(std::function<Status()> body) {
    WriteOp op{std::move(body), {}, false};
    std::unique_lock ql(queue_mu_);
    queue_.push_back(&op);
    while (!op.done) {
      if (leader_active_) {
        queue_cv_.wait(ql);
        continue;
      }
      leader_active_ = true;
      std::vector<WriteOp*> batch;
      batch.swap(queue_);
      ql.unlock();
      run_batch(batch);
      ql.lock();
      leader_active_ = false;
      for (WriteOp* o : batch) o->done = true;
      queue_cv_.notify_all();
    }
    return op.result;
  }

  void run_batch(std::vector<WriteOp*>& batch) {
    std::lock_guard lock(mu_);
    Status st = in_write_transaction([&]() -> Status {
      for (WriteOp* o : batch) {
        {
          Query sp = use(Sql::savepoint);
          SIGIL_TRY_STATUS(sp.run());
        }
        o->result = o->body();
        if (!o->result) {
          Query back = use(Sql::rollback_to);
          SIGIL_TRY_STATUS(back.run());
        }
        Query release = use(Sql::release);
        SIGIL_TRY_STATUS(release.run());
      }
      return {};
    });
    // A batch whose every change was refused commits an empty transaction: no write, no fsync.
    if (st && std::any_of(batch.begin(), batch.end(), [](const WriteOp* o) { return o->result.has_value(); }))
      commits_.fetch_add(1, std::memory_order_relaxed);
    if (!st) {
      // Nothing of the batch was committed: every change reports the failure.
      for (WriteOp* o : batch)
        if (o->result) o->result = st.error();
    }
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; any failure rolls everything back.
  template <class Body>
  Status in_write_transaction(Body&& body) {
    {
      Query begin = use(Sql::begin);
      SIGIL_TRY_STATUS(begin.run());
    }
    Status st = body();
    if (st) {
      Query commit = use(Sql::commit);
      st = commit.run();
    }
    if (!st && sqlite3_get_autocommit(db_.get()) == 0) {
      Query rollback = use(Sql::rollback);
      Status rolled_back = rollback.run();
      if (!rolled_back) {
        return make_error(Errc::storage, st.error().detail + "; then " + rolled_back.error().detail);
      }
    }
    return st;
  }

  // One hit on a rate-limit counter inside the caller's write transaction; rate_limited (nothing
  // changed by this call) once the window's count reached the limit.
  Status take_hit(const RateHit& hit) {
    if (hit.limit <= 0) return make_error(Errc::rate_limited, "rate limit " + hit.key + " is 0");
    {
      Query q = use(Sql::rate_prune);
      q.bind(1, hit.key).bind(2, hit.window_start);
      SIGIL_TRY_STATUS(q.run());
    }
    Query q = use(Sql::rate_take);
    q.bind(1, hit.key).bind(2, hit.window_start).bind(3, hit.limit);
    SIGIL_TRY(bool taken, q.step());
    if (!taken) return make_error(Errc::rate_limited, "rate limit " + hit.key + " reached");
    SIGIL_TRY(bool more, q.step());  // runs the statement to completion
    (void)more;
    return {};
  }

  Status insert_audit(const AuditEntry& e) {
    Query q = use(Sql::insert_audit);
    q.bind(1, e.at).bind(2, e.actor).bind(3, e.action).bind(4, e.target).bind(5, e.outcome);
    q.bind(6, e.detail);
    return q.run();
  }

  // Why an UPDATE guarded by the current status matched no row.
  Status explain_unchanged(const std::string& serial, std::string_view verb) {
    Query q = use(Sql::status_of);
    q.bind(1, serial);
    SIGIL_TRY(bool row, q.step());
    if (!row) return make_error(Errc::not_found, "no certificate with serial " + serial);
    return make_error(Errc::conflict,
                      "cannot " + std::string(verb) + " certificate " + serial + ": it is " + q.text(0));
  }

  // Runs `body`, whose reads then see one snapshot (a record and its child rows agree even while
  // other connections write). The caller holds mu_.
  template <class Body>
  Status in_read_transaction(Body&& body) {
    {
      Query begin = use(Sql::begin_read);
      SIGIL_TRY_STATUS(begin.run());
    }
    Status st = body();
    if (sqlite3_get_autocommit(db_.get()) == 0) {
      Query end = use(Sql::commit);  // ends the read; nothing was written
      Status ended = end.run();
      if (!ended && sqlite3_get_autocommit(db_.get()) == 0) {
        Query rollback = use(Sql::rollback);
        (void)rollback.run();
      }
      if (st && !ended) return ended;
    }
    return st;
  }

  // Why a compare-and-set UPDATE matched no row.
  Status explain_status_changed(Sql status_query, std::string_view kind, const std::string& id,
                                const std::string& expected) {
    Query q = use(status_query);
    q.bind(1, id);
    SIGIL_TRY(bool row, q.step());
    if (!row) return make_error(Errc::not_found, "no " + std::string(kind) + " " + id);
    return make_error(Errc::conflict,
                      std::string(kind) + " " + id + " is " + q.text(0) + ", not " + expected + " as expected");
  }

  // Why an EAB key could not be bound.
  Status explain_eab_unavailable(const std::string& kid) {
    Query q = use(Sql::eab_state);
    q.bind(1, kid);
    SIGIL_TRY(bool row, q.step());
    if (!row) return make_error(Errc::not_found, "no EAB key " + kid);
    if (!q.is_null(1)) return make_error(Errc::conflict, "EAB key " + kid + " is revoked");
    return make_error(Errc::conflict, "EAB key " + kid + " is already bound to an account");
  }

  Status insert_contacts(const std::string& account_id, const std::vector<std::string>& contact) {
    for (std::size_t i = 0; i < contact.size(); ++i) {
      Query q = use(Sql::insert_contact);
      q.bind(1, account_id).bind(2, static_cast<std::int64_t>(i)).bind(3, contact[i]);
      SIGIL_TRY_STATUS(q.run());
    }
    return {};
  }

  Status insert_authorization(const AcmeAuthorization& authz) {
    {
      Query q = use(Sql::insert_authorization);
      q.bind(1, authz.id).bind(2, authz.account_id).bind(3, authz.order_id).bind(4, authz.identifier.type);
      q.bind(5, authz.identifier.value).bind(6, authz.wildcard).bind(7, authz.status).bind(8, authz.expires);
      q.bind(9, authz.token);
      Status st = q.run();
      if (!st) return explain_constraint(st, q.last_rc(), {"authorization " + authz.id + " already exists", ""});
    }
    return insert_challenges(authz);
  }

  Status insert_challenges(const AcmeAuthorization& authz) {
    for (std::size_t i = 0; i < authz.challenges.size(); ++i) {
      const AcmeChallenge& c = authz.challenges[i];
      Query q = use(Sql::insert_challenge);
      q.bind(1, authz.id).bind(2, static_cast<std::int64_t>(i)).bind(3, c.type).bind(4, c.status);
      q.bind(5, c.validated).bind(6, c.error);
      SIGIL_TRY_STATUS(q.run());
    }
    return {};
  }

  Result<std::vector<std::string>> read_strings(Sql id, const std::string& key) {
    Query q = use(id);
    q.bind(1, key);
    std::vector<std::string> out;
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return out;
      out.push_back(q.text(0));
    }
  }

  // The account found by `id` (a SIGIL_ACCOUNT_COLUMNS query keyed by ?1), with its contacts.
  Result<std::optional<AcmeAccount>> read_account(Sql id, const std::string& key) {
    Query q = use(id);
    q.bind(1, key);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<AcmeAccount>{};
    AcmeAccount a;
    a.id = q.text(0);
    a.thumbprint = q.text(1);
    a.jwk = q.text(2);
    a.status = q.text(3);
    a.terms_agreed = q.int64(4) != 0;
    a.eab_kid = q.text(5);  // NULL reads as ""
    a.created_at = q.int64(6);
    SIGIL_TRY(a.contact, read_strings(Sql::contacts_of, a.id));
    return std::optional<AcmeAccount>(std::move(a));
  }

  // The order found by `id` (a SIGIL_ORDER_COLUMNS query keyed by ?1), with its identifiers
  // and authorization ids.
  Result<std::optional<AcmeOrder>> read_order(Sql id, const std::string& key) {
    Query q = use(id);
    q.bind(1, key);
    SIGIL_TRY(bool row, q.step());
    if (!row) return std::optional<AcmeOrder>{};
    SIGIL_TRY(AcmeOrder o, read_order_row(q));
    return std::optional<AcmeOrder>(std::move(o));
  }

  // Reads the current row of a SIGIL_ORDER_COLUMNS query, with its identifiers and authorization ids.
  Result<AcmeOrder> read_order_row(const Query& q) {
    AcmeOrder o;
    o.id = q.text(0);
    o.account_id = q.text(1);
    o.status = q.text(2);
    o.expires = q.int64(3);
    o.not_before = q.optional_int64(4);
    o.not_after = q.optional_int64(5);
    o.profile = q.text(6);
    o.replaces = q.text(7);  // NULL reads as ""
    o.certificate_serial = q.text(8);
    o.error = q.text(9);
    o.created_at = q.int64(10);
    {
      Query ids = use(Sql::order_identifiers);
      ids.bind(1, o.id);
      for (;;) {
        SIGIL_TRY(bool more, ids.step());
        if (!more) break;
        o.identifiers.push_back(AcmeIdentifier{ids.text(0), ids.text(1)});
      }
    }
    SIGIL_TRY(o.authorization_ids, read_strings(Sql::order_authorization_ids, o.id));
    return o;
  }

  // Reads the current row of a SIGIL_AUTHZ_COLUMNS query, and the authorization's challenges.
  Result<AcmeAuthorization> read_authorization(const Query& q) {
    AcmeAuthorization a;
    a.id = q.text(0);
    a.account_id = q.text(1);
    a.order_id = q.text(2);
    a.identifier = AcmeIdentifier{q.text(3), q.text(4)};
    a.wildcard = q.int64(5) != 0;
    a.status = q.text(6);
    a.expires = q.int64(7);
    a.token = q.text(8);
    Query c = use(Sql::challenges_of);
    c.bind(1, a.id);
    for (;;) {
      SIGIL_TRY(bool row, c.step());
      if (!row) return a;
      a.challenges.push_back(AcmeChallenge{c.text(0), c.text(1), c.int64(2), c.text(3)});
    }
  }

  // Reads the current row of a SIGIL_EAB_COLUMNS query, and the key's allowed identifiers.
  Result<EabKey> read_eab_key(const Query& q) {
    EabKey k;
    k.kid = q.text(0);
    k.hmac_key = q.blob(1);
    k.description = q.text(2);
    k.created_at = q.int64(3);
    k.revoked_at = q.optional_int64(4);
    k.account_id = q.text(5);  // NULL reads as ""
    SIGIL_TRY(k.allowed_identifiers, read_strings(Sql::eab_allowed_of, k.kid));
    return k;
  }

  // Reads the current row of a SIGIL_CERT_COLUMNS query, and the row's SANs.
  Result<CertificateRecord> read_certificate(const Query& q) {
    CertificateRecord r;
    r.serial = q.text(0);
    r.issuer_id = q.text(1);
    r.tbs_der = q.blob(2);
    r.der = q.blob(3);
    r.subject = q.text(4);
    r.profile = q.text(5);
    r.requester = q.text(6);
    r.not_before = q.int64(7);
    r.not_after = q.int64(8);
    r.created_at = q.int64(9);
    SIGIL_TRY(r.status, parse_status(q.text(10)));
    if (!q.is_null(11)) r.revoked_at = q.int64(11);
    r.crl_shard = static_cast<int>(q.int64(13));
    if (!q.is_null(12)) {
      const std::int64_t code = q.int64(12);
      if (!is_known_reason(code)) {
        return make_error(Errc::storage,
                          "sqlite: unknown revocation reason " + std::to_string(code) + " for " + r.serial);
      }
      r.revocation_reason = static_cast<RevocationReason>(code);
    }
    Query sans = use(Sql::sans_of);
    sans.bind(1, r.serial);
    for (;;) {
      SIGIL_TRY(bool row, sans.step());
      if (!row) break;
      r.sans.push_back(sans.text(0));
    }
    return r;
  }

  // list() builds its WHERE clause from the filter; each distinct shape is prepared once.
  Result<sqlite3_stmt*> list_statement(const std::string& sql) {
    auto it = list_stmts_.find(sql);
    if (it == list_stmts_.end()) {
      SIGIL_TRY(StmtPtr stmt, prepare(db_.get(), sql, SQLITE_PREPARE_PERSISTENT));
      it = list_stmts_.emplace(sql, std::move(stmt)).first;
    }
    return it->second.get();
  }

  std::mutex reader_mu_;  // guards reader_ and its statement
  DbPtr reader_;          // read-only connection for long scans, opened on first use
  StmtPtr reader_scan_;
  StmtPtr reader_since_;
  StmtPtr reader_all_;
  std::mutex queue_mu_;  // guards the group-commit queue
  std::condition_variable queue_cv_;
  std::vector<WriteOp*> queue_;
  bool leader_active_ = false;
  std::mutex mu_;           // guards the connection and every statement below
  DbPtr db_;                // declared before the statements: destroyed after them
  const std::string path_;  // absolute; backups open their own connection to it
  std::array<StmtPtr, kSql.size()> stmts_;
  std::map<std::string, StmtPtr> list_stmts_;
  std::atomic<std::int64_t> commits_{0};  // write transactions that changed something (diagnostics)
};

#undef SIGIL_CERT_COLUMNS
#undef SIGIL_ACCOUNT_COLUMNS
#undef SIGIL_ORDER_COLUMNS
#undef SIGIL_AUTHZ_COLUMNS
#undef SIGIL_EAB_COLUMNS

// ---- opening: settings and migrations ------------------------------------------------------

Status configure(sqlite3* db) {
  SIGIL_TRY_STATUS(exec(db, "PRAGMA foreign_keys = ON", "cannot enable foreign keys"));
  SIGIL_TRY(const std::int64_t foreign_keys, query_int(db, "PRAGMA foreign_keys"));
  if (foreign_keys != 1) return make_error(Errc::storage, "sqlite: foreign keys unsupported");
  SIGIL_TRY(const std::string mode, query_text(db, "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return make_error(Errc::storage, "sqlite: cannot enable WAL (journal_mode is " + mode + ")");
  }
  return exec(db, "PRAGMA synchronous = FULL", "cannot set synchronous=FULL");
}

constexpr auto kLatestVersion = static_cast<std::int64_t>(kMigrations.size());

// Refuses databases this code must not touch: written by a newer sigil, or not sigil's at all.
Result<std::int64_t> schema_version(sqlite3* db) {
  SIGIL_TRY(const std::int64_t version, query_int(db, "PRAGMA user_version"));
  SIGIL_TRY(const std::int64_t app_id, query_int(db, "PRAGMA application_id"));
  if (app_id != kApplicationId && (app_id != 0 || version != 0)) {
    return make_error(Errc::storage, "sqlite: not a sigil database (application_id " + std::to_string(app_id) + ")");
  }
  if (version > kLatestVersion) {
    return make_error(Errc::storage, "sqlite: database schema version " + std::to_string(version) +
                                         " is newer than this sigil supports (" + std::to_string(kLatestVersion) +
                                         "); upgrade sigil");
  }
  return version;
}

// Moves the schema from version `index` to `index + 1` unless another opener already did.
Status apply_migration(sqlite3* db, std::size_t index) {
  const auto target = static_cast<std::int64_t>(index) + 1;
  SIGIL_TRY(const std::int64_t version, schema_version(db));
  if (version >= target) return {};
  const std::string what = "migration " + std::to_string(target) + " failed";
  SIGIL_TRY_STATUS(exec(db, kMigrations[index], what));
  SIGIL_TRY_STATUS(exec(db, "PRAGMA user_version = " + std::to_string(target), what));
  return exec(db, "PRAGMA application_id = " + std::to_string(kApplicationId), what);
}

Status migrate(sqlite3* db) {
  SIGIL_TRY(const std::int64_t version, schema_version(db));
  if (version == kLatestVersion) return {};
  for (std::size_t i = static_cast<std::size_t>(version); i < kMigrations.size(); ++i) {
    // BEGIN IMMEDIATE: two processes opening a fresh database apply each migration once.
    SIGIL_TRY_STATUS(exec(db, "BEGIN IMMEDIATE", "cannot begin migration"));
    Status st = apply_migration(db, i);
    if (st) st = exec(db, "COMMIT", "cannot commit migration");
    if (!st) {
      if (sqlite3_get_autocommit(db) == 0) {
        Status rolled_back = exec(db, "ROLLBACK", "cannot roll back migration");
        if (!rolled_back) {
          return make_error(Errc::storage, st.error().detail + "; then " + rolled_back.error().detail);
        }
      }
      return st;
    }
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Store>> open(const std::string& path) {
  if (path.empty()) return make_error(Errc::invalid_argument, "database path is empty");
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (ec) return make_error(Errc::io, "cannot resolve " + path + ": " + ec.message());
  SIGIL_TRY_STATUS(create_private_file(absolute, /*must_be_new=*/false));
  SIGIL_TRY(DbPtr db, open_connection(absolute.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  SIGIL_TRY_STATUS(configure(db.get()));
  SIGIL_TRY_STATUS(migrate(db.get()));
  auto store = std::make_unique<SqliteStore>(std::move(db), absolute.string());
  SIGIL_TRY_STATUS(store->prepare_statements());
  return std::unique_ptr<Store>(std::move(store));
}

Result<ConnectionSettings> connection_settings(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) {
    return make_error(Errc::invalid_argument, "not a SQLite store");
  }
  return sqlite_store->settings();
}

Result<std::int64_t> write_commits(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) {
    return make_error(Errc::invalid_argument, "not a SQLite store");
  }
  return sqlite_store->write_commits();
}

}  // namespace sigil::store::sqlite
