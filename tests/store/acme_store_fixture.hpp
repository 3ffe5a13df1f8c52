#pragma once
// Shared by the ACME store tests (acme_store*_test.cpp), which run on both engines
// (tests/store/engines.hpp): records with every field set, field-by-field comparisons, a second
// store on the same database, and the SQLite file seen through a plain SQLite connection.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "tests/store/engines.hpp"
#include "tests/support/temp_dir.hpp"

#define REQUIRE_OK(expr)                                                           \
  do {                                                                             \
    const auto status_ = (expr);                                                   \
    REQUIRE_MESSAGE(status_.has_value(), (status_ ? "" : status_.error().detail)); \
  } while (0)

namespace sigil::test::acme_store {

namespace fs = std::filesystem;
using sigil::Bytes;
using sigil::Errc;
using sigil::Status;
using namespace sigil::store;

using sigil::test::TempDir;
using sigil::test::engines::PostgresEngine;
using sigil::test::engines::SqliteEngine;

inline std::unique_ptr<Store> open_store(const fs::path& path) {
  auto store = sqlite::open(path.string());
  REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().detail));
  return std::move(store).value();
}

template <class E>
inline constexpr bool is_sqlite = std::is_same_v<E, SqliteEngine>;

// Another store on the engine's database without doctest's assertions (for a forked child).
inline sigil::Result<std::unique_ptr<Store>> open_plain(const SqliteEngine& e) { return sqlite::open(e.location()); }
inline sigil::Result<std::unique_ptr<Store>> open_plain(const PostgresEngine& e) {
  return postgres::open(e.location());
}

// A value outside the status enum E, as a caller's bad cast would make: the store refuses it.
template <class E>
inline E not_a_status() {
  return static_cast<E>(99);
}

// The error code of a call that must fail.
template <class R>
inline Errc error_of(const R& result) {
  REQUIRE_FALSE(result.has_value());
  return result.error().code;
}

// Runs body(thread, attempt) for `attempts` attempts on each of `threads` threads started at once;
// the outcomes, at index thread * attempts + attempt.
inline std::vector<Status> race(int threads, int attempts, const std::function<Status(int, int)>& body) {
  std::vector<Status> outcomes(static_cast<std::size_t>(threads * attempts));
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      for (int i = 0; i < attempts; ++i) outcomes[static_cast<std::size_t>(t * attempts + i)] = body(t, i);
    });
  }
  for (auto& t : running) t.join();
  return outcomes;
}

// How many outcomes succeeded (no code) or failed with `code`.
inline int count(const std::vector<Status>& outcomes, std::optional<Errc> code = std::nullopt) {
  int n = 0;
  for (const Status& st : outcomes) n += (code ? !st && st.error().code == *code : st.has_value()) ? 1 : 0;
  return n;
}

inline AuditEntry audit(const std::string& action, const std::string& target) {
  return AuditEntry{1'000, "acme:test", action, target, "ok", action + " " + target};
}

inline std::size_t audit_count(Store& store) {
  auto rows = store.recent(1000);
  REQUIRE(rows.has_value());
  return rows->size();
}

inline AcmeAccount account(const std::string& id, const std::string& thumbprint) {
  AcmeAccount a;
  a.id = id;
  a.thumbprint = thumbprint;
  a.jwk = R"({"crv":"P-256","kty":"EC","x":")" + thumbprint + R"(","y":"y"})";
  a.status = AccountStatus::valid;
  a.contact = {"mailto:ops@example.test", "mailto:second@example.test"};
  a.terms_agreed = true;
  a.created_at = 1'700'000'000;
  return a;
}

inline AcmeAuthorization authorization(const std::string& id, const std::string& order_id, const std::string& name,
                                       const std::string& account_id = "acct1") {
  AcmeAuthorization z;
  z.id = id;
  z.account_id = account_id;
  z.order_id = order_id;
  z.identifier = AcmeIdentifier{"dns", name};
  z.status = AuthorizationStatus::pending;
  z.expires = 1'700'604'800;
  z.token = "tok-" + id;
  z.challenges = {AcmeChallenge{"http-01", ChallengeStatus::pending, 0, ""},
                  AcmeChallenge{"dns-01", ChallengeStatus::pending, 0, ""},
                  AcmeChallenge{"tls-alpn-01", ChallengeStatus::pending, 0, ""}};
  return z;
}

struct OrderWithAuthz {
  AcmeOrder order;
  std::vector<AcmeAuthorization> authorizations;
};

// An order for `names`, each with a new authorization "<order id>-<i>".
inline OrderWithAuthz order(const std::string& id, const std::vector<std::string>& names,
                            const std::string& account_id = "acct1") {
  OrderWithAuthz o;
  o.order.id = id;
  o.order.account_id = account_id;
  o.order.status = OrderStatus::pending;
  o.order.expires = 1'700'086'400;
  o.order.profile = "server";
  o.order.created_at = 1'700'000'100;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string authz_id = id + "-" + std::to_string(i);
    o.order.identifiers.push_back(AcmeIdentifier{"dns", names[i]});
    o.order.authorization_ids.push_back(authz_id);
    o.authorizations.push_back(authorization(authz_id, id, names[i], account_id));
  }
  return o;
}

inline void create(Store& store, const OrderWithAuthz& o) {
  REQUIRE_OK(store.create_order(o.order, o.authorizations, audit("new-order", o.order.id)));
}

