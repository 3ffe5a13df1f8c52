// The SQLite store against real database files in a fresh directory under /tmp. Where the
// store must refuse something of the file itself (audit rows altered, a newer schema), the test
// opens the file with the SQLite C API directly, as an operator or an attacker would.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/sqlite_store_internal.hpp"
#include "store/store.hpp"

namespace {

namespace fs = std::filesystem;
using sigil::Bytes;
using sigil::Errc;
using namespace sigil::store;

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/sigil-store-test-XXXXXX";
    const char* made = ::mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::unique_ptr<Store> open_store(const fs::path& path) {
  auto store = sqlite::open(path.string());
  REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().detail));
  return std::move(store).value();
}

PendingCertificate pending(const std::string& serial, std::int64_t not_after = 2'000'000,
                           const std::string& profile = "server") {
  PendingCertificate p;
  p.serial = serial;
  p.issuer_id = "ab12";
  p.tbs_der = Bytes{0x30, 0x03, 0x02, 0x01, 0x01};
  p.subject = "CN=" + serial + ".example";
  p.sans = {"dns:" + serial + ".example", "ip:10.0.0.1"};
  p.profile = profile;
  p.requester = "cli:root@host";
  p.not_before = 1'000;
  p.not_after = not_after;
  p.created_at = 1'000;
  return p;
}

AuditEntry audit(const std::string& action, const std::string& target, std::int64_t at = 1'000) {
  return AuditEntry{at, "cli:root@host", action, target, "ok", action + " " + target};
}

const Bytes kDer{0x30, 0x82, 0x01, 0x00, 0xde, 0xad};
// A key's SPKI SHA-256, as issuer::key_sha256 writes it.
const std::string kKeyHash(64, 'a');

// Reserves and completes: a valid certificate.
void issue(Store& store, const PendingCertificate& p) {
  REQUIRE(store.reserve(p, audit("reserve", p.serial)));
  REQUIRE(store.complete(p.serial, kDer, audit("issue", p.serial)));
}

std::int64_t count_of(Store& store) {
  auto n = store.count();
  REQUIRE(n.has_value());
  return *n;
}

std::vector<AuditEntry> audit_rows(Store& store) {
  auto rows = store.recent(1000);
  REQUIRE(rows.has_value());
  return *rows;
}

std::vector<std::string> serials_of(const Page& page) {
  std::vector<std::string> out;
  for (const auto& item : page.items) out.push_back(item.serial);
  return out;
}

Page list_ok(Store& store, const ListFilter& filter) {
  auto page = store.list(filter);
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().detail));
  return *page;
}

// The file seen through a second, plain SQLite connection.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_busy_timeout(db_, 5000) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  int extended_errcode() const { return sqlite3_extended_errcode(db_); }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(stmt, 0);
      if (p != nullptr) out = reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

std::string base64url(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 8) | static_cast<std::uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("to_string names every certificate status") {
  CHECK(std::string(to_string(CertStatus::pending)) == "pending");
  CHECK(std::string(to_string(CertStatus::valid)) == "valid");
  CHECK(std::string(to_string(CertStatus::revoked)) == "revoked");
}

TEST_CASE("reserve, complete and find round-trip every field") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  PendingCertificate p = pending("0a1b2c");
  p.not_before = 1'700'000'000;
  p.not_after = 1'700'086'400;
  p.created_at = 1'699'999'999;

  REQUIRE(store->reserve(p, audit("reserve", p.serial)));
  auto found = store->find(p.serial);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  const CertificateRecord& r = **found;
  CHECK(r.serial == p.serial);
  CHECK(r.issuer_id == p.issuer_id);
  CHECK(r.tbs_der == p.tbs_der);
  CHECK(r.der.empty());
  CHECK(r.subject == p.subject);
  CHECK(r.sans == p.sans);
  CHECK(r.profile == p.profile);
  CHECK(r.requester == p.requester);
  CHECK(r.not_before == p.not_before);
  CHECK(r.not_after == p.not_after);
  CHECK(r.created_at == p.created_at);
  CHECK(r.status == CertStatus::pending);
  CHECK_FALSE(r.revoked_at.has_value());
  CHECK_FALSE(r.revocation_reason.has_value());

  REQUIRE(store->complete(p.serial, kDer, audit("issue", p.serial)));
  found = store->find(p.serial);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->status == CertStatus::valid);
  CHECK((*found)->der == kDer);
  CHECK((*found)->tbs_der == p.tbs_der);

  auto missing = store->find("ffff");
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("empty fields and SAN lists survive the round trip") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  PendingCertificate p = pending("01");
  p.subject.clear();
  p.sans.clear();
  p.tbs_der.clear();
  REQUIRE(store->reserve(p, audit("reserve", p.serial)));
  auto found = store->find("01");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->subject.empty());
  CHECK((*found)->sans.empty());
  CHECK((*found)->tbs_der.empty());

  PendingCertificate q = pending("02");
  q.sans = {"dns:b.example", "dns:a.example", "dns:b.example", "uri:spiffe://td/x\nwith newline"};
  REQUIRE(store->reserve(q, audit("reserve", q.serial)));
  found = store->find("02");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->sans == q.sans);  // order and duplicates kept
}

