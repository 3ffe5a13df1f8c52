#pragma once
// Private to store/sqlite: what the files of the SQLite store share (connection handles, the
// statement table, the store class). Nothing outside store/sqlite includes it.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
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
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "store/sqlite/sqlite_store_internal.hpp"
#include "store/store_internal.hpp"

namespace sigil::store::sqlite::detail {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;
constexpr int kMaxLimit = 1000;
constexpr int kBackupRetries = 500;  // x 10 ms, on top of the busy timeout

// ---- RAII for the C API --------------------------------------------------------------------

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

Error db_error(sqlite3* db, std::string_view what);
Result<DbPtr> open_connection(const std::string& path, int flags);
Result<StmtPtr> prepare(sqlite3* db, std::string_view sql, unsigned flags = 0);
Status exec(sqlite3* db, std::string_view sql, std::string_view what);

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

Result<std::string> query_text(sqlite3* db, std::string_view sql);
Result<std::int64_t> query_int(sqlite3* db, std::string_view sql);

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
  heartbeat,
  nodes,
  size_,
};

struct SqlText {
  Sql id;
  std::string_view what;  // for error details
  std::string_view sql;
};

// The statement text of each Sql, in enum order (statements.cpp).
extern const std::array<SqlText, static_cast<std::size_t>(Sql::size_)> kSql;

// ---- conversions ---------------------------------------------------------------------------

using internal::is_known_reason;
using internal::is_sha256_hex;
using internal::parse_status;
// What a failed INSERT or UPDATE means to the caller when a constraint refused it.
struct ConstraintDetails {
  std::string taken;    // a unique key (primary key, thumbprint, kid) is taken: already_exists
  std::string missing;  // a referenced row does not exist: not_found
};
Status explain_constraint(const Status& failed, int rc, const ConstraintDetails& d);

// ---- files (backup.cpp) ---------------------------------------------------------------------

// Creates `path` empty with mode 0600 if it does not exist yet; SQLite would create it with
// 0644 & ~umask. The -wal and -shm files inherit the database file's mode.
Status create_private_file(const fs::path& path, bool must_be_new);