inline EabKey eab(const std::string& kid) {
  EabKey k;
  k.kid = kid;
  k.hmac_key = Bytes{0x00, 0x01, 0xfe, 0xff, 0x00, 0x7f};
  k.description = "team " + kid;
  k.allowed_identifiers = {"*.svc.example.test", "10.0.0.0/8"};
  k.created_at = 1'690'000'000;
  return k;
}

inline AcmeAccount get_account(Store& store, const std::string& id) {
  auto found = store.account(id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

inline AcmeOrder get_order(Store& store, const std::string& id) {
  auto found = store.order(id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

inline AcmeAuthorization get_authorization(Store& store, const std::string& id) {
  auto found = store.authorization(id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

inline EabKey get_eab(Store& store, const std::string& kid) {
  auto found = store.eab_key(kid);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

inline bool take(Store& store, const std::string& key, std::int64_t window, std::int64_t limit) {
  auto taken = store.rate_take(key, window, limit);
  REQUIRE_MESSAGE(taken.has_value(), (taken ? "" : taken.error().detail));
  return *taken;
}

inline std::int64_t hits(Store& store, const std::string& key, std::int64_t window) {
  auto n = store.rate_count(key, window);
  REQUIRE(n.has_value());
  return *n;
}

// Two more stores on one engine's database (two nodes, as far as each knows), sharing account
// acct1 (account("acct1", "thumb-1")).
template <class E>
struct TwoStores {
  TwoStores() { REQUIRE_OK(a->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1"))); }
  E engine;
  std::unique_ptr<Store> a = engine.open_again();
  std::unique_ptr<Store> b = engine.open_again();
};

inline void check_same(const AcmeAccount& got, const AcmeAccount& want) {
  CHECK(got.id == want.id);
  CHECK(got.thumbprint == want.thumbprint);
  CHECK(got.jwk == want.jwk);
  CHECK(got.status == want.status);
  CHECK(got.contact == want.contact);
  CHECK(got.terms_agreed == want.terms_agreed);
  CHECK(got.eab_kid == want.eab_kid);
  CHECK(got.created_at == want.created_at);
}

inline void check_same(const AcmeChallenge& got, const AcmeChallenge& want) {
  CHECK(got.type == want.type);
  CHECK(got.status == want.status);
  CHECK(got.validated == want.validated);
  CHECK(got.error == want.error);
}

inline void check_same(const AcmeAuthorization& got, const AcmeAuthorization& want) {
  CHECK(got.id == want.id);
  CHECK(got.account_id == want.account_id);
  CHECK(got.order_id == want.order_id);
  CHECK(got.identifier == want.identifier);
  CHECK(got.wildcard == want.wildcard);
  CHECK(got.status == want.status);
  CHECK(got.expires == want.expires);
  CHECK(got.token == want.token);
  REQUIRE(got.challenges.size() == want.challenges.size());
  for (std::size_t i = 0; i < got.challenges.size(); ++i) check_same(got.challenges[i], want.challenges[i]);
}

inline void check_same(const AcmeOrder& got, const AcmeOrder& want) {
  CHECK(got.id == want.id);
  CHECK(got.account_id == want.account_id);
  CHECK(got.status == want.status);
  CHECK(got.expires == want.expires);
  CHECK(got.identifiers == want.identifiers);
  CHECK(got.not_before == want.not_before);
  CHECK(got.not_after == want.not_after);
  CHECK(got.profile == want.profile);
  CHECK(got.replaces == want.replaces);
  CHECK(got.authorization_ids == want.authorization_ids);
  CHECK(got.certificate_serial == want.certificate_serial);
  CHECK(got.error == want.error);
  CHECK(got.created_at == want.created_at);
}

inline void check_same(const EabKey& got, const EabKey& want) {
  CHECK(got.kid == want.kid);
  CHECK(got.hmac_key == want.hmac_key);
  CHECK(got.description == want.description);
  CHECK(got.allowed_identifiers == want.allowed_identifiers);
  CHECK(got.created_at == want.created_at);
  CHECK(got.revoked_at == want.revoked_at);
  CHECK(got.account_id == want.account_id);
}

// The file seen through a plain SQLite connection.
class RawDb {
 public:
  explicit RawDb(const fs::path& path, int flags = SQLITE_OPEN_READWRITE) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_busy_timeout(db_, 5000) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  // Every row's last column, joined by '\n' (EXPLAIN QUERY PLAN's "detail" is its last column).
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(stmt, sqlite3_column_count(stmt) - 1);
      if (!out.empty()) out += '\n';
      if (p != nullptr) out += reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

// A PostgreSQL test database seen through a plain libpq connection.
class RawPg {
 public:
  explicit RawPg(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    REQUIRE_MESSAGE(PQstatus(c_) == CONNECTION_OK, PQerrorMessage(c_));
  }
  ~RawPg() { PQfinish(c_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  // The statement's SQLSTATE; "" when it succeeded.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    std::string out = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? "" : (state != nullptr ? state : "?");
    PQclear(r);
    return out;
  }
  // Every row's first column, joined by '\n' (EXPLAIN's plan lines).
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    REQUIRE_MESSAGE(PQresultStatus(r) == PGRES_TUPLES_OK, PQresultErrorMessage(r));
    std::string out;
    for (int i = 0; i < PQntuples(r); ++i) {
      if (!out.empty()) out += '\n';
      out += PQgetvalue(r, i, 0);
    }
    PQclear(r);
    return out;
  }

 private:
  PGconn* c_;
};

}  // namespace sigil::test::acme_store