TEST_CASE("a taken serial is refused and nothing else is written") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  REQUIRE(store->reserve(pending("abcd"), audit("reserve", "abcd")));

  PendingCertificate again = pending("abcd", 9'999, "client");
  again.sans = {"dns:other.example"};
  auto st = store->reserve(again, audit("reserve", "abcd again"));
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == Errc::already_exists);

  CHECK(count_of(*store) == 1);
  const auto rows = audit_rows(*store);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].target == "abcd");
  auto found = store->find("abcd");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->profile == "server");
  CHECK((*found)->sans == pending("abcd").sans);

  auto empty = store->reserve(pending(""), audit("reserve", ""));
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == Errc::invalid_argument);
}

TEST_CASE("complete refuses unknown and already completed serials") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");

  auto unknown = store->complete("0bad", kDer, audit("issue", "0bad"));
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == Errc::not_found);

  issue(*store, pending("01"));
  auto twice = store->complete("01", kDer, audit("issue", "01"));
  REQUIRE_FALSE(twice.has_value());
  CHECK(twice.error().code == Errc::conflict);

  REQUIRE(store->reserve(pending("02"), audit("reserve", "02")));
  auto empty = store->complete("02", Bytes{}, audit("issue", "02"));
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == Errc::invalid_argument);

  CHECK(audit_rows(*store).size() == 3);  // reserve 01, issue 01, reserve 02
}

