#pragma once
// What the engine-neutral store tests share (store_test.cpp, store_crl_test.cpp,
// conformance_test.cpp): the sample records of sqlite_fixture.hpp, both engines
// (engines.hpp), and each engine's database seen through a plain client connection, as an
// operator or an attacker would open it.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <string>
#include <type_traits>

#include "tests/store/engines.hpp"
#include "tests/store/sqlite_fixture.hpp"

namespace sigil::test::store_fixture {

using namespace sigil::test::sqlite_fixture;
using sigil::test::engines::PostgresEngine;
using sigil::test::engines::SqliteEngine;

template <class E>
inline constexpr bool kIsSqlite = std::is_same_v<E, SqliteEngine>;

// A plain libpq session on a PostgresEngine's database.
class RawPg {
 public:
  explicit RawPg(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    REQUIRE_MESSAGE(PQstatus(c_) == CONNECTION_OK, PQerrorMessage(c_));
  }
  ~RawPg() { PQfinish(c_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  // The SQLSTATE of a failure, "" on success.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType s = PQresultStatus(r);
    std::string state;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
      const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      state = code != nullptr ? code : "?";
    }
    PQclear(r);
    return state;
  }
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    std::string out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  PGconn* c_;
};

// Runs `sql` on the engine's database outside the store; true if it succeeded.
template <class E>
bool raw_exec(const E& engine, const std::string& sql) {
  if constexpr (kIsSqlite<E>) {
    RawDb raw(engine.location());
    return raw.exec(sql) == SQLITE_OK;
  } else {
    RawPg raw(engine.location());
    return raw.exec(sql).empty();
  }
}

template <class E>
std::string raw_text(const E& engine, const std::string& sql) {
  if constexpr (kIsSqlite<E>) {
    RawDb raw(engine.location());
    return raw.text(sql);
  } else {
    RawPg raw(engine.location());
    return raw.text(sql);
  }
}

// A trigger that makes every INSERT into `table` fail, as a full disk would.
template <class E>
std::string failing_insert_trigger(const std::string& table) {
  if constexpr (kIsSqlite<E>) {
    return "CREATE TRIGGER fail_" + table + " BEFORE INSERT ON " + table +
           " BEGIN SELECT RAISE(ABORT, 'disk full'); END";
  } else {
    return "CREATE FUNCTION fail_" + table + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION " +
           "'disk full'; END $$; CREATE TRIGGER fail_" + table + " BEFORE INSERT ON " + table +
           " FOR EACH ROW EXECUTE FUNCTION fail_" + table + "()";
  }
}

}  // namespace sigil::test::store_fixture
