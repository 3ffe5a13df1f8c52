// The ACME repository (store/acme.hpp) on both engines (tests/store/engines.hpp): a fresh SQLite
// file under /tmp, a fresh database in the test PostgreSQL cluster. Accounts, EAB keys,
// persistence, migration and foreign keys. Orders and authorizations are in
// acme_store_orders_test.cpp, rate limits in acme_store_rate_test.cpp. Races use two Store
// instances on one database (two connections, as two processes or two nodes would have).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store_internal.hpp"

#include "tests/store/acme_store_fixture.hpp"

using namespace sigil::test::acme_store;
using sigil::Bytes;
using sigil::Errc;
using sigil::Status;
using namespace sigil::store;

TEST_CASE_TEMPLATE("ACME accounts round-trip every field, by id and by thumbprint", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_eab_key(eab("kid-1"), audit("eab-create", "kid-1")));

  AcmeAccount a = account("acct1", "thumb-1");
  a.eab_kid = "kid-1";
  a.contact = {"mailto:b@example.test", "mailto:a@example.test", "mailto:b@example.test"};  // order, dupes kept
  REQUIRE_OK(store->create_account(a, audit("new-account", "acct1")));
  check_same(get_account(*store, "acct1"), a);

  auto by_key = store->account_by_thumbprint("thumb-1");
  REQUIRE(by_key.has_value());
  REQUIRE(by_key->has_value());
  check_same(**by_key, a);

  // No EAB, no contact, terms not agreed, another status.
  AcmeAccount plain = account("acct2", "thumb-2");
  plain.contact.clear();
  plain.terms_agreed = false;
  plain.status = AccountStatus::deactivated;
  REQUIRE_OK(store->create_account(plain, audit("new-account", "acct2")));
  check_same(get_account(*store, "acct2"), plain);

  auto missing = store->account("nobody");
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
  auto missing_key = store->account_by_thumbprint("no-such-thumb");
  REQUIRE(missing_key.has_value());
  CHECK_FALSE(missing_key->has_value());
  CHECK(audit_count(*store) == 3);
}

TEST_CASE_TEMPLATE("create_account refuses a taken thumbprint or id and writes nothing", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));

  AcmeAccount same_key = account("acct2", "thumb-1");
  same_key.contact = {"mailto:intruder@example.test"};
  CHECK(error_of(store->create_account(same_key, audit("new-account", "acct2"))) == Errc::already_exists);
  auto absent = store->account("acct2");
  REQUIRE(absent.has_value());
  CHECK_FALSE(absent->has_value());

  AcmeAccount same_id = account("acct1", "thumb-other");
  same_id.contact = {"mailto:intruder@example.test"};
  CHECK(error_of(store->create_account(same_id, audit("new-account", "acct1"))) == Errc::already_exists);
  check_same(get_account(*store, "acct1"), account("acct1", "thumb-1"));  // contacts untouched

  AcmeAccount bad = account("acct3", "thumb-3");
  bad.status = not_a_status<AccountStatus>();
  CHECK(error_of(store->create_account(bad, audit("new-account", "acct3"))) == Errc::invalid_argument);
  CHECK(error_of(store->create_account(account("", "thumb-4"), audit("new-account", ""))) == Errc::invalid_argument);
  CHECK(error_of(store->create_account(account("acct5", ""), audit("new-account", "acct5"))) == Errc::invalid_argument);

  CHECK(audit_count(*store) == 1);
}

