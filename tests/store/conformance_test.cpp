// The store contract both engines keep (tests/store/engines.hpp): opening, reopening, engine().
#include <doctest/doctest.h>

#include "tests/store/engines.hpp"

using sigil::store::Engine;
using sigil::test::engines::PostgresEngine;
using sigil::test::engines::SqliteEngine;

TEST_CASE_TEMPLATE("a store reopens its own database: migrations apply once, a second opener shares it", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  CHECK(std::string(to_string(engine.store().engine())) == E::kName);
  auto again = engine.open_again();
  CHECK(again->engine() == engine.store().engine());
}

TEST_CASE("postgresql: a database with foreign tables is refused, not migrated") {
  // PostgreSQL only: SQLite's equivalent (application_id) is in sqlite_store_file_test.cpp.
  const std::string server = sigil::test::engines::postgres_server_url();
  const std::string name = "sigil_test_foreign_" + std::to_string(getpid());
  sigil::test::engines::postgres_admin("CREATE DATABASE " + name);
  const std::string url = server.substr(0, server.rfind('/') + 1) + name;
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "CREATE TABLE invoices (id INTEGER)"));
  PQfinish(c);
  auto store = sigil::store::postgres::open(url);
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error().detail.find("not a sigil database") != std::string::npos);
  sigil::test::engines::postgres_admin("DROP DATABASE " + name + " WITH (FORCE)");
}

TEST_CASE("postgresql: an unreachable server is unavailable (503 upstream), not a crash") {
  auto store = sigil::store::postgres::open("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error().code == sigil::Errc::unavailable);
}
