// The store's records on both engines (tests/store/engines.hpp): reserve/complete, revocation,
// audit rows, listing and paging, against a real SQLite file and a real PostgreSQL database.
#include <doctest/doctest.h>

#include "tests/store/store_fixture.hpp"

using namespace sigil::test::store_fixture;

TEST_CASE("to_string names every certificate status") {
  CHECK(std::string(to_string(CertStatus::pending)) == "pending");
  CHECK(std::string(to_string(CertStatus::valid)) == "valid");
  CHECK(std::string(to_string(CertStatus::revoked)) == "revoked");
}

TEST_CASE_TEMPLATE("reserve, complete and find round-trip every field", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("empty fields and SAN lists survive the round trip", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("a taken serial is refused and nothing else is written", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("complete refuses unknown and already completed serials", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();

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

TEST_CASE_TEMPLATE("revoke: happy path, twice, pending, unknown, bad reason", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("keyCompromise blocks the key in the revocation's own transaction; other reasons do not", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  for (const char* s : {"01", "02", "03", "04", "05"}) issue(*store, pending(s));
  const std::string other_key(64, 'b');
  auto blocked = [&](const std::string& key) {
    auto b = store->blocked_key(key);
    REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().detail));
    return *b;
  };
  CHECK_FALSE(blocked(kKeyHash).has_value());

  // SQLite counts its commits; on both engines the failing trigger below proves the same.
  auto commits = [&]() -> std::int64_t {
    if constexpr (!kIsSqlite<E>) return 0;
    auto n = sqlite::write_commits(*store);
    REQUIRE(n.has_value());
    return *n;
  };
  const auto before = commits();
  REQUIRE(store->revoke("01", 5'000, RevocationReason::key_compromise, kKeyHash, audit("revoke", "01")));
  if constexpr (kIsSqlite<E>) CHECK(commits() == before + 1);  // revocation, blocked key and audit row: one commit
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
  REQUIRE(raw_exec(engine, failing_insert_trigger<E>("blocked_keys")));
  auto st = store->revoke("05", 8'000, RevocationReason::key_compromise, other_key, audit("revoke", "05"));
  REQUIRE_FALSE(st.has_value());
  CHECK((*store->find("05"))->status == CertStatus::valid);
  CHECK_FALSE(blocked(other_key).has_value());
  CHECK(audit_rows(*store).size() == rows);
}

TEST_CASE_TEMPLATE("audit rows are written with their changes and cannot be altered", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

  if constexpr (kIsSqlite<E>) {
    RawDb raw(engine.location());
    CHECK(raw.exec("UPDATE audit_log SET actor = 'someone else'") == SQLITE_CONSTRAINT);
    CHECK(raw.extended_errcode() == SQLITE_CONSTRAINT_TRIGGER);
    CHECK(raw.exec("DELETE FROM audit_log WHERE action = 'revoke'") == SQLITE_CONSTRAINT);
    CHECK(raw.exec("DELETE FROM audit_log") == SQLITE_CONSTRAINT);
  } else {
    // The trigger's RAISE EXCEPTION: P0001 (raise_exception), for rows and for TRUNCATE.
    RawPg raw(engine.location());
    CHECK(raw.exec("UPDATE audit_log SET actor = 'someone else'") == "P0001");
    CHECK(raw.exec("DELETE FROM audit_log WHERE action = 'revoke'") == "P0001");
    CHECK(raw.exec("DELETE FROM audit_log") == "P0001");
    CHECK(raw.exec("TRUNCATE audit_log") == "P0001");
  }
  CHECK(raw_text(engine, "SELECT COUNT(*) FROM audit_log") == "4");
  CHECK(raw_text(engine, "SELECT actor FROM audit_log ORDER BY id LIMIT 1") == "cli:root@host");
  CHECK(audit_rows(*store).size() == 4);
}

TEST_CASE_TEMPLATE("list filters by status, expiry and profile", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE_TEMPLATE("list by name and requester; count_matching counts what list pages through", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  auto named = [](const std::string& serial, std::int64_t not_after, const std::string& name,
                  const std::string& requester) {
    PendingCertificate p = pending(serial, not_after);
    p.sans = {"dns:" + name, "dns:www." + name};
    p.requester = requester;
    return p;
  };
  issue(*store, named("a", 3'000, "one.example", "api:x"));
  issue(*store, named("b", 2'000, "one.example", "sigil-serve"));
  issue(*store, named("c", 2'500, "two.example", "sigil-serve"));
  issue(*store, named("d", 500, "one.example", "api:x"));                                     // expired at now
  REQUIRE(store->reserve(named("e", 2'200, "one.example", "api:x"), audit("reserve", "e")));  // pending
  REQUIRE(store->revoke("a", 900, RevocationReason::superseded, "", audit("revoke", "a")));

  using S = ListFilter::Status;
  using V = std::vector<std::string>;
  ListFilter f;
  f.now = 1'000;
  f.name = "dns:one.example";
  CHECK(serials_of(list_ok(*store, f)) == V{"d", "b", "a"});  // pending "e" left out, by not_after
  f.name = "dns:www.one.example";                             // any of its names
  CHECK(serials_of(list_ok(*store, f)) == V{"d", "b", "a"});
  f.status = S::valid;
  CHECK(serials_of(list_ok(*store, f)) == V{"b"});
  f.name = "dns:nowhere.example";
  CHECK(list_ok(*store, f).items.empty());
  f.name.reset();
  f.requester = "sigil-serve";
  CHECK(serials_of(list_ok(*store, f)) == V{"b", "c"});
  f.requester = "api:x";
  CHECK(list_ok(*store, f).items.empty());  // "a" revoked, "d" expired

  // Every filter's count is its rows over all pages, whatever the page token and limit say.
  const std::vector<ListFilter> filters = [] {
    std::vector<ListFilter> all;
    for (S status : {S::any, S::valid, S::revoked, S::expired}) {
      ListFilter g;
      g.now = 1'000;
      g.status = status;
      all.push_back(g);
      g.name = "dns:one.example";
      all.push_back(g);
      g.name.reset();
      g.requester = "sigil-serve";
      g.expiring_before = 2'200;
      all.push_back(g);
    }
    return all;
  }();
  for (ListFilter g : filters) {
    const std::size_t listed = list_ok(*store, g).items.size();
    g.limit = 1;
    g.page_token = list_ok(*store, g).next_page_token;
    auto counted = store->count_matching(g);
    REQUIRE(counted.has_value());
    CHECK(*counted == static_cast<std::int64_t>(listed));
  }
  f = ListFilter{};
  f.now = 1'000;
  CHECK(store->count_matching(f).value() == 4);
  if constexpr (!kIsSqlite<E>) {
    // With sequential scans priced out, a plan without the names' index means it cannot serve
    // (SQLite's plan: the case below).
    RawPg raw(engine.location());
    REQUIRE(raw.exec("SET enable_seqscan = off") == "");
    CHECK(raw.text("EXPLAIN SELECT serial FROM certificates WHERE serial IN "
                   "(SELECT serial FROM certificate_sans WHERE name = 'dns:a.example')")
              .find("certificate_sans_name") != std::string::npos);
  }
}

TEST_CASE_TEMPLATE("pagination visits every row once, in order", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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
  // Bounded: a token that does not advance fails here instead of hanging the suite.
  for (std::size_t pages = 0;; ++pages) {
    REQUIRE(pages <= kRows / 7 + 1);
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

TEST_CASE_TEMPLATE("list validates its limit and page token", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
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

TEST_CASE("sqlite: COUNT(*) and listing by name go through their indexes") {
  // The plans of what `sigil status` counts and list(name) reads, as SQLite makes them on the file
  // (migration 9's certificates_created_at, the narrowest index; migration 1's certificate_sans_name).
  SqliteEngine engine;
  issue(engine.store(), pending("a"));
  RawDb raw(engine.location());
  const std::string count = raw.plan("SELECT COUNT(*) FROM certificates");
  CAPTURE(count);
  CHECK(count.find("certificates_created_at") != std::string::npos);
  const std::string by_name = raw.plan(
      "SELECT serial FROM certificates WHERE status <> 'pending' AND serial IN "
      "(SELECT serial FROM certificate_sans WHERE name = 'dns:a.example') ORDER BY not_after, serial LIMIT 101");
  CAPTURE(by_name);
  CHECK(by_name.find("certificate_sans_name") != std::string::npos);
  CHECK(by_name.find("certificates_serial") != std::string::npos);
}
