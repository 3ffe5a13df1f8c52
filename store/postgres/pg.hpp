#pragma once
// Private to store/postgres: libpq behind small RAII types. Statements are sent with
// parameters (never spliced into SQL text), prepared once per connection, results in text form.
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/base/file.hpp"

namespace sigil::store::postgres::detail {

// ---- parameters ------------------------------------------------------------------------------

// Values for $1, $2, ... in order. Text format, except Bytes, sent as binary bytea.
class Params {
 public:
  Params() = default;
  Params& add(std::int64_t v);
  Params& add(int v) { return add(static_cast<std::int64_t>(v)); }
  Params& add(bool v);
  Params& add(std::string_view v);
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const Bytes& v);
  Params& add(const std::optional<std::int64_t>& v) { return v ? add(*v) : add_null(); }
  Params& add_null();
  // An empty string as NULL (optional references: a foreign key or a partial index wants NULL).
  Params& add_or_null(const std::string& v) { return v.empty() ? add_null() : add(v); }

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  std::deque<std::string> storage_;  // stable addresses
  std::vector<bool> null_;
  mutable std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// ---- results ---------------------------------------------------------------------------------

struct ClearResult {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ClearResult>;

// The rows of one statement (text format).
class Rows {
 public:
  explicit Rows(ResultPtr r) : r_(std::move(r)) {}
  int size() const { return PQntuples(r_.get()); }
  bool empty() const { return size() == 0; }
  std::int64_t affected() const;  // rows an INSERT/UPDATE/DELETE touched
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const;
  std::int64_t int64(int row, int col) const;
  std::optional<std::int64_t> optional_int64(int row, int col) const;
  bool boolean(int row, int col) const;  // "t" / "f"
  Bytes bytes(int row, int col) const;   // bytea ("\x..." hex text)

 private:
  ResultPtr r_;
};

// ---- errors ----------------------------------------------------------------------------------

// What a failed statement means to the caller: SQLSTATE 23505 (unique) -> already_exists,
// 23503 (foreign key) -> not_found, 40001/40P01 (serialization, deadlock) -> conflict with
// `retryable`, class 08 / 57P0x / 25006 (connection lost, shutdown, read-only: a failover) and a
// broken connection -> unavailable; anything else -> storage. The SQL detail goes to the log.
struct PgError {
  Error error;
  std::string sqlstate;
  std::string constraint;  // the violated constraint's name, when one was
  bool retryable = false;
};

// ---- one connection --------------------------------------------------------------------------

// A SQL statement with a stable name: prepared once per connection on first use.
struct Statement {
  const char* name;  // unique, e.g. "find_certificate"
  const char* what;  // for error details
  const char* sql;
};

class Conn {
 public:
  explicit Conn(PGconn* c) : c_(c) {}
  ~Conn() { PQfinish(c_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // A prepared statement with parameters.
  Result<Rows> run(const Statement& st, const Params& params = {});
  // Text without parameters (BEGIN, COMMIT, migrations); may hold several statements.
  Status exec(std::string_view sql, std::string_view what);
  // Ad-hoc SQL with parameters (unprepared: statements whose text varies, e.g. list filters).
  Result<Rows> query(const std::string& sql, const Params& params, std::string_view what);
  // The last failure in detail (SQLSTATE, constraint), for callers that explain constraints.
  const std::optional<PgError>& last_error() const { return last_error_; }
  bool broken() const { return broken_ || PQstatus(c_) != CONNECTION_OK; }
  PGconn* raw() { return c_; }

 private:
  Result<Rows> check(PGresult* r, std::string_view what);
  PGconn* c_;
  // Name -> the SQL prepared under it: one name used for two texts is a programmer error that
  // would otherwise run the wrong statement silently (the files of store/postgres name their own).
  std::unordered_map<std::string, std::string> prepared_;
  std::optional<PgError> last_error_;
  bool broken_ = false;
};

// ---- the pool --------------------------------------------------------------------------------

struct ConnectOptions {
  std::string url;
  std::string password;
  int connect_timeout_s = 5;
};

Result<std::unique_ptr<Conn>> connect(const ConnectOptions& o);

class Pool;
// A connection borrowed from the pool; returned on destruction (dropped if broken).
class Lease {
 public:
  Lease(Pool* pool, std::unique_ptr<Conn> c) : pool_(pool), c_(std::move(c)) {}
  Lease(Lease&&) = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  Conn& operator*() { return *c_; }
  Conn* operator->() { return c_.get(); }

 private:
  Pool* pool_;
  std::unique_ptr<Conn> c_;
};

class Pool {
 public:
  Pool(ConnectOptions o, int size) : options_(std::move(o)), size_(size) {}
  // A live connection: an idle one, else a new one while fewer than `size` are out, else waits
  // up to the connect timeout. unavailable when the database cannot be reached.
  Result<Lease> acquire();
  const ConnectOptions& options() const { return options_; }

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Conn> c);
  ConnectOptions options_;
  int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int out_ = 0;
};

// ---- transactions ----------------------------------------------------------------------------

enum class Isolation { read_committed, repeatable_read, serializable };

// Runs `body` in one transaction on a pooled connection: BEGIN at `level`, COMMIT; any failure
// rolls back. A serialization failure or deadlock reruns the whole body (up to 5 times), so a
// body must only read and write through its connection. A body's own refusal (not_found,
// conflict, ...) is returned as is.
Status transaction(Pool& pool, Isolation level, const std::function<Status(Conn&)>& body);
// One statement outside an explicit transaction (autocommit), for reads.
Result<Rows> read(Pool& pool, const Statement& st, const Params& params = {});

// Streams the rows of `select` to `fn` (row by row, in the statement's order) through a
// server-side cursor fetched `batch` rows at a time, so a million rows are never held in memory
// at once. The cursor lives in a REPEATABLE READ, READ ONLY transaction: every batch comes from
// one snapshot, and the reader blocks no writer. Not retried (rows already handed out would be
// handed out twice); `fn`'s own refusal stops the stream and is returned as is.
Status stream(Pool& pool, const Statement& select, const Params& params, int batch,
              const std::function<Status(const Rows&, int row)>& fn);

}  // namespace sigil::store::postgres::detail
