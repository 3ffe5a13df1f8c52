#pragma once
// The store's conformance suite runs from one source against both engines: a test written as
//   TEST_CASE_TEMPLATE("...", E, SqliteEngine, PostgresEngine) { E engine; Store& store = engine.store(); ... }
// gets a fresh, empty store of each engine. A case that can hold on one engine only is a plain
// TEST_CASE on that engine, with a comment saying why.
//
// PostgreSQL: ctest starts one cluster for the run (ops/pg.sh, fixture "postgres" in
// tests/CMakeLists.txt) and names its directory in SIGIL_TEST_POSTGRES_DIR; each PostgresEngine
// is a new database in it, dropped at the end.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "tests/support/temp_dir.hpp"

namespace sigil::test::engines {

class SqliteEngine {
 public:
  static constexpr const char* kName = "sqlite";
  SqliteEngine() : dir_("store"), location_((dir_ / "sigil.db").string()) { store_ = open_again(); }
  store::Store& store() { return *store_; }
  // Another Store on the same database (another process or node, as far as the store knows).
  std::unique_ptr<store::Store> open_again() const {
    auto s = store::sqlite::open(location_);
    REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().detail));
    return std::move(s).value();
  }
  const std::string& location() const { return location_; }

 private:
  TempDir dir_;
  std::string location_;
  std::unique_ptr<store::Store> store_;
};

// The URL of the test cluster's maintenance database ("postgres").
inline std::string postgres_server_url() {
  const char* dir = std::getenv("SIGIL_TEST_POSTGRES_DIR");
  REQUIRE_MESSAGE(dir != nullptr,
                  "SIGIL_TEST_POSTGRES_DIR is not set: run through ctest, or `ops/pg.sh start DIR` and export it");
  std::ifstream in(std::string(dir) + "/url");
  std::string url;
  std::getline(in, url);
  REQUIRE_MESSAGE(!url.empty(), "no PostgreSQL URL in " << dir << "/url");
  return url;
}

// Runs one statement on the test cluster's maintenance database (CREATE/DROP DATABASE).
inline void postgres_admin(const std::string& sql) {
  PGconn* c = PQconnectdb(postgres_server_url().c_str());
  REQUIRE_MESSAGE(PQstatus(c) == CONNECTION_OK, PQerrorMessage(c));
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string message = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  REQUIRE_MESSAGE(ok, sql << ": " << message);
}

// A PostgreSQL test database seen through a plain libpq session (as an operator would).
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
  // Every row's first column joined by '\n' (one value, or EXPLAIN's plan lines); "" on failure.
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    std::string out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) {
        if (i > 0) out += '\n';
        out += PQgetvalue(r, i, 0);
      }
    }
    PQclear(r);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  PGconn* c_;
};

class PostgresEngine {
 public:
  static constexpr const char* kName = "postgresql";
  PostgresEngine() : name_(next_name()) {
    postgres_admin("CREATE DATABASE " + name_);
    const std::string server = postgres_server_url();
    location_ = server.substr(0, server.rfind('/') + 1) + name_;
    store_ = open_again();
  }
  ~PostgresEngine() {
    store_.reset();
    PGconn* c = PQconnectdb(postgres_server_url().c_str());
    PQclear(PQexec(c, ("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").c_str()));
    PQfinish(c);
  }
  PostgresEngine(const PostgresEngine&) = delete;
  PostgresEngine& operator=(const PostgresEngine&) = delete;
  store::Store& store() { return *store_; }
  std::unique_ptr<store::Store> open_again() const {
    auto s = store::postgres::open(location_);
    REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().detail));
    return std::move(s).value();
  }
  const std::string& location() const { return location_; }

 private:
  static std::string next_name() {
    static std::atomic<int> counter{0};
    return "sigil_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  }
  std::string name_;
  std::string location_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace sigil::test::engines
