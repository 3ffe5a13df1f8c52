// The PostgreSQL side of a table-level copy: one transaction that locks the copied tables,
// refuses a database holding any of their rows, streams each table with COPY FROM STDIN (text
// format), and reads back what the verification compares.
#include "store/postgres/postgres_internal.hpp"
#include "store/postgres/postgres_transfer.hpp"

namespace sigil::store::postgres {
namespace detail {
namespace {

using transfer::Table;
using transfer::Type;
using transfer::Value;

constexpr std::size_t kCopyChunk = 1 << 20;  // bytes handed to libpq at a time
constexpr int kFetchRows = 1000;             // certificates read back per FETCH

std::string quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

std::string table_list() {
  std::string out;
  for (const Table& t : transfer::tables()) out += (out.empty() ? "" : ", ") + quoted(t.name);
  return out;
}

// COPY's text format: backslash, newline, carriage return and tab escaped; \N is NULL.
void append_text(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
}

void append_bytea(std::string& out, const Bytes& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\\\x";  // bytea's hex input "\x...", its backslash escaped for COPY
  for (const std::uint8_t byte : b) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0x0f];
  }
}

Status wrong_type(const Table& t, std::size_t col) {
  return make_error(Errc::internal, "copy: a value of the wrong type for " + std::string(t.name) + "." +
                                        std::string(t.columns[col].name));
}

// One value in COPY text format, checked against the column's declared type.
Status append_value(std::string& out, const Table& t, std::size_t col, const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    out += "\\N";
    return {};
  }
  switch (t.columns[col].type) {
    case Type::integer:
      if (!std::holds_alternative<std::int64_t>(v)) return wrong_type(t, col);
      out += std::to_string(std::get<std::int64_t>(v));
      return {};
    case Type::boolean: {
      const auto* b = std::get_if<std::int64_t>(&v);
      if (b == nullptr || (*b != 0 && *b != 1)) return wrong_type(t, col);
      out += *b == 1 ? "t" : "f";
      return {};
    }
    case Type::text:
      if (!std::holds_alternative<std::string>(v)) return wrong_type(t, col);
      append_text(out, std::get<std::string>(v));
      return {};
    case Type::blob:
      if (!std::holds_alternative<Bytes>(v)) return wrong_type(t, col);
      append_bytea(out, std::get<Bytes>(v));
      return {};
  }
  return wrong_type(t, col);
}

std::string trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

// A deferred column's value, set once every table is in.
struct DeferredValue {
  const Table* table;
  std::size_t column;
  std::string key;
  std::string value;
};

class PgTarget final : public transfer::Target {
 public:
  explicit PgTarget(Lease lease) : lease_(std::move(lease)) {}
  ~PgTarget() override { rollback(); }

  Status begin() override {
    SIGIL_TRY_STATUS(conn().exec("BEGIN ISOLATION LEVEL READ COMMITTED", "begin the copy"));
    // A node already serving this database would wait for the copy rather than interleave with
    // it; a lock it holds for long makes the copy fail instead of hang.
    SIGIL_TRY_STATUS(conn().exec("SET LOCAL lock_timeout = '10s'; SET LOCAL client_encoding = 'UTF8'; LOCK TABLE " +
                                     table_list() + " IN EXCLUSIVE MODE",
                                 "lock the tables of the copy"));
    for (const Table& t : transfer::tables()) {
      SIGIL_TRY(Rows r, conn().query("SELECT EXISTS (SELECT 1 FROM " + quoted(t.name) + ")", Params(),
                                     "check that the target is empty"));
      if (r.boolean(0, 0)) {
        return make_error(Errc::conflict, "the target database is not empty (table " + std::string(t.name) +
                                              " has rows): sigil migrate copies into an empty database only");
      }
    }
    return {};
  }

