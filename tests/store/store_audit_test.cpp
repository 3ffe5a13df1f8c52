// What the console and `sigil audit list` read, on both engines (tests/store/engines.hpp): the
// audit log page by page with filters and counts, and valid certificates' expiries per day.
#include <doctest/doctest.h>

#include "tests/store/store_fixture.hpp"

using namespace sigil::test::store_fixture;

namespace {
AuditPage page_ok(Store& store, const AuditFilter& f) {
  auto page = store.audit_page(f);
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().detail));
  return *page;
}

std::int64_t count_ok(Store& store, const AuditFilter& f) {
  auto n = store.count_audit(f);
  REQUIRE_MESSAGE(n.has_value(), (n ? "" : n.error().detail));
  return *n;
}

// Ten rows at 100, 110, ... 190: actors alternate, every third is a refused "revoke".
void write_log(Store& store) {
  for (int i = 0; i < 10; ++i) {
    const bool refused = i % 3 == 0;
    REQUIRE(
        store.append(AuditEntry{100 + 10 * i, i % 2 == 0 ? "api:admin" : "cli:root@host", refused ? "revoke" : "issue",
                                "t" + std::to_string(i), refused ? "refused" : "ok", "row " + std::to_string(i)}));
  }
}
}  // namespace

TEST_CASE_TEMPLATE("audit pages: newest first, every row once, filters narrow, counts agree", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store& store = engine.store();
  write_log(store);

  AuditFilter all;
  all.limit = 4;
  std::vector<std::string> seen;
  std::int64_t last_id = 0;
  for (int pages = 0; pages < 5; ++pages) {
    const AuditPage p = page_ok(store, all);
    for (const auto& r : p.items) {
      if (last_id != 0) CHECK(r.id < last_id);  // newest first, ids strictly falling
      last_id = r.id;
      seen.push_back(r.entry.target);
    }
    if (p.next_before_id == 0) break;
    CHECK(p.items.size() == 4);
    all.before_id = p.next_before_id;
  }
  CHECK(seen == std::vector<std::string>{"t9", "t8", "t7", "t6", "t5", "t4", "t3", "t2", "t1", "t0"});

  // Every field of the row comes back.
  AuditFilter one;
  one.limit = 1;
  const AuditPage newest = page_ok(store, one);
  REQUIRE(newest.items.size() == 1);
  CHECK(newest.items[0].entry.at == 190);
  CHECK(newest.items[0].entry.actor == "cli:root@host");
  CHECK(newest.items[0].entry.action == "revoke");
  CHECK(newest.items[0].entry.outcome == "refused");
  CHECK(newest.items[0].entry.detail == "row 9");

  AuditFilter f;
  f.since = 150;
  CHECK(page_ok(store, f).items.size() == 5);
  CHECK(count_ok(store, f) == 5);
  f.actor = "api:admin";  // rows 6 and 8
  const AuditPage admin = page_ok(store, f);
  REQUIRE(admin.items.size() == 2);
  CHECK(admin.items[0].entry.target == "t8");
  CHECK(admin.items[1].entry.target == "t6");
  CHECK(count_ok(store, f) == 2);
  f = {};
  f.action = "revoke";  // rows 0, 3, 6, 9
  CHECK(count_ok(store, f) == 4);
  f.outcome = "ok";
  CHECK(count_ok(store, f) == 0);
  CHECK(page_ok(store, f).items.empty());
  f = {};
  f.action = "issue";
  f.outcome = "ok";
  f.since = 160;  // rows 7 and 8
  CHECK(count_ok(store, f) == 2);
  // A value is bound, never spliced into the SQL.
  f = {};
  f.actor = "x' OR '1'='1";
  CHECK(page_ok(store, f).items.empty());
  CHECK(count_ok(store, f) == 0);
  CHECK(count_ok(store, AuditFilter{}) == 10);

  AuditFilter bad;
  bad.limit = 0;
  CHECK(store.audit_page(bad).error().code == Errc::invalid_argument);
  bad.limit = 1001;
  CHECK(store.audit_page(bad).error().code == Errc::invalid_argument);
}

TEST_CASE_TEMPLATE("expiring_per_day counts valid certificates by the day they expire", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store& store = engine.store();
  constexpr std::int64_t now = 1'000'000;
  constexpr std::int64_t day = 86'400;
  issue(store, pending("01", now + 1));             // day 0
  issue(store, pending("02", now + day));           // day 0: (now, now + 1 day]
  issue(store, pending("03", now + day + 1));       // day 1
  issue(store, pending("04", now + 29 * day + 5));  // day 29
  issue(store, pending("05", now + 30 * day + 5));  // beyond 30 days
  issue(store, pending("06", now));                 // expired now: not counted
  issue(store, pending("07", now + 2 * day));       // revoked: not counted
  REQUIRE(store.revoke("07", now - 5, RevocationReason::superseded, "", audit("revoke", "07")));
  REQUIRE(store.reserve(pending("08", now + 3 * day), audit("reserve", "08")));  // pending: not counted

  auto days = store.expiring_per_day(now, 30);
  REQUIRE_MESSAGE(days.has_value(), (days ? "" : days.error().detail));
  REQUIRE(days->size() == 30);
  CHECK((*days)[0] == 2);
  CHECK((*days)[1] == 1);
  CHECK((*days)[2] == 0);
  CHECK((*days)[29] == 1);
  std::int64_t total = 0;
  for (auto n : *days) total += n;
  CHECK(total == 4);
  auto longer = store.expiring_per_day(now, 90);
  REQUIRE(longer.has_value());
  CHECK((*longer)[30] == 1);

  CHECK(store.expiring_per_day(now, 0).error().code == Errc::invalid_argument);
  CHECK(store.expiring_per_day(now, 367).error().code == Errc::invalid_argument);
}