TEST_CASE_TEMPLATE("update_account replaces the mutable fields and refuses another account's key", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_eab_key(eab("kid-1"), audit("eab-create", "kid-1")));
  AcmeAccount a = account("acct1", "thumb-1");
  a.eab_kid = "kid-1";
  REQUIRE_OK(store->create_account(a, audit("new-account", "acct1")));
  REQUIRE_OK(store->create_account(account("acct2", "thumb-2"), audit("new-account", "acct2")));

  AcmeAccount changed = a;
  changed.thumbprint = "thumb-rolled";
  changed.jwk = R"({"kty":"OKP","crv":"Ed25519","x":"new"})";
  changed.contact = {"mailto:new@example.test"};
  changed.terms_agreed = false;
  changed.status = AccountStatus::deactivated;
  changed.eab_kid = "ignored";  // fixed at creation
  changed.created_at = 42;      // fixed at creation
  REQUIRE_OK(store->update_account(changed, a, audit("update-account", "acct1")));
  AcmeAccount want = changed;
  want.eab_kid = "kid-1";
  want.created_at = a.created_at;
  check_same(get_account(*store, "acct1"), want);
  auto old_key = store->account_by_thumbprint("thumb-1");
  REQUIRE(old_key.has_value());
  CHECK_FALSE(old_key->has_value());  // the old thumbprint is free again
  auto new_key = store->account_by_thumbprint("thumb-rolled");
  REQUIRE(new_key.has_value());
  REQUIRE(new_key->has_value());
  CHECK((*new_key)->id == "acct1");

  // Key rollover onto acct2's key: refused, and nothing of acct1 changes (contacts included).
  AcmeAccount steal = want;
  steal.thumbprint = "thumb-2";
  steal.contact = {"mailto:x@example.test", "mailto:y@example.test"};
  steal.status = AccountStatus::valid;
  const std::size_t rows = audit_count(*store);
  CHECK(error_of(store->update_account(steal, want, audit("update-account", "acct1"))) == Errc::already_exists);
  check_same(get_account(*store, "acct1"), want);
  check_same(get_account(*store, "acct2"), account("acct2", "thumb-2"));

  // No contacts at all is a valid update too.
  AcmeAccount no_contact = want;
  no_contact.contact.clear();
  REQUIRE_OK(store->update_account(no_contact, want, audit("update-account", "acct1")));
  CHECK(get_account(*store, "acct1").contact.empty());

  CHECK(error_of(store->update_account(account("ghost", "thumb-g"), account("ghost", "thumb-g"),
                                       audit("update-account", "ghost"))) == Errc::not_found);
  CHECK(audit_count(*store) == rows + 1);
}

TEST_CASE_TEMPLATE(
    "update_account is compare-and-set on the state read: a stale write is a conflict and changes nothing", E,
    SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  const AcmeAccount read = account("acct1", "thumb-1");  // what a slow request read
  REQUIRE_OK(store->create_account(read, audit("new-account", "acct1")));
  REQUIRE_OK(store->create_account(account("acct2", "thumb-2"), audit("new-account", "acct2")));

  // A key change commits first...
  AcmeAccount rolled = read;
  rolled.thumbprint = "thumb-new";
  REQUIRE_OK(store->update_account(rolled, read, audit("key-change", "acct1")));
  const std::size_t rows = audit_count(*store);
  // ...then the slow contact update, decided on the old state, must not restore the old key.
  AcmeAccount stale = read;
  stale.contact = {"mailto:late@example.test"};
  CHECK(error_of(store->update_account(stale, read, audit("update-account", "acct1"))) == Errc::conflict);
  check_same(get_account(*store, "acct1"), rolled);

  // Deactivated meanwhile: a write decided on "valid" cannot bring it back.
  AcmeAccount off = rolled;
  off.status = AccountStatus::deactivated;
  REQUIRE_OK(store->update_account(off, rolled, audit("deactivate", "acct1")));
  AcmeAccount revive = rolled;
  revive.contact = {"mailto:back@example.test"};
  CHECK(error_of(store->update_account(revive, rolled, audit("update-account", "acct1"))) == Errc::conflict);
  check_same(get_account(*store, "acct1"), off);

  // Each compared field on its own: contact (its own rows), terms, status, thumbprint.
  AcmeAccount b = account("acct2", "thumb-2");
  AcmeAccount b2 = b;
  b2.contact = {"mailto:one@example.test"};
  REQUIRE_OK(store->update_account(b2, b, audit("update-account", "acct2")));
  AcmeAccount b3 = b;
  b3.terms_agreed = !b.terms_agreed;
  CHECK(error_of(store->update_account(b3, b, audit("update-account", "acct2"))) == Errc::conflict);  // contact
  AcmeAccount wrong_terms = b2;
  wrong_terms.terms_agreed = !b2.terms_agreed;
  CHECK(error_of(store->update_account(b2, wrong_terms, audit("update-account", "acct2"))) == Errc::conflict);
  check_same(get_account(*store, "acct2"), b2);
  CHECK(audit_count(*store) == rows + 2);  // the two writes that won, nothing for the refused ones

  // list_accounts: every account, by created_at then id.
  auto all = store->list_accounts();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == "acct1");
  CHECK((*all)[1].id == "acct2");
  CHECK((*all)[1].contact == b2.contact);
}