  Status write(const Table& t, const std::function<Status(const transfer::RowFn&)>& fill) override {
    std::string sql = "COPY " + quoted(t.name) + " (";
    for (std::size_t i = 0; i < t.columns.size(); ++i) sql += (i == 0 ? "" : ", ") + quoted(t.columns[i].name);
    sql += ") FROM STDIN";
    PGconn* c = conn().raw();
    {
      ResultPtr r(PQexec(c, sql.c_str()));
      if (!r || PQresultStatus(r.get()) != PGRES_COPY_IN) return copy_error(t, r.get());
    }
    std::string buf;
    Status st = fill([&](const transfer::Row& row) -> Status {
      if (row.size() != t.columns.size()) return wrong_type(t, 0);
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (i != 0) buf += '\t';
        if (t.columns[i].deferred && !std::holds_alternative<std::monostate>(row[i])) {
          const auto* key = std::get_if<std::string>(&row[0]);
          const auto* value = std::get_if<std::string>(&row[i]);
          if (key == nullptr || value == nullptr) return wrong_type(t, i);
          deferred_.push_back({&t, i, *key, *value});
          buf += "\\N";
          continue;
        }
        SIGIL_TRY_STATUS(append_value(buf, t, i, row[i]));
      }
      buf += '\n';
      if (buf.size() >= kCopyChunk) return put(t, buf);
      return {};
    });
    if (st && !buf.empty()) st = put(t, buf);
    // Ending the COPY with an error message makes the server discard it (and fail the
    // transaction, which the caller rolls back).
    const int ended = PQputCopyEnd(c, st ? nullptr : "copy abandoned by sigil");
    Status result = ended == 1 ? Status{} : copy_error(t, nullptr);
    while (PGresult* raw = PQgetResult(c)) {
      ResultPtr r(raw);
      if (result && PQresultStatus(r.get()) != PGRES_COMMAND_OK) result = copy_error(t, r.get());
    }
    return st ? result : st;
  }

  Status finish() override {
    for (const DeferredValue& d : deferred_) {
      const std::string sql = "UPDATE " + quoted(d.table->name) + " SET " + quoted(d.table->columns[d.column].name) +
                              " = $2 WHERE " + quoted(d.table->columns[0].name) + " = $1";
      SIGIL_TRY(Rows r, conn().query(sql, Params().add(d.key).add(d.value), "set a deferred reference"));
      if (r.affected() != 1) return make_error(Errc::storage, "copy: " + std::string(d.table->name) + " " + d.key);
    }
    // New audit rows continue after the copied ids; new revocations after the copied sequence.
    SIGIL_TRY(Rows audit, conn().query("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
                                       "COALESCE(MAX(id), 0) + 1, false) FROM audit_log",
                                       Params(), "move the audit log's identity past the copied ids"));
    (void)audit;
    SIGIL_TRY(Rows seq, conn().query("UPDATE revocation_counter SET last = "
                                     "(SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates) WHERE id = 1",
                                     Params(), "set the revocation counter"));
    if (seq.affected() != 1) return make_error(Errc::storage, "postgresql: revocation_counter has no row");
    return {};
  }

  Result<std::int64_t> count(const Table& t) override {
    SIGIL_TRY(Rows r, conn().query("SELECT count(*) FROM " + quoted(t.name), Params(), "count the copied rows"));
    return r.int64(0, 0);
  }

  Status certificates(const transfer::CertificateFn& fn) override {
    SIGIL_TRY_STATUS(
        conn().exec("DECLARE sigil_copy_check NO SCROLL CURSOR FOR "
                    "SELECT serial, der FROM certificates ORDER BY serial COLLATE \"C\"",
                    "read back the certificates"));
    for (;;) {
      SIGIL_TRY(Rows r, conn().query("FETCH " + std::to_string(kFetchRows) + " FROM sigil_copy_check", Params(),
                                     "read back the certificates"));
      for (int i = 0; i < r.size(); ++i) {
        SIGIL_TRY_STATUS(fn(r.text(i, 0), r.is_null(i, 1) ? Bytes{} : r.bytes(i, 1)));
      }
      if (r.size() < kFetchRows) break;
    }
    return conn().exec("CLOSE sigil_copy_check", "read back the certificates");
  }

  Status commit() override { return conn().exec("COMMIT", "commit the copy"); }

  void rollback() override {
    if (!conn().broken() && PQtransactionStatus(conn().raw()) != PQTRANS_IDLE) {
      (void)conn().exec("ROLLBACK", "roll back the copy");
    }
  }

 private:
  Conn& conn() { return *lease_; }

  Status put(const Table& t, std::string& buf) {
    if (PQputCopyData(conn().raw(), buf.data(), static_cast<int>(buf.size())) != 1) return copy_error(t, nullptr);
    buf.clear();
    return {};
  }

  Error copy_error(const Table& t, const PGresult* r) {
    std::string message = r != nullptr ? PQresultErrorMessage(r) : "";
    if (message.empty()) message = PQerrorMessage(conn().raw());
    const Errc code = PQstatus(conn().raw()) == CONNECTION_OK ? Errc::storage : Errc::unavailable;
    return make_error(code, "postgresql: copying table " + std::string(t.name) + ": " + trimmed(message));
  }

  Lease lease_;
  std::vector<DeferredValue> deferred_;
};

}  // namespace
}  // namespace detail

Result<std::unique_ptr<transfer::Target>> transfer_target(Store& store) {
  auto* pg = dynamic_cast<detail::PgStore*>(&store);
  if (pg == nullptr) return make_error(Errc::invalid_argument, "not a PostgreSQL store");
  SIGIL_TRY(detail::Lease lease, pg->pool().acquire());
  return std::unique_ptr<transfer::Target>(std::make_unique<detail::PgTarget>(std::move(lease)));
}

}  // namespace sigil::store::postgres