// ---- the store -----------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  SqliteStore(DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  ~SqliteStore() override;
  Status prepare_statements();
  Status reserve(const PendingCertificate& p, const AuditEntry& audit) override;
  Status complete(const std::string& serial, const Bytes& der, const AuditEntry& audit) override;
  Result<std::optional<CertificateRecord>> find(const std::string& serial) override;
  Result<Page> list(const ListFilter& filter) override;
  Status revoke(const std::string& serial, std::int64_t at, RevocationReason reason, const std::string& key_sha256,
                const AuditEntry& audit) override;
  Result<std::optional<BlockedKey>> blocked_key(const std::string& key_sha256) override;
  Status append(const AuditEntry& entry) override;
  Result<std::vector<AuditEntry>> recent(int limit) override;
  Result<AuditPage> audit_page(const AuditFilter& filter) override;
  Result<std::int64_t> count_audit(const AuditFilter& filter) override;
  Result<std::vector<std::int64_t>> expiring_per_day(std::int64_t now, int days) override;
  Status backup(const std::string& path, const BackupProgress& progress = {}) override;
  Status for_each_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min,
                          const std::function<Status(const RevokedSerial&)>& fn) override;
  Status for_each_revoked_since(const std::string& issuer_id, int shard, std::int64_t sequence,
                                std::int64_t not_after_min,
                                const std::function<Status(const RevokedSerial&)>& fn) override;
  static Status stream_revoked(Query& q, const std::function<Status(const RevokedSerial&)>& fn);
  Status for_each_certificate(const std::string& issuer_id, std::int64_t not_after_min,
                              const std::function<Status(const RevokedSerial&, bool revoked)>& fn) override;
  Status open_reader();
  Result<std::int64_t> count_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min) override;
  Result<std::vector<int>> crl_shards(const std::string& issuer_id, std::int64_t not_after_min) override;
  Result<std::vector<int>> revoked_shards_since(const std::string& issuer_id, std::int64_t sequence) override;
  static Result<std::vector<int>> read_shards(Query& q);
  Result<std::int64_t> revocation_sequence() override;
  Result<std::vector<std::pair<std::string, std::int64_t>>> revoked_since(std::int64_t sequence, int limit) override;
  Result<std::int64_t> next_crl_number(const std::string& issuer_id, int shard) override;
  Status save_crl(const CrlRecord& crl) override;
  Result<std::optional<CrlRecord>> latest_crl(const std::string& issuer_id, int shard, bool delta) override;
  Result<std::optional<std::int64_t>> latest_crl_this_update(const std::string& issuer_id, int shard,
                                                             bool delta) override;
  Result<std::vector<CrlRecord>> list_crls(const std::string& issuer_id) override;
  // The current row of latest_crl / list_crls.
  static CrlRecord read_crl(const Query& q, const std::string& issuer_id);
  // ---- ACME ----

  Status create_account(const AcmeAccount& a, const AuditEntry& audit) override;
  Result<std::optional<AcmeAccount>> account(const std::string& id) override;
  Result<std::optional<AcmeAccount>> account_by_thumbprint(const std::string& thumbprint) override;
  Status update_account(const AcmeAccount& a, const AcmeAccount& expected, const AuditEntry& audit) override;
  Result<std::vector<AcmeAccount>> list_accounts() override;
  Status create_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations,
                      const AuditEntry& audit, const std::optional<RateHit>& rate) override;
  Result<std::optional<AcmeOrder>> order(const std::string& id) override;
  Status update_order(const AcmeOrder& order, OrderStatus expected_status) override;
  Result<std::optional<AcmeOrder>> order_replacing(const std::string& replaces) override;
  Result<std::vector<AcmeOrder>> orders_of_account(const std::string& account_id, std::int64_t now,
                                                   const std::optional<AcmeOrderCursor>& after, int limit) override;
  Result<std::optional<AcmeAuthorization>> authorization(const std::string& id) override;
  Status update_authorization(const AcmeAuthorization& authz, AuthorizationStatus expected_status,
                              const AuditEntry* audit, const std::optional<RateHit>& rate) override;
  Result<std::optional<AcmeAuthorization>> reusable_authorization(const std::string& account_id,
                                                                  const AcmeIdentifier& identifier, bool wildcard,
                                                                  std::int64_t expires_after) override;
  Result<std::vector<AcmeAuthorization>> authorizations_of_order(const std::string& order_id) override;
  Status create_eab_key(const EabKey& key, const AuditEntry& audit) override;
  Result<std::optional<EabKey>> eab_key(const std::string& kid) override;
  Result<std::vector<EabKey>> list_eab_keys() override;
  Status revoke_eab_key(const std::string& kid, std::int64_t at, const AuditEntry& audit) override;
  Result<bool> rate_take(const std::string& key, std::int64_t window_start, std::int64_t limit) override;
  Result<std::int64_t> rate_count(const std::string& key, std::int64_t window_start) override;
  Result<std::int64_t> flag_for_renewal(const std::optional<std::string>& serial,
                                        std::optional<std::int64_t> issued_before, std::int64_t at,
                                        const AuditEntry& audit) override;
  Result<std::optional<std::int64_t>> renewal_flagged_at(const std::string& serial) override;
  Result<bool> spend_nonce(const std::string& nonce, std::int64_t expires_at, std::int64_t now) override;
  Status heartbeat(const NodeRecord& node) override;
  Result<std::vector<NodeRecord>> nodes(std::int64_t seen_since) override;
  Result<bool> hold_crl_signer(const std::string& issuer_id, int shard) override;
  Engine engine() const override { return Engine::sqlite; }
  Result<std::string> integrity_check() override;
  Result<std::int64_t> count() override;
  Result<std::int64_t> count_matching(const ListFilter& filter) override;
  std::int64_t write_commits() const { return commits_.load(std::memory_order_relaxed); }
  std::int64_t wal_syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // fdatasync of the WAL file through a descriptor of our own (fsync acts on the file, not the
  // descriptor that wrote it); reopened when the file was replaced. One caller at a time.
  Status sync_wal(bool missing_ok);
  Result<ConnectionSettings> settings();

 private:
  Query use(Sql id) {
    const auto i = static_cast<std::size_t>(id);
    return Query(db_.get(), stmts_[i].get(), kSql[i].what);
  }
  // Group commit (group_commit.cpp): concurrent writers queue their changes; one of them (the
  // leader) runs every queued change in a single transaction, each inside its own savepoint so
  // one refusal undoes only itself. The connection runs synchronous=NORMAL, so COMMIT writes
  // the WAL without an fsync; when the batch holds a durable change the leader then runs one
  // fdatasync of the WAL (outside mu_), and the durable changes return after it. A deferred
  // change returns at its commit: it survives a process crash (the WAL is written), and the
  // next durable commit makes it durable too, but power lost before that may undo it.
  enum class Durability { durable, deferred };
  struct WriteOp {
    std::function<Status()> body;
    Durability durability = Durability::durable;
    Status result;
    enum class State { queued, lead, done } state = State::queued;
    std::condition_variable wake;  // waited on with queue_mu_; notified with it held
  };
  Status group_write(std::function<Status()> body, Durability durability = Durability::durable);
  void lead_batch(std::unique_lock<std::mutex>& ql);
  void run_batch(std::vector<WriteOp*>& batch);
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
  Status take_hit(const RateHit& hit);
  Status insert_audit(const AuditEntry& e);
  // Why an UPDATE guarded by the current status matched no row.
  Status explain_unchanged(const std::string& serial, std::string_view verb);
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
                                std::string_view expected);
  // Why an EAB key could not be bound.
  Status explain_eab_unavailable(const std::string& kid);
  Status insert_contacts(const std::string& account_id, const std::vector<std::string>& contact);
  Status insert_authorization(const AcmeAuthorization& authz);
  Status insert_challenges(const AcmeAuthorization& authz);
  Result<std::vector<std::string>> read_strings(Sql id, const std::string& key);
  // The account found by `id` (a SIGIL_ACCOUNT_COLUMNS query keyed by ?1), with its contacts.
  Result<std::optional<AcmeAccount>> read_account(Sql id, const std::string& key);
  // The order found by `id` (a SIGIL_ORDER_COLUMNS query keyed by ?1), with its identifiers
  // and authorization ids.
  Result<std::optional<AcmeOrder>> read_order(Sql id, const std::string& key);
  // Reads the current row of a SIGIL_ORDER_COLUMNS query, with its identifiers and authorization ids.
  Result<AcmeOrder> read_order_row(const Query& q);
  // Reads the current row of a SIGIL_AUTHZ_COLUMNS query, and the authorization's challenges.
  Result<AcmeAuthorization> read_authorization(const Query& q);
  // Reads the current row of a SIGIL_EAB_COLUMNS query, and the key's allowed identifiers.
  Result<EabKey> read_eab_key(const Query& q);
  // Reads the current row of a SIGIL_CERT_COLUMNS query, and the row's SANs.
  Result<CertificateRecord> read_certificate(const Query& q);
  // list() builds its WHERE clause from the filter; each distinct shape is prepared once.
  Result<sqlite3_stmt*> list_statement(const std::string& sql);
  // One of store_internal's ad hoc statements (cached by its text, like list's), `row` per row.
  // The caller holds mu_.
  Status run_ad_hoc(const internal::ListSql& sql, const char* what, const std::function<void(const Query&)>& row);
  std::mutex reader_mu_;  // guards reader_ and its statement
  DbPtr reader_;          // read-only connection for long scans, opened on first use
  StmtPtr reader_scan_;
  StmtPtr reader_since_;
  StmtPtr reader_all_;
  std::mutex queue_mu_;  // guards the group-commit queue and every queued WriteOp
  std::vector<WriteOp*> queue_;
  bool leader_active_ = false;
  std::optional<Error> sync_failed_;  // a failed fdatasync: the kernel may have dropped the pages
  int wal_fd_ = -1;                   // used by the sync leader only
  ino_t wal_ino_ = 0;
  std::mutex mu_;           // guards the connection and every statement below
  DbPtr db_;                // declared before the statements: destroyed after them
  const std::string path_;  // absolute; backups open their own connection to it
  std::array<StmtPtr, static_cast<std::size_t>(Sql::size_)> stmts_;
  std::map<std::string, StmtPtr> list_stmts_;
  std::mutex nonce_mu_;  // guards the spent nonces (one process serves a SQLite database)
  // Spent nonces by expiry second, each as a 64-bit hash of its text (see cluster.cpp): a
  // nonce's expiry is part of it, so a lookup reads one bucket, and expired buckets go whole.
  std::map<std::int64_t, std::unordered_set<std::uint64_t>> spent_nonces_;
  std::size_t spent_count_ = 0;
  std::atomic<std::int64_t> commits_{0};  // write transactions that changed something (diagnostics)
  std::atomic<std::int64_t> syncs_{0};    // fdatasyncs of the WAL (diagnostics)
};

}  // namespace sigil::store::sqlite::detail
