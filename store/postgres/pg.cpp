#include "store/postgres/pg.hpp"

#include <charconv>
#include <cstring>
#include <thread>

namespace sigil::store::postgres::detail {

// ---- parameters ------------------------------------------------------------------------------

Params& Params::add(std::int64_t v) {
  storage_.push_back(std::to_string(v));
  null_.push_back(false);
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

Params& Params::add(bool v) { return add(std::string_view(v ? "true" : "false")); }

Params& Params::add(std::string_view v) {
  storage_.emplace_back(v);
  null_.push_back(false);
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

Params& Params::add(const Bytes& v) {
  storage_.emplace_back(reinterpret_cast<const char*>(v.data()), v.size());
  null_.push_back(false);
  lengths_.push_back(static_cast<int>(v.size()));
  formats_.push_back(1);  // binary: the bytes as they are
  return *this;
}

Params& Params::add_null() {
  storage_.emplace_back();
  null_.push_back(true);
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

const char* const* Params::values() const {
  values_.clear();
  for (std::size_t i = 0; i < storage_.size(); ++i) values_.push_back(null_[i] ? nullptr : storage_[i].c_str());
  return values_.data();
}

// ---- results ---------------------------------------------------------------------------------

std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_.get());
  std::int64_t v = 0;
  if (n != nullptr && *n != '\0') std::from_chars(n, n + std::strlen(n), v);
  return v;
}

std::string Rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::int64_t Rows::int64(int row, int col) const {
  const char* p = PQgetvalue(r_.get(), row, col);
  std::int64_t v = 0;
  std::from_chars(p, p + PQgetlength(r_.get(), row, col), v);
  return v;
}

std::optional<std::int64_t> Rows::optional_int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int64(row, col);
}

bool Rows::boolean(int row, int col) const {
  const char* p = PQgetvalue(r_.get(), row, col);
  return p != nullptr && p[0] == 't';
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Bytes Rows::bytes(int row, int col) const {
  // bytea_output = hex (the default since 9.0): "\x" then two hex digits per byte.
  const char* p = PQgetvalue(r_.get(), row, col);
  const int n = PQgetlength(r_.get(), row, col);
  Bytes out;
  if (n < 2 || p[0] != '\\' || p[1] != 'x') return out;
  out.reserve(static_cast<std::size_t>(n - 2) / 2);
  for (int i = 2; i + 1 < n; i += 2) {
    const int hi = hex_value(p[i]), lo = hex_value(p[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

// ---- errors ----------------------------------------------------------------------------------

namespace {
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Connection lost, server shutting down, or a standby that cannot write: the request may be
// retried once the (new) primary answers.
bool is_unavailable(std::string_view state) {
  return starts_with(state, "08") || state == "57P01" || state == "57P02" || state == "57P03" || state == "25006" ||
         state == "53300";
}

PgError classify(PGconn* c, const PGresult* r, std::string_view what) {
  PgError e;
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* constraint = r != nullptr ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : nullptr;
  e.sqlstate = state != nullptr ? state : "";
  e.constraint = constraint != nullptr ? constraint : "";
  std::string message = r != nullptr ? PQresultErrorMessage(r) : "";
  if (message.empty()) message = PQerrorMessage(c);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const std::string detail = "postgresql: " + std::string(what) + ": " + message;
  Errc code = Errc::storage;
  if (e.sqlstate == "23505") {
    code = Errc::already_exists;
  } else if (e.sqlstate == "23503") {
    code = Errc::not_found;
  } else if (e.sqlstate == "40001" || e.sqlstate == "40P01") {
    code = Errc::conflict;
    e.retryable = true;
  } else if (is_unavailable(e.sqlstate) || PQstatus(c) != CONNECTION_OK) {
    code = Errc::unavailable;
  }
  e.error = make_error(code, detail);
  return e;
}
}  // namespace

// ---- one connection --------------------------------------------------------------------------

Result<Rows> Conn::check(PGresult* raw, std::string_view what) {
  ResultPtr r(raw);
  const ExecStatusType s = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
    last_error_.reset();
    return Rows(std::move(r));
  }
  PgError e = classify(c_, r.get(), what);
  if (e.error.code == Errc::unavailable) broken_ = true;  // never reuse: it may be mid-failover
  last_error_ = e;
  return std::move(e.error);
}

Result<Rows> Conn::run(const Statement& st, const Params& params) {
  const auto it = prepared_.find(st.name);
  if (it == prepared_.end()) {
    SIGIL_TRY(Rows ignored, check(PQprepare(c_, st.name, st.sql, 0, nullptr), st.what));
    (void)ignored;
    prepared_.emplace(st.name, st.sql);
  } else if (it->second != st.sql) {
    return make_error(Errc::internal, std::string("postgresql: statement name '") + st.name + "' names two statements");
  }
  return check(PQexecPrepared(c_, st.name, params.size(), params.values(), params.lengths(), params.formats(), 0),
               st.what);
}

Status Conn::exec(std::string_view sql, std::string_view what) {
  const std::string text(sql);
  SIGIL_TRY(Rows ignored, check(PQexec(c_, text.c_str()), what));
  (void)ignored;
  return {};
}

Result<Rows> Conn::query(const std::string& sql, const Params& params, std::string_view what) {
  return check(
      PQexecParams(c_, sql.c_str(), params.size(), nullptr, params.values(), params.lengths(), params.formats(), 0),
      what);
}

// ---- the pool --------------------------------------------------------------------------------

namespace {
void quiet_notices(void*, const char*) {}  // NOTICEs (e.g. "relation exists, skipping") are not errors
}  // namespace

Result<std::unique_ptr<Conn>> connect(const ConnectOptions& o) {
  const std::string timeout = std::to_string(o.connect_timeout_s);
  // Defaults first: the URL's own settings (expanded from "dbname") override them. TCP keepalives
  // and a user timeout notice a primary that vanished without closing its sockets (a failover
  // by power loss) within ~15 s instead of the kernel's hours.
  std::vector<const char*> keys{"connect_timeout",  "keepalives",       "keepalives_idle",  "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", "application_name", "dbname"};
  std::vector<const char*> values{timeout.c_str(), "1", "5", "2", "3", "15000", "sigil", o.url.c_str()};
  if (!o.password.empty()) {
    keys.push_back("password");
    values.push_back(o.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // expand_dbname: "dbname" holds the URI; a later keyword (the password) overrides it.
  auto c = std::make_unique<Conn>(PQconnectdbParams(keys.data(), values.data(), 1));
  if (c->raw() == nullptr) return make_error(Errc::unavailable, "postgresql: out of memory connecting");
  if (PQstatus(c->raw()) != CONNECTION_OK) {
    std::string message = PQerrorMessage(c->raw());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return make_error(Errc::unavailable, "postgresql: cannot connect: " + message);
  }
  PQsetNoticeProcessor(c->raw(), quiet_notices, nullptr);
  return c;
}

Lease::~Lease() {
  if (pool_ != nullptr && c_) pool_->give_back(std::move(c_));
}

Result<Lease> Pool::acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.connect_timeout_s);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Conn> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->broken()) continue;  // dropped: a failover closed it
      ++out_;
      return Lease(this, std::move(c));
    }
    if (out_ < size_) {
      ++out_;
      lock.unlock();
      auto c = connect(options_);
      if (!c) {
        std::lock_guard relock(mu_);
        --out_;
        cv_.notify_one();
        return std::move(c).error();
      }
      return Lease(this, std::move(*c));
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && out_ >= size_) {
      return make_error(Errc::unavailable, "postgresql: no free connection within the connect timeout");
    }
  }
}

void Pool::give_back(std::unique_ptr<Conn> c) {
  std::lock_guard lock(mu_);
  --out_;
  // A connection left inside a transaction (a failed ROLLBACK) or broken is not reused.
  if (!c->broken() && PQtransactionStatus(c->raw()) == PQTRANS_IDLE) idle_.push_back(std::move(c));
  cv_.notify_one();
}

// ---- transactions ----------------------------------------------------------------------------

namespace {
const char* begin_sql(Isolation level) {
  switch (level) {
    case Isolation::repeatable_read:
      return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case Isolation::serializable:
      return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case Isolation::read_committed:
      break;
  }
  return "BEGIN ISOLATION LEVEL READ COMMITTED";
}
constexpr int kAttempts = 5;
}  // namespace

Status transaction(Pool& pool, Isolation level, const std::function<Status(Conn&)>& body) {
  for (int attempt = 1;; ++attempt) {
    SIGIL_TRY(Lease conn, pool.acquire());
    Status st = conn->exec(begin_sql(level), "begin transaction");
    if (st) st = body(*conn);
    if (st) st = conn->exec("COMMIT", "commit");
    if (st) return st;
    const bool retry = conn->last_error() && conn->last_error()->retryable && attempt < kAttempts;
    if (!conn->broken() && PQtransactionStatus(conn->raw()) != PQTRANS_IDLE) {
      (void)conn->exec("ROLLBACK", "roll back");
    }
    if (!retry) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * attempt));
  }
}

