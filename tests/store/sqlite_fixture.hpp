#pragma once
// What the SQLite store tests share: a store in a file, sample records, and the file seen
// through a plain SQLite connection (as an operator or an attacker would open it).
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
#include "tests/support/temp_dir.hpp"

namespace sigil::test::sqlite_fixture {

namespace fs = std::filesystem;
using sigil::Bytes;
using sigil::Errc;
using namespace sigil::store;

using sigil::test::TempDir;

inline std::unique_ptr<Store> open_store(const fs::path& path) {
  auto store = sqlite::open(path.string());
  REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().detail));
  return std::move(store).value();
}

inline PendingCertificate pending(const std::string& serial, std::int64_t not_after = 2'000'000,
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

inline AuditEntry audit(const std::string& action, const std::string& target, std::int64_t at = 1'000) {
  return AuditEntry{at, "cli:root@host", action, target, "ok", action + " " + target};
}

inline const Bytes kDer{0x30, 0x82, 0x01, 0x00, 0xde, 0xad};
// A key's SPKI SHA-256, as issuer::key_sha256 writes it.
inline const std::string kKeyHash(64, 'a');

// Reserves and completes: a valid certificate.
inline void issue(Store& store, const PendingCertificate& p) {
  REQUIRE(store.reserve(p, audit("reserve", p.serial)));
  REQUIRE(store.complete(p.serial, kDer, audit("issue", p.serial)));
}

inline std::int64_t count_of(Store& store) {
  auto n = store.count();
  REQUIRE(n.has_value());
  return *n;
}

inline std::vector<AuditEntry> audit_rows(Store& store) {
  auto rows = store.recent(1000);
  REQUIRE(rows.has_value());
  return *rows;
}

inline std::vector<std::string> serials_of(const Page& page) {
  std::vector<std::string> out;
  for (const auto& item : page.items) out.push_back(item.serial);
  return out;
}

inline Page list_ok(Store& store, const ListFilter& filter) {
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
  // EXPLAIN QUERY PLAN's rows, their "detail" (the last column) joined by '\n'.
  std::string plan(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(stmt, sqlite3_column_count(stmt) - 1);
      if (p != nullptr) out += std::string(out.empty() ? "" : "\n") + reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

inline std::string base64url(const std::string& in) {
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

// ---- CRL shards and numbers (issuer "ab12") ----
inline PendingCertificate in_shard(const std::string& serial, int shard, std::int64_t not_after = 2'000'000) {
  PendingCertificate p = pending(serial, not_after);
  p.crl_shard = shard;
  return p;
}

inline std::vector<std::string> revoked_in(Store& store, int shard, std::int64_t not_after_min,
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

inline std::vector<int> shards_of(Store& store, std::int64_t not_after_min) {
  auto shards = store.crl_shards("ab12", not_after_min);
  REQUIRE(shards.has_value());
  return *shards;
}

inline std::int64_t next_number(Store& store, const std::string& issuer, int shard) {
  auto n = store.next_crl_number(issuer, shard);
  REQUIRE_MESSAGE(n.has_value(), (n ? "" : n.error().detail));
  return *n;
}

inline std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sigil::test::sqlite_fixture
