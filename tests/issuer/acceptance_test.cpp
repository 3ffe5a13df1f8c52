// ACCEPTANCE: 10,000 certificates through the Issuer into one real SQLite file. Every serial is
// distinct, every row is in the database with its DER, and the file passes integrity_check.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;

constexpr int kIssuances = 10000;

// Where the database lives. SIGIL_ACCEPTANCE_DIR wins; otherwise /dev/shm when present: the
// same SQLite file, WAL and commits, without paying a disk fsync per commit (on this class of
// machine ~2 ms each, two per issuance, which alone would make this test ~45 s).
std::string acceptance_dir() {
  if (const char* env = std::getenv("SIGIL_ACCEPTANCE_DIR"); env && *env) return env;
  struct stat st {};
  if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return "/tmp";
}

// Counts rows with a plain SQLite connection, as an operator would.
std::int64_t sql_count(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const std::int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

TEST_CASE("ACCEPTANCE: 10,000 issuances into one SQLite file") {
  const std::string base = acceptance_dir();
  TestCa ca({}, base);
  // A fixed handful of requests (the CSR signature is verified on every request anyway).
  std::vector<std::string> csrs;
  for (int i = 0; i < 8; ++i) {
    const KeyType t = i % 4 == 3 ? KeyType::ed25519 : KeyType::ec_p256;
    const std::string host = "host" + std::to_string(i) + ".example.internal";
    csrs.push_back(
        csr_pem(cached_key(t, 400 + i), host, {{GN::dns, host}, {GN::ip, "10.0.0." + std::to_string(i + 1)}}));
  }

  std::map<std::string, Bytes> issued;  // serial -> SHA-256 of the DER
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIssuances; ++i) {
    if (i % 100 == 0) ca.clock.advance(Seconds(1));
    auto r = ca.issue(csrs[static_cast<std::size_t>(i) % csrs.size()], "server");
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().detail));
    const bool fresh = issued.emplace(r->serial, crypto::sha256(r->der)).second;
    REQUIRE(fresh);
    if (i % 1000 == 0) {
      // A sample is judged by OpenSSL along the way.
      CHECK(openssl_verify_chain(r->der, ca.intermediate->der(), ca.root->der(), ca.clock.now(),
                                 X509_PURPOSE_SSL_SERVER) == X509_V_OK);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE(kIssuances << " issuances into " << ca.db_path << " in " << secs << " s (" << kIssuances / secs << "/s)");

  CHECK(issued.size() == static_cast<std::size_t>(kIssuances));
  CHECK(ca.count() == kIssuances);
  CHECK(ca.db->integrity_check().value() == "ok");

  // Every row, page by page: valid, with the very DER that was handed out.
  std::set<std::string> seen;
  store::ListFilter f;
  f.limit = 1000;
  f.now = to_unix(ca.clock.now());
  int pages = 0;
  for (;;) {
    auto page = ca.db->list(f);
    REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().detail));
    ++pages;
    for (const auto& rec : page->items) {
      auto it = issued.find(rec.serial);
      REQUIRE(it != issued.end());
      CHECK(rec.status == store::CertStatus::valid);
      REQUIRE_FALSE(rec.der.empty());
      CHECK(crypto::sha256(rec.der) == it->second);
      CHECK(rec.profile == "server");
      seen.insert(rec.serial);
    }
    if (page->next_page_token.empty()) break;
    f.page_token = page->next_page_token;
    REQUIRE(pages <= kIssuances / 1000 + 1);
  }
  CHECK(seen.size() == issued.size());

  // The file holds it all: fresh connections see the same.
  ca.issuer_.reset();
  ca.db.reset();
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM certificates") == kIssuances);
  CHECK(sql_count(ca.db_path, "SELECT COUNT(DISTINCT serial) FROM certificates") == kIssuances);
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM certificates WHERE status = 'valid' AND length(der) > 0") ==
        kIssuances);
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM certificate_sans") == 2 * kIssuances);
  // Two audit rows per certificate, one of each kind.
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM audit_log WHERE action = 'reserve'") == kIssuances);
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM audit_log WHERE action = 'issue'") == kIssuances);
  CHECK(sql_count(ca.db_path, "SELECT COUNT(DISTINCT target) FROM audit_log WHERE action = 'issue'") == kIssuances);
  auto reopened = store::sqlite::open(ca.db_path);
  REQUIRE(reopened.has_value());
  CHECK((*reopened)->count().value() == kIssuances);
  CHECK((*reopened)->integrity_check().value() == "ok");
  auto one = (*reopened)->find(issued.begin()->first);
  REQUIRE(one.has_value());
  REQUIRE(one->has_value());
  CHECK(crypto::sha256((*one)->der) == issued.begin()->second);
}

}  // namespace

namespace {

using namespace sigil;
using namespace sigil::test;
using crypto::KeyType;

TEST_CASE("concurrent issuance: four threads, one Issuer, one SQLite file") {
  TestCa ca({}, acceptance_dir());
  constexpr int kThreads = 4, kEach = 250;
  std::vector<std::string> csrs;
  for (int i = 0; i < kThreads; ++i)
    csrs.push_back(csr_pem(cached_key(KeyType::ec_p256, 450 + i), "t" + std::to_string(i) + ".example.internal", {}));
  std::vector<std::vector<std::string>> serials(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto p = ca.issuer().prepare({csrs[static_cast<std::size_t>(t)], "server", std::nullopt, "thread"});
        if (!p) {
          ++failures;
          continue;
        }
        auto r = ca.issuer().issue(std::move(*p));
        if (!r) {
          ++failures;
          continue;
        }
        serials[static_cast<std::size_t>(t)].push_back(r->serial);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  std::set<std::string> all;
  for (const auto& v : serials) all.insert(v.begin(), v.end());
  CHECK(all.size() == static_cast<std::size_t>(kThreads * kEach));
  CHECK(ca.count() == kThreads * kEach);
  CHECK(ca.db->integrity_check().value() == "ok");
  ca.db.reset();
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM certificates WHERE status = 'valid'") == kThreads * kEach);
  CHECK(sql_count(ca.db_path, "SELECT COUNT(*) FROM audit_log") == 2 * kThreads * kEach);
}

}  // namespace