TEST_CASE_TEMPLATE("list fields keep text that looks like list syntax, exactly", E, SqliteEngine, PostgresEngine) {
  // PostgreSQL carries these lists as arrays: quotes, backslashes, commas, braces, a "NULL" word,
  // empty strings and spaces must come back as they went in.
  E engine;
  Store* store = &engine.store();
  const std::vector<std::string> awkward{"",
                                         "NULL",
                                         "null",
                                         "a,b",
                                         "{x}",
                                         "\"quoted\"",
                                         "back\\slash",
                                         " padded ",
                                         "tab\there",
                                         "ünïcödé",
                                         "{\"k\":[1,\"v\"]}"};
  EabKey key = eab("kid-1");
  key.allowed_identifiers = awkward;
  REQUIRE_OK(store->create_eab_key(key, audit("eab-create", "kid-1")));
  check_same(get_eab(*store, "kid-1"), key);

  AcmeAccount a = account("acct1", "thumb-1");
  a.contact = awkward;
  REQUIRE_OK(store->create_account(a, audit("new-account", "acct1")));
  check_same(get_account(*store, "acct1"), a);
  AcmeAccount b = a;  // the compare-and-set compares these contacts too
  b.contact = {"NULL", ""};
  REQUIRE_OK(store->update_account(b, a, audit("update-account", "acct1")));
  check_same(get_account(*store, "acct1"), b);

  OrderWithAuthz o = order("ord1", {"x.example.test"});
  o.order.identifiers = {AcmeIdentifier{"dns", "a,b"}, AcmeIdentifier{"ip", "{\"}"}};
  o.order.error = R"({"detail":"a \"quoted\" \\ word"})";
  o.authorizations[0].challenges[0].error = awkward.back();
  o.authorizations[0].challenges[1].error = "\\";
  o.authorizations[0].challenges[2].type = "NULL";
  create(*store, o);
  check_same(get_order(*store, "ord1"), o.order);
  check_same(get_authorization(*store, "ord1-0"), o.authorizations[0]);
}

