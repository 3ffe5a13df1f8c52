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
