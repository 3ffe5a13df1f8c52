// `sigil migrate`'s table-level copy (store/transfer.hpp): a SQLite store with every kind of row
// copied into a real PostgreSQL database (ctest fixture "postgres") and compared table by table
// through plain SQL on both sides; a non-empty target refused with nothing written; a copy that
// differs from its source (a DER byte changed, a row lost on the way) rolled back.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "store/postgres/postgres_transfer.hpp"
#include "store/sqlite/sqlite_transfer.hpp"
#include "tests/store/engines.hpp"

namespace {

using namespace sigil;
using namespace sigil::store;
using sigil::test::engines::PostgresEngine;
using sigil::test::engines::SqliteEngine;

#define REQUIRE_OK(expr)                                               \
  do {                                                                 \
    const auto st_ = (expr);                                           \
    REQUIRE_MESSAGE(st_.has_value(), (st_ ? "" : st_.error().detail)); \
  } while (0)

const std::string kIssuer(64, 'a');

AuditEntry audit(const std::string& action, const std::string& target) {
  // Text COPY must escape: tab, newline, carriage return, backslash; and UTF-8 passes through.
  return AuditEntry{1'700'000'000, "cli:t\u00e9st", action, target, "ok", "line 1\nline\t2\r\\ " + target};
}

Bytes every_byte(std::uint8_t salt) {
  Bytes b;
  for (int i = 0; i < 256; ++i) b.push_back(static_cast<std::uint8_t>(i ^ salt));
  return b;
}

void issue(Store& s, const std::string& serial, int shard, bool complete) {
  PendingCertificate p;
  p.serial = serial;
  p.issuer_id = kIssuer;
  p.tbs_der = every_byte(0x11);
  p.subject = "CN=" + serial;
  p.sans = {"dns:" + serial + ".example.test", "ip:10.0.0.1"};
  p.profile = "server";
  p.requester = "cli:test";
  p.not_before = 1'700'000'000;
  p.not_after = 1'800'000'000;
  p.created_at = 1'700'000'000;
  p.crl_shard = shard;
  REQUIRE_OK(s.reserve(p, audit("issue", serial)));
  if (complete)
    REQUIRE_OK(s.complete(serial, every_byte(static_cast<std::uint8_t>(serial.back())), audit("c", serial)));
}

AcmeAuthorization authz(const std::string& id, const std::string& order, const std::string& account, bool wildcard) {
  AcmeAuthorization z;
  z.id = id;
  z.account_id = account;
  z.order_id = order;
  z.identifier = {"dns", id + ".example.test"};
  z.wildcard = wildcard;
  z.expires = 1'700'600'000;
  z.token = "tok-" + id;
  z.challenges = {{"http-01", ChallengeStatus::pending, 0, ""}, {"dns-01", ChallengeStatus::pending, 0, ""}};
  return z;
}

// Every table the copy carries gets rows, with NULLs, booleans both ways and awkward text.
void fill(Store& s) {
  issue(s, "01", 0, false);  // pending: der NULL
  issue(s, "0a", 0, true);
  issue(s, "0b", 2, true);
  issue(s, "ff", 1, true);
  REQUIRE_OK(s.revoke("0b", 1'700'000'100, RevocationReason::key_compromise, std::string(64, 'c'), audit("r", "0b")));
  REQUIRE_OK(s.revoke("ff", 1'700'000'200, RevocationReason::superseded, "", audit("r", "ff")));
  REQUIRE_OK(s.flag_for_renewal(std::string("0a"), std::nullopt, 1'700'000'300, audit("flag", "0a")));
  REQUIRE_OK(s.next_crl_number(kIssuer, 0));
  REQUIRE_OK(s.next_crl_number(kIssuer, 0));
  REQUIRE_OK(s.save_crl(CrlRecord{kIssuer, 1, 1'700'000'000, 1'700'086'400, every_byte(3), 0, false, std::nullopt}));
  REQUIRE_OK(s.save_crl(CrlRecord{kIssuer, 2, 1'700'000'600, 1'700'003'600, every_byte(4), 0, true, 1}));

  REQUIRE_OK(s.create_eab_key(
      EabKey{"kid1", every_byte(5), "bound", {"*.example.test", "10.0.0.0/8"}, 1'700'000'000, std::nullopt, ""},
      audit("eab", "kid1")));
  REQUIRE_OK(s.create_eab_key(EabKey{"kid2", every_byte(6), "unused", {}, 1'700'000'000, std::nullopt, ""},
                              audit("eab", "kid2")));
  REQUIRE_OK(s.revoke_eab_key("kid2", 1'700'000'500, audit("eab-revoke", "kid2")));
  AcmeAccount a{"acct1", "thumb1", R"({"kty":"EC"})", AccountStatus::valid, {"mailto:a@example.test"},
                true,    "kid1",   1'700'000'000};
  REQUIRE_OK(s.create_account(a, audit("account", "acct1")));
  AcmeAccount b{"acct2", "thumb2", R"({"kty":"RSA"})", AccountStatus::valid, {}, false, "", 1'700'000'001};
  REQUIRE_OK(s.create_account(b, audit("account", "acct2")));

  AcmeOrder o1;
  o1.id = "order1";
  o1.account_id = "acct1";
  o1.expires = 1'700'086'400;
  o1.identifiers = {{"dns", "z1.example.test"}, {"dns", "*.z2.example.test"}};
  o1.not_after = 1'800'000'000;
  o1.profile = "server";
  o1.authorization_ids = {"z1", "z2"};
  o1.created_at = 1'700'000'100;
  REQUIRE_OK(s.create_order(o1, {authz("z1", "order1", "acct1", false), authz("z2", "order1", "acct1", true)},
                            audit("order", "order1"), RateHit{"orders:acct1", 1'699'999'200, 10}));
  AcmeAuthorization z1 = authz("z1", "order1", "acct1", false);
  z1.status = AuthorizationStatus::valid;
  z1.challenges[0] = {"http-01", ChallengeStatus::valid, 1'700'000'150, ""};
  z1.challenges[1] = {"dns-01", ChallengeStatus::invalid, 0, R"({"type":"x","detail":"tab\there"})"};
  REQUIRE_OK(s.update_authorization(z1, AuthorizationStatus::pending));
  o1.status = OrderStatus::invalid;
  o1.error = R"({"type":"urn:ietf:params:acme:error:unauthorized"})";
  REQUIRE_OK(s.update_order(o1, OrderStatus::pending));
  AcmeOrder o2 = o1;  // reuses z1, an authorization of an earlier order
  o2.id = "order2";
  o2.status = OrderStatus::pending;
  o2.error.clear();
  o2.identifiers = {{"dns", "z1.example.test"}};
  o2.authorization_ids = {"z1"};
  o2.replaces = "aki.serial";
  o2.not_after.reset();
  REQUIRE_OK(s.create_order(o2, {}, audit("order", "order2")));
  REQUIRE_OK(s.rate_take("accounts:127.0.0.1", 1'699'999'200, 5));
  REQUIRE_OK(s.rate_take("accounts:127.0.0.1", 1'699'999'200, 5));
  REQUIRE_OK(s.append(audit("note", "end")));
}

// ---- both databases through plain SQL ---------------------------------------------------

// A row as "column=value" pairs sorted by column: both engines' rows compare equal when the
// values do, whatever the column order. Blobs as \x<hex>, booleans as 0/1, NULL as NULL.
using Canon = std::multiset<std::string>;
using Tables = std::map<std::string, Canon>;

std::string canon_row(std::map<std::string, std::string> fields) {
  std::string out;
  for (const auto& [k, v] : fields) out += k + "=" + v + "\x1f";
  return out;
}

struct Sqlite {
  explicit Sqlite(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK); }
  ~Sqlite() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err != nullptr ? err : "";
    sqlite3_free(err);
    REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << message);
  }
  std::vector<std::string> tables() {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'", -1, &st,
                       nullptr);
    std::vector<std::string> out;
    while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return out;
  }
  Canon rows(const std::string& table) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, ("SELECT * FROM " + table).c_str(), -1, &st, nullptr) == SQLITE_OK);
    Canon out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::map<std::string, std::string> f;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        std::string v;
        switch (sqlite3_column_type(st, i)) {
          case SQLITE_NULL:
            v = "NULL";
            break;
          case SQLITE_BLOB: {
            const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, i));
            v = "\\x" + to_hex(Bytes(p, p + sqlite3_column_bytes(st, i)));
            break;
          }
          default:
            v = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        }
        f[sqlite3_column_name(st, i)] = v;
      }
      out.insert(canon_row(f));
    }
    sqlite3_finalize(st);
    return out;
  }
  sqlite3* db = nullptr;
};

struct Pg {
  explicit Pg(const std::string& url) : c(PQconnectdb(url.c_str())) { REQUIRE(PQstatus(c) == CONNECTION_OK); }
  ~Pg() { PQfinish(c); }
  std::vector<std::vector<std::string>> query(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    REQUIRE_MESSAGE(PQresultStatus(r) == PGRES_TUPLES_OK, sql << ": " << PQresultErrorMessage(r));
    std::vector<std::vector<std::string>> out;
    for (int i = 0; i < PQntuples(r); ++i) {
      out.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j) out.back().push_back(PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
    }
    PQclear(r);
    return out;
  }
  void exec(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    REQUIRE_MESSAGE(ok, sql << ": " << message);
  }
  Canon rows(const std::string& table) {
    PGresult* r = PQexec(c, ("SELECT * FROM " + table).c_str());
    REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
    Canon out;
    for (int i = 0; i < PQntuples(r); ++i) {
      std::map<std::string, std::string> f;
      for (int j = 0; j < PQnfields(r); ++j) {
        std::string v = PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
        if (PQftype(r, j) == 16 && v != "NULL") v = v == "t" ? "1" : "0";  // BOOLEAN
        f[PQfname(r, j)] = v;
      }
      out.insert(canon_row(f));
    }
    PQclear(r);
    return out;
  }
  std::int64_t count(const std::string& table) { return std::stoll(query("SELECT count(*) FROM " + table)[0][0]); }
  PGconn* c;
};

// The copy's own tables on each side: the schema's tables less the runtime state it leaves out.
std::set<std::string> copied_tables_sqlite(Sqlite& db) {
  std::set<std::string> out;
  for (const auto& t : db.tables())
    if (t != "nodes") out.insert(t);
  return out;
}

std::set<std::string> copied_tables_pg(Pg& db) {
  std::set<std::string> out;
  for (const auto& row : db.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")) {
    if (row[0] != "sigil_schema" && row[0] != "nodes" && row[0] != "acme_spent_nonces" &&
        row[0] != "revocation_counter")
      out.insert(row[0]);
  }
  return out;
}

// Copies `from` into `to` through the engines' own ends; `wrap` may stand between the source and
// the copy (a source that tampers with what it passes on).
Result<transfer::Report> copy(SqliteEngine& from, PostgresEngine& to, const transfer::Progress& progress = {},
                              const std::function<Status()>& before_commit = {},
                              const std::function<transfer::Source&(transfer::Source&)>& wrap = {}) {
  SIGIL_TRY(auto source, sqlite::transfer_source(from.location()));
  SIGIL_TRY(auto target, postgres::transfer_target(to.store()));
  transfer::Source& used = wrap ? wrap(*source) : *source;
  return transfer::copy(used, *target, crypto::sha256, progress, before_commit);
}

std::int64_t rows_in_all(Pg& db) {
  std::int64_t n = 0;
  for (const auto& t : copied_tables_pg(db)) n += db.count(t);
  return n;
}

// The copy was refused with `text` in its detail, and nothing reached the target.
void expect_refused_empty(const Result<transfer::Report>& r, const std::string& text, PostgresEngine& to) {
  REQUIRE_FALSE(r.has_value());
  CHECK_MESSAGE(r.error().detail.find(text) != std::string::npos, r.error().detail);
  Pg dst(to.location());
  CHECK(rows_in_all(dst) == 0);
}

// A source that changes what it passes on (what a bug or a disk would do between the two ends).
class Tampering final : public transfer::Source {
 public:
  Tampering(transfer::Source& inner, std::string table, bool drop) : inner_(inner), table_(table), drop_(drop) {}
  Status snapshot(const std::function<Status()>& body) override { return inner_.snapshot(body); }
  Result<std::int64_t> count(const transfer::Table& t) override { return inner_.count(t); }
  Status certificates(const transfer::CertificateFn& fn) override { return inner_.certificates(fn); }
  Status rows(const transfer::Table& t, const transfer::RowFn& fn) override {
    bool done = false;
    return inner_.rows(t, [&](const transfer::Row& row) -> Status {
      if (t.name != table_ || done) return fn(row);
      if (drop_) {
        done = true;
        return {};
      }
      transfer::Row changed = row;
      auto* der = std::get_if<Bytes>(&changed[3]);  // certificates.der; a pending one has none
      if (der == nullptr) return fn(row);
      (*der)[10] ^= 0x01;
      done = true;
      return fn(changed);
    });
  }

 private:
  transfer::Source& inner_;
  std::string table_;
  bool drop_;
};

}  // namespace

TEST_CASE("every table of a SQLite store arrives in PostgreSQL row for row, checksum equal") {
  SqliteEngine from;
  fill(from.store());
  PostgresEngine to;
  std::vector<std::pair<std::int64_t, std::int64_t>> calls;
  auto report = copy(from, to, [&](std::int64_t done, std::int64_t total) { calls.emplace_back(done, total); });
  REQUIRE_MESSAGE(report.has_value(), (report ? "" : report.error().detail));

  Sqlite src(from.location());
  Pg dst(to.location());
  const auto tables = copied_tables_sqlite(src);
  CHECK(tables == copied_tables_pg(dst));  // one schema: the copy's table list misses none
  for (const auto& t : tables) {
    INFO("table " << t);
    const Canon expected = src.rows(t);
    CHECK_FALSE(expected.empty());  // the fixture fills every table
    CHECK(dst.rows(t) == expected);
  }
  std::int64_t total = 0;
  for (const auto& t : report->tables) total += t.rows;
  CHECK(report->rows == total);
  CHECK(report->rows == rows_in_all(dst));
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.back() == std::pair{report->rows, report->rows});

  // The checksum as documented, recomputed here from the SQLite file.
  Bytes digests;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(src.db, "SELECT serial, der FROM certificates ORDER BY serial", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const std::string serial = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    const auto* der = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, 1));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, 1));
    std::string row;  // (length, serial, length, der), lengths 4 bytes big-endian
    const auto put_length = [&row](std::size_t len) {
      for (int shift = 24; shift >= 0; shift -= 8) row += static_cast<char>((len >> shift) & 0xff);
    };
    put_length(serial.size());
    row += serial;
    put_length(n);
    if (der != nullptr) row.append(reinterpret_cast<const char*>(der), n);
    const Bytes d = crypto::sha256(as_bytes(row));
    digests.insert(digests.end(), d.begin(), d.end());
  }
  sqlite3_finalize(st);
  CHECK(report->certificate_sha256 == to_hex(crypto::sha256(digests)));
  CHECK(report->certificates == 4);

  // What the engines derive rather than copy: new audit ids and revocations continue the copy's.
  CHECK(dst.query("SELECT last FROM revocation_counter")[0][0] == "2");
  const auto max_id = dst.query("SELECT MAX(id) FROM audit_log")[0][0];
  CHECK(dst.query("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))")[0][0] ==
        std::to_string(std::stoll(max_id) + 1));
}

TEST_CASE("a target holding any row is refused, and nothing is written") {
  SqliteEngine from;
  fill(from.store());
  SUBCASE("a database already copied into") {
    PostgresEngine to;
    REQUIRE(copy(from, to).has_value());
    Pg dst(to.location());
    const std::int64_t before = rows_in_all(dst);
    auto again = copy(from, to);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == Errc::conflict);
    CHECK(again.error().detail.find("not empty (table certificates") != std::string::npos);
    CHECK(rows_in_all(dst) == before);
  }
  SUBCASE("one rate counter is enough") {
    PostgresEngine to;
    Pg dst(to.location());
    dst.exec("INSERT INTO acme_rate_counters VALUES ('k', 1, 1)");
    auto refused = copy(from, to);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::conflict);
    CHECK(refused.error().detail.find("acme_rate_counters") != std::string::npos);
    CHECK(rows_in_all(dst) == 1);
  }
}

TEST_CASE("a copy that differs from its source is rolled back, naming the table") {
  SqliteEngine from;
  fill(from.store());
  PostgresEngine to;
  std::string table;
  std::string expected;
  SUBCASE("a DER byte changed on the way") {
    table = "certificates";
    expected = "table certificates: the checksum";
  }
  SUBCASE("a row lost on the way") {
    table = "acme_challenges";
    expected = "table acme_challenges has 4 rows in the source but 3 in the target";
  }
  std::optional<Tampering> tampering;
  auto report = copy(from, to, {}, {}, [&](transfer::Source& inner) -> transfer::Source& {
    return tampering.emplace(inner, table, table != "certificates");
  });
  expect_refused_empty(report, expected, to);
  CHECK(report.error().detail.find("nothing was committed") != std::string::npos);
}

TEST_CASE("the source refuses what the copy would not carry faithfully") {
  SqliteEngine from;
  fill(from.store());
  Sqlite raw(from.location());
  SUBCASE("a table the copy does not know") {
    raw.exec("CREATE TABLE invoices (id INTEGER)");
    auto source = sqlite::transfer_source(from.location());
    REQUIRE_FALSE(source.has_value());
    CHECK(source.error().detail.find("does not know: invoices") != std::string::npos);
  }
  SUBCASE("a value of another type than its column's (SQLite's affinity allows it)") {
    raw.exec("UPDATE acme_rate_counters SET hits = 'many'");
    PostgresEngine to;
    expect_refused_empty(copy(from, to), "acme_rate_counters.hits holds text", to);
  }
}

TEST_CASE("thousands of certificates stream through COPY in chunks, one snapshot, checksum equal") {
  SqliteEngine from;
  fill(from.store());
  Sqlite raw(from.location());
  // 5,000 certificates of 1 KiB random DER: several COPY chunks and progress calls.
  raw.exec(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
      "INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, not_before, "
      "not_after, created_at, status, crl_shard) SELECT printf('%08x', i + 4096), '" +
      kIssuer + "', randomblob(300), randomblob(1024), '', 'server', 'bulk', 0, 1, 0, 'valid', 0 FROM n");
  PostgresEngine to;
  int calls = 0;
  auto report = copy(from, to, [&](std::int64_t, std::int64_t) { ++calls; });
  REQUIRE_MESSAGE(report.has_value(), (report ? "" : report.error().detail));
  CHECK(report->certificates == 5004);
  CHECK(calls >= 2);
  Pg dst(to.location());
  CHECK(dst.count("certificates") == 5004);
  CHECK(dst.rows("certificates") == raw.rows("certificates"));
}

TEST_CASE("the caller's last check before COMMIT can still refuse, and nothing is committed") {
  SqliteEngine from;
  fill(from.store());
  PostgresEngine to;
  int asked = 0;
  auto report = copy(from, to, {}, [&]() -> Status {
    ++asked;
    return make_error(Errc::conflict, "a writer appeared");
  });
  expect_refused_empty(report, "a writer appeared", to);
  CHECK(asked == 1);
}