Result<Rows> read(Pool& pool, const Statement& st, const Params& params) {
  SIGIL_TRY(Lease conn, pool.acquire());
  return conn->run(st, params);
}

Status stream(Pool& pool, const Statement& select, const Params& params, int batch,
              const std::function<Status(const Rows&, int row)>& fn) {
  SIGIL_TRY(Lease conn, pool.acquire());
  Status st = conn->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin read");
  if (st) {
    // DECLARE takes the statement's parameters (extended protocol); its text varies with the
    // statement, so it is not prepared. FETCH is the same text for every batch.
    const std::string declare = std::string("DECLARE sigil_stream NO SCROLL CURSOR FOR ") + select.sql;
    auto declared = conn->query(declare, params, select.what);
    if (!declared) st = declared.error();
  }
  const std::string fetch = "FETCH FORWARD " + std::to_string(batch) + " FROM sigil_stream";
  while (st) {
    auto rows = conn->query(fetch, Params(), select.what);
    if (!rows) {
      st = rows.error();
      break;
    }
    for (int i = 0; st && i < rows->size(); ++i) st = fn(*rows, i);
    if (rows->size() < batch) break;
  }
  // COMMIT also closes the cursor; after a failure ROLLBACK does.
  if (st) return conn->exec("COMMIT", "end read");
  if (!conn->broken() && PQtransactionStatus(conn->raw()) != PQTRANS_IDLE) (void)conn->exec("ROLLBACK", "roll back");
  return st;
}

}  // namespace sigil::store::postgres::detail