TEST_CASE("revoke: happy path, twice, pending, unknown, bad reason") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  issue(*store, pending("01"));
  REQUIRE(store->reserve(pending("02"), audit("reserve", "02")));

  REQUIRE(store->revoke("01", 5'000, RevocationReason::key_compromise, kKeyHash, audit("revoke", "01")));
  auto found = store->find("01");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->status == CertStatus::revoked);
  REQUIRE((*found)->revoked_at.has_value());
  CHECK(*(*found)->revoked_at == 5'000);
  REQUIRE((*found)->revocation_reason.has_value());
  CHECK(*(*found)->revocation_reason == RevocationReason::key_compromise);
  CHECK((*found)->der == kDer);

  const auto rows_before = audit_rows(*store).size();

  auto twice = store->revoke("01", 6'000, RevocationReason::superseded, "", audit("revoke", "01"));
  REQUIRE_FALSE(twice.has_value());
  CHECK(twice.error().code == Errc::conflict);
  found = store->find("01");
  REQUIRE(found.has_value());
  CHECK(*(*found)->revoked_at == 5'000);  // the first revocation stands
  CHECK(*(*found)->revocation_reason == RevocationReason::key_compromise);

  auto still_pending = store->revoke("02", 6'000, RevocationReason::unspecified, "", audit("revoke", "02"));
  REQUIRE_FALSE(still_pending.has_value());
  CHECK(still_pending.error().code == Errc::conflict);

  auto unknown = store->revoke("03", 6'000, RevocationReason::unspecified, "", audit("revoke", "03"));
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == Errc::not_found);

  issue(*store, pending("04"));
  auto bad = store->revoke("04", 6'000, static_cast<RevocationReason>(7), "", audit("revoke", "04"));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::bad_revocation_reason);

  CHECK(audit_rows(*store).size() == rows_before + 2);  // only issue(04)'s two rows
}

TEST_CASE("keyCompromise blocks the key in the revocation's own transaction; other reasons do not") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  for (const char* s : {"01", "02", "03", "04", "05"}) issue(*store, pending(s));
  const std::string other_key(64, 'b');
  auto blocked = [&](const std::string& key) {
    auto b = store->blocked_key(key);
    REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().detail));
    return *b;
  };
  CHECK_FALSE(blocked(kKeyHash).has_value());

  auto commits = [&] {
    auto n = sqlite::write_commits(*store);
    REQUIRE(n.has_value());
    return *n;
  };
  const auto before = commits();
  REQUIRE(store->revoke("01", 5'000, RevocationReason::key_compromise, kKeyHash, audit("revoke", "01")));
  CHECK(commits() == before + 1);  // revocation, blocked key and audit row: one commit
  auto b = blocked(kKeyHash);
  REQUIRE(b.has_value());
  CHECK(b->key_sha256 == kKeyHash);
  CHECK(b->reason == RevocationReason::key_compromise);
  CHECK(b->blocked_at == 5'000);
  CHECK(b->serial == "01");

  // Another certificate of the same key, compromised too: the first block stands.
  REQUIRE(store->revoke("02", 6'000, RevocationReason::key_compromise, kKeyHash, audit("revoke", "02")));
  CHECK(blocked(kKeyHash)->serial == "01");

  // Other reasons block nothing, even when given a key.
  REQUIRE(store->revoke("03", 6'000, RevocationReason::superseded, other_key, audit("revoke", "03")));
  CHECK_FALSE(blocked(other_key).has_value());

  // keyCompromise without the key's hash cannot block it: refused, nothing written.
  const auto rows = audit_rows(*store).size();
  for (const std::string& bad : {std::string(), std::string("ab"), std::string(64, 'G')}) {
    auto st = store->revoke("04", 7'000, RevocationReason::key_compromise, bad, audit("revoke", "04"));
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().code == Errc::invalid_argument);
  }
  // Reasons that are not a leaf's: refused, nothing written.
  for (auto r : {RevocationReason::ca_compromise, RevocationReason::aa_compromise, RevocationReason::certificate_hold,
                 RevocationReason::remove_from_crl}) {
    auto st = store->revoke("04", 7'000, r, "", audit("revoke", "04"));
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().code == Errc::bad_revocation_reason);
  }
  CHECK((*store->find("04"))->status == CertStatus::valid);
  CHECK(audit_rows(*store).size() == rows);

  // Same transaction: when the blocked key cannot be written, the revocation is rolled back.
  {
    RawDb raw(db);
    REQUIRE(raw.exec("CREATE TRIGGER no_blocks BEFORE INSERT ON blocked_keys "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END") == SQLITE_OK);
  }
  auto st = store->revoke("05", 8'000, RevocationReason::key_compromise, other_key, audit("revoke", "05"));
  REQUIRE_FALSE(st.has_value());
  CHECK((*store->find("05"))->status == CertStatus::valid);
  CHECK_FALSE(blocked(other_key).has_value());
  CHECK(audit_rows(*store).size() == rows);
}

TEST_CASE("audit rows are written with their changes and cannot be altered") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  REQUIRE(store->reserve(pending("01"), audit("reserve", "01", 10)));
  REQUIRE(store->complete("01", kDer, audit("issue", "01", 11)));
  REQUIRE(store->revoke("01", 12, RevocationReason::superseded, "", audit("revoke", "01", 12)));
  REQUIRE(store->append(AuditEntry{13, "cli:admin", "init", "ca", "refused", "no key"}));

  auto recent = store->recent(3);
  REQUIRE(recent.has_value());
  REQUIRE(recent->size() == 3);  // newest first
  CHECK((*recent)[0].action == "init");
  CHECK((*recent)[0].outcome == "refused");
  CHECK((*recent)[0].detail == "no key");
  CHECK((*recent)[1].action == "revoke");
  CHECK((*recent)[2].action == "issue");
  CHECK((*recent)[2].at == 11);
  CHECK((*recent)[2].actor == "cli:root@host");
  CHECK((*recent)[2].target == "01");
  CHECK(audit_rows(*store).size() == 4);

  CHECK_FALSE(store->recent(0).has_value());
  CHECK_FALSE(store->recent(1001).has_value());

  RawDb raw(db);
  CHECK(raw.exec("UPDATE audit_log SET actor = 'someone else'") == SQLITE_CONSTRAINT);
  CHECK(raw.extended_errcode() == SQLITE_CONSTRAINT_TRIGGER);
  CHECK(raw.exec("DELETE FROM audit_log WHERE action = 'revoke'") == SQLITE_CONSTRAINT);
  CHECK(raw.exec("DELETE FROM audit_log") == SQLITE_CONSTRAINT);
  CHECK(raw.integer("SELECT COUNT(*) FROM audit_log") == 4);
  CHECK(raw.text("SELECT actor FROM audit_log ORDER BY id LIMIT 1") == "cli:root@host");
  CHECK(audit_rows(*store).size() == 4);
}

TEST_CASE("list filters by status, expiry and profile") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  const std::int64_t now = 1'000;
  issue(*store, pending("a", 2'000, "server"));                                   // valid
  issue(*store, pending("b", 500, "server"));                                     // expired
  issue(*store, pending("c", 3'000, "server"));                                   // revoked
  issue(*store, pending("d", 800, "server"));                                     // revoked and expired
  issue(*store, pending("f", 1'500, "client"));                                   // valid
  issue(*store, pending("g", 1'000, "client"));                                   // expired exactly at now
  REQUIRE(store->reserve(pending("e", 2'500, "server"), audit("reserve", "e")));  // pending
  REQUIRE(store->revoke("c", 900, RevocationReason::superseded, "", audit("revoke", "c")));
  REQUIRE(store->revoke("d", 700, RevocationReason::unspecified, "", audit("revoke", "d")));

  ListFilter f;
  f.now = now;
  using S = ListFilter::Status;
  using V = std::vector<std::string>;

  f.status = S::any;
  CHECK(serials_of(list_ok(*store, f)) == V{"b", "d", "g", "f", "a", "c"});
  f.status = S::valid;
  CHECK(serials_of(list_ok(*store, f)) == V{"f", "a"});
  f.status = S::revoked;
  CHECK(serials_of(list_ok(*store, f)) == V{"d", "c"});
  f.status = S::expired;
  CHECK(serials_of(list_ok(*store, f)) == V{"b", "d", "g"});

  f.status = S::valid;
  f.expiring_before = 1'500;
  CHECK(serials_of(list_ok(*store, f)) == V{"f"});
  f.status = S::any;
  CHECK(serials_of(list_ok(*store, f)) == V{"b", "d", "g", "f"});
  f.expiring_before.reset();

  f.profile = "client";
  CHECK(serials_of(list_ok(*store, f)) == V{"g", "f"});
  f.status = S::valid;
  CHECK(serials_of(list_ok(*store, f)) == V{"f"});
  f.profile = "server";
  CHECK(serials_of(list_ok(*store, f)) == V{"a"});
  f.profile = "nobody";
  const Page none = list_ok(*store, f);
  CHECK(none.items.empty());
  CHECK(none.next_page_token.empty());

  // Records come back whole, SANs and revocation included.
  f = ListFilter{};
  f.status = S::revoked;
  const Page revoked = list_ok(*store, f);
  REQUIRE(revoked.items.size() == 2);
  CHECK(revoked.items[0].sans == pending("d").sans);
  CHECK(revoked.items[0].der == kDer);
  CHECK(revoked.items[0].revoked_at == std::optional<std::int64_t>(700));
}

TEST_CASE("pagination visits every row once, in order") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  constexpr int kRows = 250;
  for (int i = 0; i < kRows; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "%04x", (i * 37) % 1000);  // not in not_after order
    // Many rows share a not_after, so the serial has to break ties.
    issue(*store, pending(serial, 10'000 + (i % 9) * 100));
  }

  for (const int limit : {100, 125, 1, 250, 1000}) {
    CAPTURE(limit);
    ListFilter f;
    f.now = 0;
    f.limit = limit;
    std::vector<CertificateRecord> seen;
    std::vector<std::size_t> page_sizes;
    for (int guard = 0; guard < 1000; ++guard) {
      const Page page = list_ok(*store, f);
      page_sizes.push_back(page.items.size());
      seen.insert(seen.end(), page.items.begin(), page.items.end());
      if (page.next_page_token.empty()) break;
      f.page_token = page.next_page_token;
    }
    CHECK(seen.size() == kRows);
    std::set<std::string> unique;
    for (const auto& r : seen) unique.insert(r.serial);
    CHECK(unique.size() == kRows);
    const bool ordered = std::is_sorted(seen.begin(), seen.end(), [](const auto& a, const auto& b) {
      return std::tie(a.not_after, a.serial) < std::tie(b.not_after, b.serial);
    });
    CHECK(ordered);
    const std::size_t full_pages = kRows / static_cast<std::size_t>(limit);
    const std::size_t rest = kRows % static_cast<std::size_t>(limit);
    CHECK(page_sizes.size() == full_pages + (rest != 0 ? 1 : 0));
    if (limit == 100) CHECK(page_sizes == std::vector<std::size_t>{100, 100, 50});
  }

  // Filters and pages combine: the valid ones expiring soonest, in pages of 7.
  ListFilter f;
  f.status = ListFilter::Status::valid;
  f.now = 10'300;  // rows with not_after 10'000..10'300 are expired
  f.limit = 7;
  std::size_t total = 0;
  for (;;) {
    const Page page = list_ok(*store, f);
    for (const auto& r : page.items) CHECK(r.not_after > 10'300);
    total += page.items.size();
    if (page.next_page_token.empty()) break;
    f.page_token = page.next_page_token;
  }
  ListFilter expired;
  expired.status = ListFilter::Status::expired;
  expired.now = 10'300;
  expired.limit = 1000;
  CHECK(total + list_ok(*store, expired).items.size() == kRows);

  // A token whose key lies before `now` (here from an unfiltered listing) still lists from
  // the first valid row: the filter bounds the page, the token only skips what was seen.
  ListFilter any;
  any.limit = 3;
  const Page first = list_ok(*store, any);
  REQUIRE_FALSE(first.next_page_token.empty());
  ListFilter valid_all;
  valid_all.status = ListFilter::Status::valid;
  valid_all.now = 10'300;
  valid_all.limit = 1000;
  const Page everything = list_ok(*store, valid_all);
  CHECK(everything.items.size() == total);
  valid_all.page_token = first.next_page_token;
  CHECK(serials_of(list_ok(*store, valid_all)) == serials_of(everything));
}

TEST_CASE("list validates its limit and page token") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  issue(*store, pending("01"));

  ListFilter f;
  for (const int bad : {0, -1, 1001}) {
    f.limit = bad;
    auto page = store->list(f);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == Errc::invalid_argument);
  }
  f.limit = 100;

  const std::vector<std::string> malformed = {
      "not a token!",                          // outside the alphabet
      "A",                                     // impossible length
      "MTo1OjAx=",                             // padding is not part of the encoding
      base64url("1:5"),                        // no serial
      base64url("1:5:"),                       // empty serial
      base64url("2:5:01"),                     // unknown version
      base64url("1:x5:01"),                    // not a number
      base64url("1::01"),                      // empty number
      base64url("1:99999999999999999999:01"),  // out of range
      base64url(":5:01"),
      std::string(5000, 'A'),  // too long
  };
  for (const auto& token : malformed) {
    CAPTURE(token);
    f.page_token = token;
    auto page = store->list(f);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == Errc::invalid_argument);
  }

  // A well-formed token past the end is simply an empty page.
  f.page_token = base64url("1:9223372036854775807:ff");
  const Page page = list_ok(*store, f);
  CHECK(page.items.empty());
  CHECK(page.next_page_token.empty());
}

TEST_CASE("data persists across reopen and migrations run once") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  std::string schema_before;
  {
    auto store = open_store(db);
    issue(*store, pending("01"));
    REQUIRE(store->revoke("01", 7, RevocationReason::cessation_of_operation, "", audit("revoke", "01")));
    RawDb raw(db);
    schema_before = raw.text(
        "SELECT group_concat(name, ',') FROM "
        "(SELECT name FROM sqlite_master ORDER BY name)");
  }
  for (int reopen = 0; reopen < 3; ++reopen) {
    auto store = open_store(db);
    auto found = store->find("01");
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->status == CertStatus::revoked);
    CHECK((*found)->revocation_reason == RevocationReason::cessation_of_operation);
    CHECK(count_of(*store) == 1);
    CHECK(audit_rows(*store).size() == 3);
    auto settings = sqlite::connection_settings(*store);
    REQUIRE(settings.has_value());
    CHECK(settings->user_version == static_cast<int>(sqlite::kMigrations.size()));
  }
  RawDb raw(db);
  CHECK(raw.text("SELECT group_concat(name, ',') FROM "
                 "(SELECT name FROM sqlite_master ORDER BY name)") == schema_before);
  CHECK(schema_before.find("certificates_serial") != std::string::npos);
  CHECK(schema_before.find("audit_log_no_delete") != std::string::npos);
  CHECK(raw.integer("PRAGMA user_version") == static_cast<std::int64_t>(sqlite::kMigrations.size()));
  CHECK(raw.integer("PRAGMA application_id") == sqlite::kApplicationId);
}

TEST_CASE("a database from a newer sigil, or not from sigil, is refused untouched") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  { auto store = open_store(db); }
  const auto newer = static_cast<std::int64_t>(sqlite::kMigrations.size()) + 1;
  {
    RawDb raw(db);
    REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(newer)) == SQLITE_OK);
  }
  auto refused = sqlite::open(db.string());
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::storage);
  CHECK(refused.error().detail.find("newer") != std::string::npos);
  {
    RawDb raw(db);
    CHECK(raw.integer("PRAGMA user_version") == newer);
  }

  const fs::path foreign = dir / "foreign.db";
  {
    sqlite3* handle = nullptr;
    REQUIRE(sqlite3_open(foreign.c_str(), &handle) == SQLITE_OK);
    CHECK(sqlite3_exec(handle, "CREATE TABLE t (x); PRAGMA application_id = 42; PRAGMA user_version = 1", nullptr,
                       nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(handle);
  }
  auto not_ours = sqlite::open(foreign.string());
  REQUIRE_FALSE(not_ours.has_value());
  CHECK(not_ours.error().code == Errc::storage);

  auto nowhere = sqlite::open((dir / "missing-dir" / "sigil.db").string());
  REQUIRE_FALSE(nowhere.has_value());
  CHECK(nowhere.error().code == Errc::io);
}

TEST_CASE("connection settings: WAL, synchronous FULL, foreign keys, busy timeout, 0600") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  auto settings = sqlite::connection_settings(*store);
  REQUIRE(settings.has_value());
  CHECK(settings->journal_mode == "wal");
  CHECK(settings->synchronous == 2);
  CHECK(settings->foreign_keys == 1);
  CHECK(settings->busy_timeout_ms == 5000);

  RawDb raw(db);  // WAL is a property of the file, so a second connection sees it too
  CHECK(raw.text("PRAGMA journal_mode") == "wal");

  struct stat st {};
  REQUIRE(::stat(db.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("foreign keys are enforced on the store's tables") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  RawDb raw(db);
  REQUIRE(raw.exec("PRAGMA foreign_keys = ON") == SQLITE_OK);
  CHECK(raw.exec("INSERT INTO certificate_sans (serial, position, name) "
                 "VALUES ('nope', 0, 'dns:x')") == SQLITE_CONSTRAINT);
}

TEST_CASE("backup writes a complete, consistent copy atomically") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  for (int i = 0; i < 50; ++i) issue(*store, pending("s" + std::to_string(i)));
  REQUIRE(store->revoke("s7", 9, RevocationReason::superseded, "", audit("revoke", "s7")));

  const fs::path copy = dir / "backup.db";
  REQUIRE(store->backup(copy.string()));
  // Replacing an older backup works the same way.
  issue(*store, pending("s50"));
  auto again = store->backup(copy.string());
  REQUIRE_MESSAGE(again.has_value(), (again ? "" : again.error().detail));

  // No temporary file is left beside the backup.
  for (const auto& name : files_in(dir.path())) {
    CAPTURE(name);
    CHECK(name.find(".tmp.") == std::string::npos);
  }
  struct stat st {};
  REQUIRE(::stat(copy.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto restored = open_store(copy);
  CHECK(count_of(*restored) == 51);
  CHECK(count_of(*restored) == count_of(*store));
  auto ok = restored->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");
  auto found = restored->find("s7");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->status == CertStatus::revoked);
  CHECK(audit_rows(*restored).size() == audit_rows(*store).size());

  auto nowhere = store->backup((dir / "missing-dir" / "backup.db").string());
  REQUIRE_FALSE(nowhere.has_value());
  CHECK(nowhere.error().code == Errc::io);
}

TEST_CASE("backup is consistent while another connection writes") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  auto writer_store = open_store(db);  // a second connection, as another process would have
  for (int i = 0; i < 100; ++i) issue(*store, pending("base" + std::to_string(i)));

  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load() && i < 5000; ++i) {
      const std::string serial = "w" + std::to_string(i);
      if (!writer_store->reserve(pending(serial), audit("reserve", serial))) break;
      if (!writer_store->complete(serial, kDer, audit("issue", serial))) break;
      written.fetch_add(1);
    }
  });
  std::vector<std::int64_t> counts;
  for (int b = 0; b < 5; ++b) {
    const fs::path copy = dir / ("backup" + std::to_string(b) + ".db");
    auto st = store->backup(copy.string());
    REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.error().detail));
    auto restored = open_store(copy);
    auto ok = restored->integrity_check();
    REQUIRE(ok.has_value());
    CHECK(*ok == "ok");
    // Each backup is one snapshot: every certificate in it is complete, with its audit rows.
    const std::int64_t n = count_of(*restored);
    counts.push_back(n);
    CHECK(n >= 100);
    CHECK(static_cast<std::int64_t>(audit_rows(*restored).size()) <= 2 * n);
  }
  stop = true;
  writer.join();
  CHECK(written.load() > 0);
  CHECK(std::is_sorted(counts.begin(), counts.end()));
  CHECK(count_of(*store) == 100 + written.load());
}

TEST_CASE("one store is safe to share between threads") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string serial = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!store->reserve(pending(serial), audit("reserve", serial)) ||
            !store->complete(serial, kDer, audit("issue", serial))) {
          failures.fetch_add(1);
        }
        ListFilter f;
        f.limit = 10;
        if (!store->list(f)) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(count_of(*store) == kThreads * kEach);
  CHECK(audit_rows(*store).size() == 2 * kThreads * kEach);
}

TEST_CASE("10,000 reserve+complete pairs, each its own durable transaction") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  constexpr int kPairs = 10'000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kPairs; ++i) {
    char serial[24];
    std::snprintf(serial, sizeof serial, "%016x", static_cast<unsigned>(i) * 2654435761u);
    const PendingCertificate p = pending(serial, 100'000 + i);
    REQUIRE(store->reserve(p, audit("reserve", p.serial)));
    REQUIRE(store->complete(p.serial, kDer, audit("issue", p.serial)));
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  MESSAGE("10,000 reserve+complete pairs in " << elapsed.count() << " ms");
  CHECK(count_of(*store) == kPairs);
  auto ok = store->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");
}

// ---- CRL shards and delta CRLs ----------------------------------------------------------------

namespace {

PendingCertificate in_shard(const std::string& serial, int shard, std::int64_t not_after = 2'000'000) {
  PendingCertificate p = pending(serial, not_after);
  p.crl_shard = shard;
  return p;
}

std::vector<std::string> revoked_in(Store& store, int shard, std::int64_t not_after_min,
                                    std::optional<std::int64_t> since = std::nullopt) {
  std::vector<std::string> out;
  auto collect = [&](const RevokedSerial& r) -> sigil::Status {
    out.push_back(r.serial);
    return {};
  };
  const auto st = since ? store.for_each_revoked_since("ab12", shard, *since, not_after_min, collect)
                        : store.for_each_revoked("ab12", shard, not_after_min, collect);
  REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.error().detail));
  return out;
}

std::vector<int> shards_of(Store& store, std::int64_t not_after_min) {
  auto shards = store.crl_shards("ab12", not_after_min);
  REQUIRE(shards.has_value());
  return *shards;
}

std::int64_t next_number(Store& store, const std::string& issuer, int shard) {
  auto n = store.next_crl_number(issuer, shard);
  REQUIRE_MESSAGE(n.has_value(), (n ? "" : n.error().detail));
  return *n;
}

}  // namespace

TEST_CASE("a certificate's CRL shard is stored with it, and each shard's revoked entries read apart") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  issue(*store, in_shard("01", 0));
  issue(*store, in_shard("02", 3, 5'000));
  issue(*store, in_shard("03", 3, 9'000));
  issue(*store, in_shard("04", 7, 4'000));
  auto found = store->find("02");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->crl_shard == 3);
  CHECK((*store->find("01"))->crl_shard == 0);
  CHECK(store->reserve(in_shard("05", -1), audit("reserve", "05")).error().code == Errc::invalid_argument);

  // Which CRLs must be published: the shards that an unexpired certificate names.
  CHECK(shards_of(*store, 0) == std::vector<int>{0, 3, 7});
  CHECK(shards_of(*store, 4'001) == std::vector<int>{0, 3});  // 04 (shard 7) expired
  CHECK(shards_of(*store, 5'001) == std::vector<int>{0, 3});  // 03 keeps shard 3
  CHECK(shards_of(*store, 9'001) == std::vector<int>{0});
  CHECK(shards_of(*store, 2'000'001).empty());

  auto seq0 = store->revocation_sequence();
  REQUIRE(seq0.has_value());
  for (const char* s : {"01", "02", "04"})
    REQUIRE(store->revoke(s, 1'500, RevocationReason::superseded, "", audit("revoke", s)));
  CHECK(revoked_in(*store, 0, 0) == std::vector<std::string>{"01"});
  CHECK(revoked_in(*store, 3, 0) == std::vector<std::string>{"02"});
  CHECK(revoked_in(*store, 7, 0) == std::vector<std::string>{"04"});
  CHECK(revoked_in(*store, 7, 4'001).empty());  // expired entries leave the CRL
  CHECK(revoked_in(*store, 5, 0).empty());
  CHECK(*store->count_revoked("ab12", 3, 0) == 1);
  CHECK(*store->count_revoked("ab12", 0, 0) == 1);
  CHECK(*store->count_revoked("ab12", 3, 5'001) == 0);

  // A delta CRL's entries: revoked after a sequence.
  auto seq1 = store->revocation_sequence();
  REQUIRE(seq1.has_value());
  CHECK(*seq1 == *seq0 + 3);
  REQUIRE(store->revoke("03", 1'600, RevocationReason::key_compromise, kKeyHash, audit("revoke", "03")));
  CHECK(revoked_in(*store, 3, 0, *seq1) == std::vector<std::string>{"03"});
  CHECK(revoked_in(*store, 3, 0, *seq0) == std::vector<std::string>{"02", "03"});
  CHECK(revoked_in(*store, 0, 0, *seq1).empty());
  auto touched = store->revoked_shards_since("ab12", *seq0);
  REQUIRE(touched.has_value());
  CHECK(*touched == std::vector<int>{0, 3, 7});
  touched = store->revoked_shards_since("ab12", *seq1);
  REQUIRE(touched.has_value());
  CHECK(*touched == std::vector<int>{3});
  touched = store->revoked_shards_since("other", *seq0);
  REQUIRE(touched.has_value());
  CHECK(touched->empty());
}

TEST_CASE("CRL numbers: one sequence per issuer and shard, shared by its complete and delta CRLs") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  {
    auto store = open_store(db);
    CHECK(next_number(*store, "ab12", 0) == 1);
    CHECK(next_number(*store, "ab12", 0) == 2);
    CHECK(next_number(*store, "ab12", 4) == 1);
    CHECK(next_number(*store, "cd34", 4) == 1);
    CHECK(next_number(*store, "ab12", 4) == 2);
    CHECK(store->next_crl_number("ab12", -1).error().code == Errc::invalid_argument);

    CrlRecord full{"ab12", 2, 100, 200, Bytes{0x30, 0x01, 0x02}, 4, false, std::nullopt};
    REQUIRE(store->save_crl(full));
    CrlRecord delta{"ab12", 3, 150, 170, Bytes{0x30, 0x03}, 4, true, 2};
    REQUIRE(store->save_crl(delta));
    CrlRecord bad{"ab12", 9, 150, 170, Bytes{0x30}, 4, true, std::nullopt};
    CHECK(store->save_crl(bad).error().code == Errc::invalid_argument);
    // An older CRL never replaces a newer one of the same shard and kind.
    CrlRecord older{"ab12", 1, 50, 60, Bytes{0x30, 0x00}, 4, false, std::nullopt};
    REQUIRE(store->save_crl(older));
    CrlRecord zero{"ab12", 2, 100, 200, Bytes{0x30, 0x09}, 0, false, std::nullopt};
    REQUIRE(store->save_crl(zero));
  }
  auto store = open_store(db);  // numbers and CRLs survive a restart
  CHECK(next_number(*store, "ab12", 4) == 3);
  CHECK(next_number(*store, "ab12", 0) == 3);
  auto full = store->latest_crl("ab12", 4, false);
  REQUIRE(full.has_value());
  REQUIRE(full->has_value());
  CHECK((*full)->number == 2);
  CHECK((*full)->der == Bytes{0x30, 0x01, 0x02});
  CHECK_FALSE((*full)->delta);
  CHECK_FALSE((*full)->base_number.has_value());
  auto delta = store->latest_crl("ab12", 4, true);
  REQUIRE(delta.has_value());
  REQUIRE(delta->has_value());
  CHECK((*delta)->number == 3);
  CHECK((*delta)->delta);
  CHECK((*delta)->base_number == 2);
  CHECK((*delta)->shard == 4);
  CHECK_FALSE(store->latest_crl("ab12", 5, false)->has_value());
  auto all = store->list_crls("ab12");
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 3);
  CHECK(((*all)[0].shard == 0 && !(*all)[0].delta));
  CHECK(((*all)[1].shard == 4 && !(*all)[1].delta));
  CHECK(((*all)[2].shard == 4 && (*all)[2].delta));
  CHECK(store->list_crls("cd34")->empty());
}

TEST_CASE("a schema-3 database migrates to CRL shards: certificates in shard 0, CRL numbers continue") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  REQUIRE(sqlite::kMigrations.size() >= 4);
  {
    // What sigil wrote before CRL shards: migrations 1-3, certificates (one revoked), CRL number
    // 41 and the CRL it numbered.
    std::FILE* f = std::fopen(db.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
    RawDb raw(db);
    REQUIRE(raw.exec("PRAGMA journal_mode = WAL") == SQLITE_OK);
    for (std::size_t i = 0; i < 3; ++i) {
      REQUIRE(raw.exec("BEGIN") == SQLITE_OK);
      REQUIRE(raw.exec(std::string(sqlite::kMigrations[i])) == SQLITE_OK);
      REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(i + 1)) == SQLITE_OK);
      REQUIRE(raw.exec("PRAGMA application_id = " + std::to_string(sqlite::kApplicationId)) == SQLITE_OK);
      REQUIRE(raw.exec("COMMIT") == SQLITE_OK);
    }
    REQUIRE(
        raw.exec("INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
                 "not_before, not_after, created_at, status) "
                 "VALUES ('0a', 'ab12', x'3003020101', x'30820100', 'CN=a', 'server', 'cli', 1, 2000, 1, 'valid')") ==
        SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
                     "not_before, not_after, created_at, status, revoked_at, revocation_reason, revocation_seq) "
                     "VALUES ('0b', 'ab12', x'3003020101', x'30820100', 'CN=b', 'server', 'cli', 1, 3000, 1, "
                     "'revoked', 5, 1, 1)") == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO crl_numbers (issuer_id, last_number) VALUES ('ab12', 41)") == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO crl_state (issuer_id, number, this_update, next_update, der) "
                     "VALUES ('ab12', 41, 100, 200, x'3005')") == SQLITE_OK);
    REQUIRE(raw.integer("PRAGMA user_version") == 3);
  }
  auto store = open_store(db);
  auto settings = sqlite::connection_settings(*store);
  REQUIRE(settings.has_value());
  CHECK(settings->user_version == static_cast<int>(sqlite::kMigrations.size()));
  auto old = store->find("0a");
  REQUIRE(old.has_value());
  REQUIRE(old->has_value());
  CHECK((*old)->crl_shard == 0);
  CHECK(shards_of(*store, 0) == std::vector<int>{0});
  CHECK(shards_of(*store, 3'001).empty());  // the latest not_after of shard 0 was 3000
  CHECK(revoked_in(*store, 0, 0) == std::vector<std::string>{"0b"});
  CHECK(*store->count_revoked("ab12", 0, 0) == 1);
  // The issuer's CRL numbers go on in shard 0: never reused.
  CHECK(next_number(*store, "ab12", 0) == 42);
  CHECK(next_number(*store, "ab12", 1) == 1);
  auto kept = store->latest_crl("ab12", 0, false);
  REQUIRE(kept.has_value());
  REQUIRE(kept->has_value());
  CHECK((*kept)->number == 41);
  CHECK((*kept)->der == Bytes{0x30, 0x05});
  auto ok = store->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");
  RawDb raw(db);
  CHECK(raw.text("SELECT name FROM sqlite_master WHERE name = 'crl_numbers_v3'").empty());
  CHECK(raw.text("SELECT name FROM sqlite_master WHERE name = 'crl_state_v3'").empty());
}
