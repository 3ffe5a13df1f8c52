// CRL shards, revocation scans, CRL numbers and saved CRLs, and one store shared between threads,
// on both engines (tests/store/engines.hpp).
#include <doctest/doctest.h>

#include "tests/store/store_fixture.hpp"

using namespace sigil::test::store_fixture;

TEST_CASE_TEMPLATE("one store is safe to share between threads", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("a certificate's CRL shard is stored with it, and each shard's revoked entries read apart", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("CRL numbers: one sequence per issuer and shard, shared by its complete and delta CRLs", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  {
    auto store = engine.open_again();
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
  auto store = engine.open_again();  // numbers and CRLs survive a restart
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

// ---- streaming scans ---------------------------------------------------------------------------

namespace {

// `n` signed certificates of issuer "ab12", serials "s1".."s<n>" (not_after 10'000 + i), every
// seventh revoked (keyCompromise at i): written by SQL, since n durable issuances would take
// minutes. Enough rows for a streamed scan to cross several fetches.
template <class E>
void insert_many(const E& engine, int n) {
  const std::string bytes = kIsSqlite<E> ? "x'3003'" : "'\\x3003'::bytea";
  const std::string rows =
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(n) + ") ";
  REQUIRE(
      raw_exec(engine, rows +
                           "INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
                           "not_before, not_after, created_at, status, revoked_at, revocation_reason, "
                           "revocation_seq) SELECT 's' || i, 'ab12', " +
                           bytes + ", " + bytes +
                           ", '', 'server', 'cli', 1, 10000 + i, 1, "
                           "CASE WHEN i % 7 = 0 THEN 'revoked' ELSE 'valid' END, "
                           "CASE WHEN i % 7 = 0 THEN i END, CASE WHEN i % 7 = 0 THEN 1 END, "
                           "CASE WHEN i % 7 = 0 THEN i END FROM n"));
  if constexpr (!kIsSqlite<E>) REQUIRE(raw_exec(engine, "UPDATE revocation_counter SET last = " + std::to_string(n)));
}

}  // namespace

TEST_CASE_TEMPLATE("for_each_certificate and for_each_revoked stream thousands of rows, and stop when told", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store& store = engine.store();
  constexpr int kRows = 2'500;
  insert_many(engine, kRows);
  issue(store, pending("other"));  // another issuer's
  {
    PendingCertificate p = pending("elsewhere");
    p.issuer_id = "cd34";
    issue(store, p);
  }
  REQUIRE(store.reserve(pending("pending"), audit("reserve", "pending")));  // not signed: never listed

  int all = 0, revoked = 0;
  std::set<std::string> seen;
  auto st = store.for_each_certificate("ab12", 10'001, [&](const RevokedSerial& r, bool is_revoked) -> sigil::Status {
    ++all;
    seen.insert(r.serial);
    if (is_revoked) {
      ++revoked;
      CHECK(r.reason == RevocationReason::key_compromise);
      CHECK(r.revoked_at == std::stoll(r.serial.substr(1)));
    } else {
      CHECK(r.revoked_at == 0);
    }
    return {};
  });
  REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.error().detail));
  CHECK(all == kRows + 1);  // "other" (not_after 2'000'000) too
  CHECK(seen.size() == static_cast<std::size_t>(all));
  CHECK(revoked == kRows / 7);
  CHECK(seen.count("pending") == 0);
  CHECK(seen.count("elsewhere") == 0);

  // Revoked ones in serial order (bytewise), only those unexpired.
  std::vector<std::string> serials = revoked_in(store, 0, 10'000 + 700);
  CHECK(serials.size() == static_cast<std::size_t>(kRows / 7 - 99));
  CHECK(std::is_sorted(serials.begin(), serials.end()));
  CHECK(*store.count_revoked("ab12", 0, 10'000 + 700) == static_cast<std::int64_t>(serials.size()));

  // The callback's refusal ends the scan and is returned; the store goes on working.
  int calls = 0;
  st = store.for_each_revoked("ab12", 0, 0, [&](const RevokedSerial&) -> sigil::Status {
    if (++calls == 5) return sigil::make_error(Errc::conflict, "enough");
    return {};
  });
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == Errc::conflict);
  CHECK(st.error().detail == "enough");
  CHECK(calls == 5);
  CHECK(count_of(store) == kRows + 3);
  CHECK(revoked_in(store, 0, 0).size() == static_cast<std::size_t>(kRows / 7));
}

TEST_CASE_TEMPLATE("flag_for_renewal: one serial or those issued before a time, valid and unexpired, once each", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store& store = engine.store();
  auto issued_at = [](const std::string& serial, std::int64_t created, std::int64_t not_after) {
    PendingCertificate p = pending(serial, not_after);
    p.created_at = created;
    return p;
  };
  issue(store, issued_at("01", 100, 5'000));
  issue(store, issued_at("02", 200, 5'000));
  issue(store, issued_at("03", 300, 5'000));
  issue(store, issued_at("04", 100, 900));                                      // expired at 1'000
  issue(store, issued_at("05", 100, 5'000));                                    // revoked
  REQUIRE(store.reserve(issued_at("06", 100, 5'000), audit("reserve", "06")));  // pending
  REQUIRE(store.revoke("05", 150, RevocationReason::superseded, "", audit("revoke", "05")));

  auto flagged = store.flag_for_renewal(std::string("03"), std::nullopt, 1'000, audit("flag", "03"));
  REQUIRE(flagged.has_value());
  CHECK(*flagged == 1);
  flagged = store.flag_for_renewal(std::nullopt, 250, 1'100, audit("flag", "before 250"));
  REQUIRE(flagged.has_value());
  CHECK(*flagged == 2);  // 01 and 02; not 04 (expired), 05 (revoked), 06 (pending)
  flagged = store.flag_for_renewal(std::nullopt, 400, 1'200, audit("flag", "before 400"));
  REQUIRE(flagged.has_value());
  CHECK(*flagged == 0);  // all already flagged: the first flag stands
  CHECK(store.renewal_flagged_at("03")->value() == 1'000);
  CHECK(store.renewal_flagged_at("01")->value() == 1'100);
  for (const char* s : {"04", "05", "06", "ff"}) CHECK_FALSE(store.renewal_flagged_at(s)->has_value());
  CHECK(audit_rows(store).front().detail == "flag before 400; 0 certificate(s) flagged");

  auto both = store.flag_for_renewal(std::string("01"), 400, 1'300, audit("flag", "both"));
  REQUIRE_FALSE(both.has_value());
  CHECK(both.error().code == Errc::invalid_argument);
  CHECK(store.flag_for_renewal(std::nullopt, std::nullopt, 1'300, audit("flag", "none")).error().code ==
        Errc::invalid_argument);
}

TEST_CASE_TEMPLATE("integrity_check, count and the latest CRL's thisUpdate", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store& store = engine.store();
  CHECK(store.integrity_check().value() == "ok");
  CHECK(count_of(store) == 0);
  issue(store, pending("01"));
  REQUIRE(store.revoke("01", 5, RevocationReason::superseded, "", audit("revoke", "01")));
  CHECK(count_of(store) == 1);
  CHECK(store.integrity_check().value() == "ok");
  CHECK_FALSE(store.latest_crl_this_update("ab12", 0, false)->has_value());
  REQUIRE(store.save_crl(CrlRecord{"ab12", 1, 100, 200, Bytes{0x30}, 0, false, std::nullopt}));
  CHECK(store.latest_crl_this_update("ab12", 0, false)->value() == 100);
  CHECK_FALSE(store.latest_crl_this_update("ab12", 0, true)->has_value());
}

TEST_CASE("postgresql: integrity_check names a revocation counter left behind; backup points to pg_dump") {
  PostgresEngine engine;
  Store& store = engine.store();
  issue(store, pending("01"));
  REQUIRE(store.revoke("01", 5, RevocationReason::superseded, "", audit("revoke", "01")));
  REQUIRE(raw_exec(engine, "UPDATE revocation_counter SET last = 0"));
  auto report = store.integrity_check();
  REQUIRE(report.has_value());
  CHECK(*report == "revocation_counter (0) is behind the highest revocation (1)");
  // PostgreSQL's own tools copy a live database consistently; the store writes no file.
  auto backup = store.backup("/tmp/never-written.db");
  REQUIRE_FALSE(backup.has_value());
  CHECK(backup.error().code == Errc::invalid_argument);
  CHECK(backup.error().detail.find("pg_dump") != std::string::npos);
}
