// ACCEPTANCE-sized: 10,000 reserve+complete pairs into one SQLite file, each its own durable
// transaction (two fsyncs per pair: minutes on a loaded machine), hence its own binary labelled
// `slow`, out of the unit set.
#include <doctest/doctest.h>

#include "tests/store/sqlite_fixture.hpp"

using namespace sigil::test::sqlite_fixture;

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