TEST_CASE_TEMPLATE("EAB keys: round trip, list, taken kid, revoke", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  EabKey first = eab("kid-b");
  EabKey second = eab("kid-a");
  second.allowed_identifiers.clear();
  second.description.clear();
  second.created_at = first.created_at + 10;
  EabKey third = eab("kid-c");
  third.created_at = first.created_at;  // same second: the kid breaks the tie
  REQUIRE_OK(store->create_eab_key(first, audit("eab-create", first.kid)));
  REQUIRE_OK(store->create_eab_key(second, audit("eab-create", second.kid)));
  REQUIRE_OK(store->create_eab_key(third, audit("eab-create", third.kid)));
  check_same(get_eab(*store, "kid-b"), first);
  check_same(get_eab(*store, "kid-a"), second);

  auto all = store->list_eab_keys();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].kid == "kid-b");
  CHECK((*all)[1].kid == "kid-c");
  CHECK((*all)[2].kid == "kid-a");
  check_same((*all)[0], first);

  EabKey again = eab("kid-b");
  again.hmac_key = Bytes{0x42};
  CHECK(error_of(store->create_eab_key(again, audit("eab-create", "kid-b"))) == Errc::already_exists);
  check_same(get_eab(*store, "kid-b"), first);

  EabKey empty_hmac = eab("kid-x");
  empty_hmac.hmac_key.clear();
  CHECK(error_of(store->create_eab_key(empty_hmac, audit("eab-create", "kid-x"))) == Errc::invalid_argument);
  CHECK(error_of(store->create_eab_key(eab(""), audit("eab-create", ""))) == Errc::invalid_argument);
  EabKey prebound = eab("kid-y");
  prebound.account_id = "acct1";
  CHECK(error_of(store->create_eab_key(prebound, audit("eab-create", "kid-y"))) == Errc::invalid_argument);

  REQUIRE_OK(store->revoke_eab_key("kid-a", 1'695'000'000, audit("eab-revoke", "kid-a")));
  CHECK(get_eab(*store, "kid-a").revoked_at == std::optional<std::int64_t>(1'695'000'000));
  CHECK(error_of(store->revoke_eab_key("kid-a", 1'696'000'000, audit("eab-revoke", "kid-a"))) == Errc::conflict);
  CHECK(get_eab(*store, "kid-a").revoked_at == std::optional<std::int64_t>(1'695'000'000));  // first stands
  CHECK(error_of(store->revoke_eab_key("kid-none", 1, audit("eab-revoke", "kid-none"))) == Errc::not_found);

  auto missing = store->eab_key("kid-none");
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
  CHECK(audit_count(*store) == 4);  // three creations, one revocation
}

TEST_CASE_TEMPLATE("an EAB key binds to one account only, in the account's transaction", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_eab_key(eab("kid-1"), audit("eab-create", "kid-1")));
  REQUIRE_OK(store->create_eab_key(eab("kid-revoked"), audit("eab-create", "kid-revoked")));
  REQUIRE_OK(store->revoke_eab_key("kid-revoked", 5, audit("eab-revoke", "kid-revoked")));
  const std::size_t rows = audit_count(*store);

  AcmeAccount a = account("acct1", "thumb-1");
  a.eab_kid = "kid-1";
  REQUIRE_OK(store->create_account(a, audit("new-account", "acct1")));
  CHECK(get_eab(*store, "kid-1").account_id == "acct1");

  auto absent = [&](const std::string& id, const std::string& thumbprint) {
    auto by_id = store->account(id);
    REQUIRE(by_id.has_value());
    CHECK_FALSE(by_id->has_value());
    auto by_key = store->account_by_thumbprint(thumbprint);
    REQUIRE(by_key.has_value());
    CHECK_FALSE(by_key->has_value());
  };

  AcmeAccount reuse = account("acct2", "thumb-2");
  reuse.eab_kid = "kid-1";
  CHECK(error_of(store->create_account(reuse, audit("new-account", "acct2"))) == Errc::conflict);
  absent("acct2", "thumb-2");
  CHECK(get_eab(*store, "kid-1").account_id == "acct1");

  AcmeAccount revoked = account("acct3", "thumb-3");
  revoked.eab_kid = "kid-revoked";
  CHECK(error_of(store->create_account(revoked, audit("new-account", "acct3"))) == Errc::conflict);
  absent("acct3", "thumb-3");
  CHECK(get_eab(*store, "kid-revoked").account_id.empty());

  AcmeAccount unknown = account("acct4", "thumb-4");
  unknown.eab_kid = "kid-unknown";
  CHECK(error_of(store->create_account(unknown, audit("new-account", "acct4"))) == Errc::not_found);
  absent("acct4", "thumb-4");

  // A taken thumbprint is reported as such even with an EAB key, and leaves the key unbound.
  REQUIRE_OK(store->create_eab_key(eab("kid-2"), audit("eab-create", "kid-2")));
  AcmeAccount dup_key = account("acct5", "thumb-1");
  dup_key.eab_kid = "kid-2";
  CHECK(error_of(store->create_account(dup_key, audit("new-account", "acct5"))) == Errc::already_exists);
  CHECK(get_eab(*store, "kid-2").account_id.empty());

  CHECK(audit_count(*store) == rows + 2);  // acct1 and kid-2 only

  // Two stores race to bind the same fresh key: exactly one account is created.
  REQUIRE_OK(store->create_eab_key(eab("kid-race"), audit("eab-create", "kid-race")));
  auto other = engine.open_again();
  std::atomic<int> wins{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Store& s = (t % 2 == 0) ? *store : *other;
      AcmeAccount racer = account("racer" + std::to_string(t), "thumb-racer" + std::to_string(t));
      racer.eab_kid = "kid-race";
      const Status st = s.create_account(racer, audit("new-account", racer.id));
      if (st) {
        wins.fetch_add(1);
      } else if (st.error().code == Errc::conflict) {
        conflicts.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wins.load() == 1);
  CHECK(conflicts.load() == 7);
  const std::string bound = get_eab(*store, "kid-race").account_id;
  CHECK(get_account(*store, bound).eab_kid == "kid-race");
}

TEST_CASE_TEMPLATE("update_account from two stores at once: one write decided on a state wins, the rest conflict", E,
                   SqliteEngine, PostgresEngine) {
  TwoStores<E> two;  // acct1 as `read` below
  auto [a, b] = std::tie(two.a, two.b);
  const AcmeAccount read = account("acct1", "thumb-1");
  constexpr int kThreads = 6;
  const std::vector<Status> outcomes = race(kThreads, 1, [&](int t, int) {
    AcmeAccount mine = read;  // each changes only the contacts, so only the contacts tell them apart
    mine.contact = {"mailto:writer" + std::to_string(t) + "@example.test"};
    return (t % 2 == 0 ? *a : *b).update_account(mine, read, audit("update-account", "acct1"));
  });
  CHECK(count(outcomes) == 1);
  CHECK(count(outcomes, Errc::conflict) == kThreads - 1);
  const auto winner = std::find_if(outcomes.begin(), outcomes.end(), [](const Status& st) { return st.has_value(); });
  CHECK(get_account(*a, "acct1").contact ==
        std::vector<std::string>{"mailto:writer" + std::to_string(winner - outcomes.begin()) + "@example.test"});
  CHECK(audit_count(*a) == 2);
}

TEST_CASE_TEMPLATE("ACME state survives close and reopen", E, SqliteEngine, PostgresEngine) {
  E engine;  // its own store stays open; the stores below are opened and closed on its database
  AcmeAccount a = account("acct1", "thumb-1");
  a.eab_kid = "kid-1";
  OrderWithAuthz o = order("ord1", {"a.example.test", "b.example.test"});
  o.order.replaces = "cert.A";
  o.order.not_after = 1'800'000'000;
  {
    auto store = engine.open_again();
    REQUIRE_OK(store->create_eab_key(eab("kid-1"), audit("eab-create", "kid-1")));
    REQUIRE_OK(store->create_account(a, audit("new-account", "acct1")));
    create(*store, o);
    o.authorizations[1].status = AuthorizationStatus::valid;
    o.authorizations[1].challenges[0] = AcmeChallenge{"http-01", ChallengeStatus::valid, 1'700'000'001, ""};
    REQUIRE_OK(store->update_authorization(o.authorizations[1], AuthorizationStatus::pending));
    REQUIRE(take(*store, "k", 10, 5));
    REQUIRE(take(*store, "k", 10, 5));
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto store = engine.open_again();
    check_same(get_account(*store, "acct1"), a);
    check_same(get_order(*store, "ord1"), o.order);
    auto listed = store->authorizations_of_order("ord1");
    REQUIRE(listed.has_value());
    REQUIRE(listed->size() == 2);
    check_same((*listed)[0], o.authorizations[0]);
    check_same((*listed)[1], o.authorizations[1]);
    EabKey want = eab("kid-1");
    want.account_id = "acct1";
    check_same(get_eab(*store, "kid-1"), want);
    auto found = store->order_replacing("cert.A");
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->id == "ord1");
    CHECK(hits(*store, "k", 10) == 2);
    CHECK(audit_count(*store) == 3);
    auto ok = store->integrity_check();
    REQUIRE(ok.has_value());
    CHECK(*ok == "ok");
  }
}

// SQLite only: it writes an old schema into the file by hand. PostgreSQL's schema starts at
// migration 1 of store/postgres/migrations.hpp; no database predates its ACME tables.
TEST_CASE("a database at schema version 2 migrates to the ACME schema with its data") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  REQUIRE(sqlite::kMigrations.size() >= 3);
  {
    // What sigil wrote before ACME: migrations 1 and 2, a certificate and its audit row.
    RawDb raw(db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    REQUIRE(raw.exec("PRAGMA journal_mode = WAL") == SQLITE_OK);
    for (std::size_t i = 0; i < 2; ++i) {
      REQUIRE(raw.exec("BEGIN") == SQLITE_OK);
      REQUIRE(raw.exec(std::string(sqlite::kMigrations[i])) == SQLITE_OK);
      REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(i + 1)) == SQLITE_OK);
      REQUIRE(raw.exec("PRAGMA application_id = " + std::to_string(sqlite::kApplicationId)) == SQLITE_OK);
      REQUIRE(raw.exec("COMMIT") == SQLITE_OK);
    }
    REQUIRE(raw.exec("INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
                     "not_before, not_after, created_at, status) "
                     "VALUES ('0a', 'ab12', x'3003020101', x'30820100', 'CN=old', 'server', 'cli', 1, 2000, 1, "
                     "'valid')") == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
                     "VALUES (1, 'cli', 'issue', '0a', 'ok', 'old')") == SQLITE_OK);
    REQUIRE(raw.integer("PRAGMA user_version") == 2);
    CHECK(raw.text("SELECT name FROM sqlite_master WHERE name = 'acme_accounts'").empty());
  }

  auto store = open_store(db);
  auto settings = sqlite::connection_settings(*store);
  REQUIRE(settings.has_value());
  CHECK(settings->user_version == static_cast<int>(sqlite::kMigrations.size()));
  auto old = store->find("0a");
  REQUIRE(old.has_value());
  REQUIRE(old->has_value());
  CHECK((*old)->subject == "CN=old");
  CHECK((*old)->status == CertStatus::valid);
  CHECK(audit_count(*store) == 1);

  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  create(*store, order("ord1", {"a.example.test"}));
  CHECK(get_order(*store, "ord1").authorization_ids == std::vector<std::string>{"ord1-0"});
  CHECK(take(*store, "k", 0, 1));
  auto ok = store->integrity_check();
  REQUIRE(ok.has_value());
  CHECK(*ok == "ok");

  RawDb raw(db, SQLITE_OPEN_READONLY);
  CHECK(raw.integer("PRAGMA user_version") == static_cast<std::int64_t>(sqlite::kMigrations.size()));
  CHECK(raw.integer("PRAGMA application_id") == sqlite::kApplicationId);
  for (const char* name : {"acme_accounts", "acme_accounts_thumbprint", "acme_orders", "acme_orders_replaces",
                           "acme_authorizations", "acme_order_authorizations", "acme_challenges", "acme_eab_keys",
                           "acme_rate_counters", "acme_orders_account", "acme_authorizations_reusable"}) {
    CAPTURE(name);
    CHECK(raw.text("SELECT name FROM sqlite_master WHERE name = '" + std::string(name) + "'") == name);
  }
}

// SQLite: foreign keys are a per-connection setting, so a plain connection that turns them on
// must be refused too (the PostgreSQL twin follows).
TEST_CASE("foreign keys hold ACME rows to their parents") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
  RawDb raw(db);
  REQUIRE(raw.exec("PRAGMA foreign_keys = ON") == SQLITE_OK);
  CHECK(raw.exec("INSERT INTO acme_orders (id, account_id, status, expires, profile, certificate_serial, error, "
                 "created_at) VALUES ('o', 'nobody', 'pending', 1, 'server', '', '', 1)") == SQLITE_CONSTRAINT);
  CHECK(raw.exec("INSERT INTO acme_account_contacts (account_id, position, contact) VALUES ('nobody', 0, 'x')") ==
        SQLITE_CONSTRAINT);
  CHECK(raw.exec("INSERT INTO acme_challenges (authorization_id, position, type, status, validated, error) "
                 "VALUES ('nobody', 0, 'http-01', 'pending', 0, '')") == SQLITE_CONSTRAINT);
}

TEST_CASE("postgresql: foreign keys hold ACME rows to their parents") {
  PostgresEngine engine;
  RawPg raw(engine.location());
  const std::string fk_violation = "23503";
  CHECK(raw.exec("INSERT INTO acme_orders (id, account_id, status, expires, profile, certificate_serial, error, "
                 "created_at) VALUES ('o', 'nobody', 'pending', 1, 'server', '', '', 1)") == fk_violation);
  CHECK(raw.exec("INSERT INTO acme_account_contacts (account_id, position, contact) VALUES ('nobody', 0, 'x')") ==
        fk_violation);
  CHECK(raw.exec("INSERT INTO acme_challenges (authorization_id, position, type, status, validated, error) "
                 "VALUES ('nobody', 0, 'http-01', 'pending', 0, '')") == fk_violation);
}

namespace {

// Past the schema's CHECK constraints, as a damaged or hand-edited database would be.
void write_unknown_statuses(const SqliteEngine& engine) {
  RawDb raw(engine.location());
  REQUIRE(raw.exec("PRAGMA ignore_check_constraints = ON") == SQLITE_OK);
  REQUIRE(raw.exec("UPDATE acme_accounts SET status = 'pending' WHERE id = 'acct1'") == SQLITE_OK);
  REQUIRE(raw.exec("UPDATE acme_orders SET status = 'Valid' WHERE id = 'ord1'") == SQLITE_OK);
  REQUIRE(raw.exec("UPDATE acme_challenges SET status = 'ready' WHERE authorization_id = 'ord1-0'") == SQLITE_OK);
}

void write_unknown_statuses(const PostgresEngine& engine) {
  RawPg raw(engine.location());
  for (const char* table : {"acme_accounts", "acme_orders", "acme_challenges"}) {
    CAPTURE(table);
    REQUIRE(raw.exec("ALTER TABLE " + std::string(table) + " DROP CONSTRAINT " + table + "_status_check") == "");
  }
  REQUIRE(raw.exec("UPDATE acme_accounts SET status = 'pending' WHERE id = 'acct1'") == "");
  REQUIRE(raw.exec("UPDATE acme_orders SET status = 'Valid' WHERE id = 'ord1'") == "");
  REQUIRE(raw.exec("UPDATE acme_challenges SET status = 'ready' WHERE authorization_id = 'ord1-0'") == "");
}

}  // namespace

TEST_CASE_TEMPLATE("a status text outside the RFC's set reads as a damaged database, not as some status", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  create(*store, order("ord1", {"a.example.test"}));
  write_unknown_statuses(engine);
  CHECK(error_of(store->account("acct1")) == Errc::storage);
  CHECK(error_of(store->order("ord1")) == Errc::storage);
  CHECK(error_of(store->authorization("ord1-0")) == Errc::storage);
}
