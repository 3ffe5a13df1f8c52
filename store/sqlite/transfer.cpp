// The SQLite side of a table-level copy: every table read in one read transaction.
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_internal.hpp"
#include "store/sqlite/sqlite_transfer.hpp"

namespace sigil::store::sqlite {
namespace detail {
namespace {

using transfer::Table;
using transfer::Type;
using transfer::Value;

const char* type_name(int sqlite_type) {
  switch (sqlite_type) {
    case SQLITE_INTEGER:
      return "an integer";
    case SQLITE_FLOAT:
      return "a real";
    case SQLITE_TEXT:
      return "text";
    case SQLITE_BLOB:
      return "a blob";
    default:
      return "NULL";
  }
}

int expected_type(Type t) {
  switch (t) {
    case Type::text:
      return SQLITE_TEXT;
    case Type::blob:
      return SQLITE_BLOB;
    case Type::integer:
    case Type::boolean:
      break;
  }
  return SQLITE_INTEGER;
}

// The value of column `col` into `out`, refused when SQLite holds another type than the schema
// declares (a column's affinity does not forbid one): the target would store something else.
// (An out-parameter: GCC 12 under the sanitizers warns, wrongly, of an uninitialized vector when
// a Result<Value> is built from a temporary variant.)
Status read_value(const Query& q, sqlite3_stmt* stmt, int col, const Table& t, Value& out) {
  const int type = sqlite3_column_type(stmt, col);
  if (type == SQLITE_NULL) {
    out.emplace<std::monostate>();
    return {};
  }
  const auto& column = t.columns[static_cast<std::size_t>(col)];
  if (type != expected_type(column.type)) {
    return make_error(Errc::storage, "sqlite: " + std::string(t.name) + "." + std::string(column.name) + " holds " +
                                         type_name(type) + " where the schema declares " +
                                         type_name(expected_type(column.type)));
  }
  switch (column.type) {
    case Type::text:
      out.emplace<std::string>(q.text(col));
      return {};
    case Type::blob:
      out.emplace<Bytes>(q.blob(col));
      return {};
    case Type::integer:
    case Type::boolean:
      break;
  }
  out.emplace<std::int64_t>(q.int64(col));
  return {};
}

std::string select_sql(const Table& t) {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (i != 0) sql += ", ";
    sql += "\"" + std::string(t.columns[i].name) + "\"";
  }
  return sql + " FROM \"" + std::string(t.name) + "\"";
}

class SqliteSource final : public transfer::Source {
 public:
  explicit SqliteSource(DbPtr db) : db_(std::move(db)) {}

  Status snapshot(const std::function<Status()>& body) override {
    // Deferred: the snapshot is taken at the first read and held until COMMIT (WAL keeps
    // writers on other connections out of it).
    SIGIL_TRY_STATUS(exec(db_.get(), "BEGIN", "cannot begin the read transaction"));
    Status st = body();
    if (sqlite3_get_autocommit(db_.get()) == 0) {
      Status ended = exec(db_.get(), "COMMIT", "cannot end the read transaction");
      if (!ended) (void)exec(db_.get(), "ROLLBACK", "roll back");
      if (st) st = ended;
    }
    return st;
  }

  Result<std::int64_t> count(const Table& t) override {
    return query_int(db_.get(), "SELECT count(*) FROM \"" + std::string(t.name) + "\"");
  }

  Status rows(const Table& t, const transfer::RowFn& fn) override {
    const std::string sql = select_sql(t);
    SIGIL_TRY(StmtPtr stmt, prepare(db_.get(), sql));
    Query q(db_.get(), stmt.get(), sql);
    transfer::Row row(t.columns.size());
    for (;;) {
      SIGIL_TRY(bool more, q.step());
      if (!more) return {};
      for (std::size_t i = 0; i < t.columns.size(); ++i) {
        SIGIL_TRY_STATUS(read_value(q, stmt.get(), static_cast<int>(i), t, row[i]));
      }
      SIGIL_TRY_STATUS(fn(row));
    }
  }

  Status certificates(const transfer::CertificateFn& fn) override {
    // BINARY collation: bytewise, as PostgreSQL's COLLATE "C" on the other side.
    constexpr std::string_view sql = "SELECT serial, der FROM certificates ORDER BY serial";
    SIGIL_TRY(StmtPtr stmt, prepare(db_.get(), sql));
    Query q(db_.get(), stmt.get(), sql);
    for (;;) {
      SIGIL_TRY(bool more, q.step());
      if (!more) return {};
      SIGIL_TRY_STATUS(fn(q.text(0), q.blob(1)));
    }
  }

 private:
  DbPtr db_;
};

Status check_schema(sqlite3* db, const std::string& path) {
  SIGIL_TRY(const std::int64_t app_id, query_int(db, "PRAGMA application_id"));
  SIGIL_TRY(const std::int64_t version, query_int(db, "PRAGMA user_version"));
  if (app_id != kApplicationId) return make_error(Errc::storage, "sqlite: " + path + " is not a sigil database");
  if (version != static_cast<std::int64_t>(kMigrations.size())) {
    return make_error(Errc::storage, "sqlite: " + path + " has schema version " + std::to_string(version) +
                                         ", this sigil copies version " + std::to_string(kMigrations.size()));
  }
  constexpr std::string_view sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
  SIGIL_TRY(StmtPtr stmt, prepare(db, sql));
  Query q(db, stmt.get(), sql);
  for (;;) {
    SIGIL_TRY(bool more, q.step());
    if (!more) return {};
    const std::string name = q.text(0);
    if (!transfer::is_known_table(name)) {
      return make_error(Errc::storage, "sqlite: " + path + " has a table the copy does not know: " + name);
    }
  }
}

}  // namespace
}  // namespace detail

using namespace detail;

Result<std::unique_ptr<transfer::Source>> transfer_source(const std::string& path) {
  if (!fs::exists(path)) return make_error(Errc::not_found, "sqlite: no database at " + path);
  SIGIL_TRY(DbPtr db, open_connection(path, SQLITE_OPEN_READONLY));
  SIGIL_TRY_STATUS(check_schema(db.get(), path));
  return std::unique_ptr<transfer::Source>(std::make_unique<SqliteSource>(std::move(db)));
}

Status retire(const std::string& path, const std::string& to) {
  {
    SIGIL_TRY(DbPtr db, open_connection(path, SQLITE_OPEN_READWRITE));
    SIGIL_TRY_STATUS(exec(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", "cannot checkpoint " + path));
    // Closing the last connection removes the -wal and -shm files.
  }
  if (::rename(path.c_str(), to.c_str()) != 0) return errno_error("cannot rename database to", to);
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = path + suffix;
    if (fs::exists(side) && ::rename(side.c_str(), (to + suffix).c_str()) != 0) {
      return errno_error("cannot rename", side);
    }
  }
  return sync_dir(fs::path(to).parent_path().empty() ? fs::path(".") : fs::path(to).parent_path());
}

}  // namespace sigil::store::sqlite
