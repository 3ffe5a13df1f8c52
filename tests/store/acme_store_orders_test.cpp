// ACME orders and authorizations (store/acme.hpp) on both engines: round trips, creation in one
// transaction, compare-and-set updates (raced on two connections: two nodes), the replacement
// rule, the account's orders list and authorization reuse, (SQLite) the indexes they use, and
// that state committed without an fsync still survives the writer's SIGKILL.
#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store_internal.hpp"
#include "tests/store/acme_store_fixture.hpp"

using namespace sigil::test::acme_store;
using sigil::Bytes;
using sigil::Errc;
using sigil::Status;
using namespace sigil::store;

TEST_CASE_TEMPLATE("orders and authorizations round-trip every field", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));

  OrderWithAuthz o = order("ord1", {"www.example.test", "example.test", "*.example.test"});
  o.order.not_before = 1'700'000'000;
  o.order.not_after = 1'700'864'000;
  o.order.replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
  o.order.certificate_serial = "";
  o.order.error = "";
  AcmeAuthorization& wild = o.authorizations[2];
  wild.identifier.value = "example.test";  // without the "*."
  wild.wildcard = true;
  wild.challenges = {AcmeChallenge{"dns-01", ChallengeStatus::pending, 0, ""}};
  o.authorizations[1].challenges.clear();  // no challenges at all also round-trips
  create(*store, o);

  check_same(get_order(*store, "ord1"), o.order);
  for (const AcmeAuthorization& z : o.authorizations) check_same(get_authorization(*store, z.id), z);

  auto listed = store->authorizations_of_order("ord1");
  REQUIRE(listed.has_value());
  REQUIRE(listed->size() == 3);
  for (std::size_t i = 0; i < 3; ++i) check_same((*listed)[i], o.authorizations[i]);

  // No notBefore/notAfter, no replaces, and a later valid state with serial and error text.
  OrderWithAuthz p = order("ord2", {"api.example.test"});
  p.order.status = OrderStatus::invalid;
  p.order.certificate_serial = "0a1b2c";
  p.order.error = R"({"type":"urn:ietf:params:acme:error:unauthorized","detail":"x"})";
  p.order.profile = "client";
  p.authorizations[0].status = AuthorizationStatus::invalid;
  p.authorizations[0].challenges[0] =
      AcmeChallenge{"http-01", ChallengeStatus::invalid, 0, R"({"type":"urn:ietf:params:acme:error:connection"})"};
  p.authorizations[0].challenges[1] = AcmeChallenge{"dns-01", ChallengeStatus::valid, 1'700'000'500, ""};
  create(*store, p);
  check_same(get_order(*store, "ord2"), p.order);
  check_same(get_authorization(*store, "ord2-0"), p.authorizations[0]);
  CHECK_FALSE(get_order(*store, "ord2").not_before.has_value());

  auto none = store->order("nope");
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  auto no_authz = store->authorization("nope");
  REQUIRE(no_authz.has_value());
  CHECK_FALSE(no_authz->has_value());
  auto empty = store->authorizations_of_order("nope");
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
  CHECK(audit_count(*store) == 3);
}

TEST_CASE_TEMPLATE("create_order writes the order and all its authorizations, or nothing", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  create(*store, order("ord1", {"a.example.test"}));
  const std::size_t rows = audit_count(*store);

  auto nothing_of = [&](const std::string& order_id, const std::vector<std::string>& authz_ids) {
    auto o = store->order(order_id);
    REQUIRE(o.has_value());
    CHECK_FALSE(o->has_value());
    for (const auto& id : authz_ids) {
      auto z = store->authorization(id);
      REQUIRE(z.has_value());
      CHECK_FALSE(z->has_value());
    }
  };

  // The last authorization's id is taken: the order and its first authorization are undone too.
  OrderWithAuthz clash = order("ord2", {"b.example.test", "c.example.test"});
  clash.authorizations[1].id = "ord1-0";
  clash.order.authorization_ids[1] = "ord1-0";
  CHECK(error_of(store->create_order(clash.order, clash.authorizations, audit("new-order", "ord2"))) ==
        Errc::already_exists);
  nothing_of("ord2", {"ord2-0"});
  check_same(get_authorization(*store, "ord1-0"), order("ord1", {"a.example.test"}).authorizations[0]);

  // A taken order id.
  OrderWithAuthz same_id = order("ord1", {"d.example.test"});
  same_id.authorizations[0].id = "fresh-authz";
  same_id.order.authorization_ids[0] = "fresh-authz";
  CHECK(error_of(store->create_order(same_id.order, same_id.authorizations, audit("new-order", "ord1"))) ==
        Errc::already_exists);
  nothing_of("no-such", {"fresh-authz"});
  check_same(get_order(*store, "ord1"), order("ord1", {"a.example.test"}).order);

  // An unknown account.
  OrderWithAuthz stranger = order("ord3", {"e.example.test"}, "acct-unknown");
  CHECK(error_of(store->create_order(stranger.order, stranger.authorizations, audit("new-order", "ord3"))) ==
        Errc::not_found);
  nothing_of("ord3", {"ord3-0"});

  // Naming an authorization that neither exists nor is given.
  OrderWithAuthz dangling = order("ord4", {"f.example.test"});
  dangling.order.authorization_ids.push_back("authz-nowhere");
  CHECK(error_of(store->create_order(dangling.order, dangling.authorizations, audit("new-order", "ord4"))) ==
        Errc::not_found);
  nothing_of("ord4", {"ord4-0"});

  // Given but not named, or of another order or account: the caller's mistake.
  OrderWithAuthz unnamed = order("ord5", {"g.example.test"});
  unnamed.order.authorization_ids.clear();
  CHECK(error_of(store->create_order(unnamed.order, unnamed.authorizations, audit("new-order", "ord5"))) ==
        Errc::invalid_argument);
  OrderWithAuthz foreign = order("ord6", {"h.example.test"});
  foreign.authorizations[0].order_id = "ord1";
  CHECK(error_of(store->create_order(foreign.order, foreign.authorizations, audit("new-order", "ord6"))) ==
        Errc::invalid_argument);
  OrderWithAuthz bad_status = order("ord7", {"i.example.test"});
  bad_status.authorizations[0].challenges[0].status = not_a_status<ChallengeStatus>();
  CHECK(error_of(store->create_order(bad_status.order, bad_status.authorizations, audit("new-order", "ord7"))) ==
        Errc::invalid_argument);
  bad_status = order("ord7", {"i.example.test"});
  bad_status.order.status = not_a_status<OrderStatus>();
  CHECK(error_of(store->create_order(bad_status.order, bad_status.authorizations, audit("new-order", "ord7"))) ==
        Errc::invalid_argument);
  nothing_of("ord5", {"ord5-0", "ord6-0", "ord7-0"});

  CHECK(audit_count(*store) == rows);

  // An order may name an authorization created with an earlier order (authorization reuse).
  OrderWithAuthz reuse = order("ord8", {"j.example.test"});
  reuse.order.identifiers.push_back(AcmeIdentifier{"dns", "a.example.test"});
  reuse.order.authorization_ids = {"ord1-0", "ord8-0"};
  create(*store, reuse);
  CHECK(get_order(*store, "ord8").authorization_ids == std::vector<std::string>{"ord1-0", "ord8-0"});
  auto listed = store->authorizations_of_order("ord8");
  REQUIRE(listed.has_value());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].id == "ord1-0");
  CHECK((*listed)[0].order_id == "ord1");
  CHECK((*listed)[1].id == "ord8-0");
}

TEST_CASE_TEMPLATE("update_order is a compare-and-set on the stored status", E, SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const OrderWithAuthz o = order("ord1", {"a.example.test"});
  create(*store, o);
  const std::size_t rows = audit_count(*store);

  AcmeOrder ready = o.order;
  ready.status = OrderStatus::ready;
  ready.expires = o.order.expires + 60;
  REQUIRE_OK(store->update_order(ready, OrderStatus::pending));
  check_same(get_order(*store, "ord1"), ready);

  AcmeOrder stale = ready;
  stale.status = OrderStatus::invalid;
  stale.error = "late";
  CHECK(error_of(store->update_order(stale, OrderStatus::pending)) == Errc::conflict);
  check_same(get_order(*store, "ord1"), ready);

  // Only status, expires, certificate_serial and error are written.
  AcmeOrder valid = ready;
  valid.status = OrderStatus::valid;
  valid.certificate_serial = "7f01";
  valid.error = "";
  AcmeOrder tampered = valid;
  tampered.account_id = "acct-other";
  tampered.identifiers = {AcmeIdentifier{"dns", "evil.example.test"}};
  tampered.authorization_ids = {};
  tampered.profile = "spiffe";
  tampered.replaces = "x.y";
  tampered.not_before = 1;
  tampered.created_at = 2;
  REQUIRE_OK(store->update_order(tampered, OrderStatus::ready));
  check_same(get_order(*store, "ord1"), valid);

  AcmeOrder ghost = valid;
  ghost.id = "ord-ghost";
  CHECK(error_of(store->update_order(ghost, OrderStatus::valid)) == Errc::not_found);
  AcmeOrder bad = valid;
  bad.status = not_a_status<OrderStatus>();
  CHECK(error_of(store->update_order(bad, OrderStatus::valid)) == Errc::invalid_argument);
  CHECK(audit_count(*store) == rows);  // updates carry no audit entry
}

TEST_CASE_TEMPLATE("two finalizers racing on two connections: exactly one update wins", E, SqliteEngine,
                   PostgresEngine) {
  TwoStores<E> two;
  auto [a, b] = std::tie(two.a, two.b);
  constexpr int kRounds = 20;
  constexpr int kThreads = 6;
  for (int round = 0; round < kRounds; ++round) {
    const std::string id = "ord" + std::to_string(round);
    OrderWithAuthz o = order(id, {"r" + std::to_string(round) + ".example.test"});
    o.order.status = OrderStatus::ready;
    create(*a, o);

    std::atomic<int> wins{0};
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        AcmeOrder mine = o.order;
        mine.status = OrderStatus::processing;
        mine.error = "finalizer " + std::to_string(t);  // tells the winner apart
        const Status st = (t % 2 == 0 ? *a : *b).update_order(mine, OrderStatus::ready);
        if (st) {
          wins.fetch_add(1);
        } else if (st.error().code == Errc::conflict) {
          conflicts.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(wins.load() == 1);
    CHECK(conflicts.load() == kThreads - 1);
    CHECK(get_order(*b, id).status == OrderStatus::processing);
  }

  // The same for authorizations, whose challenges travel with the winning write.
  OrderWithAuthz o = order("ord-z", {"z.example.test"});
  create(*a, o);
  std::atomic<int> wins{0};
  std::atomic<int> winner{-1};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AcmeAuthorization mine = o.authorizations[0];
      mine.status = AuthorizationStatus::valid;
      mine.challenges[0] = AcmeChallenge{"http-01", ChallengeStatus::valid, 1'700'000'000 + t, ""};
      if ((t % 2 == 0 ? *a : *b).update_authorization(mine, AuthorizationStatus::pending)) {
        wins.fetch_add(1);
        winner.store(t);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wins.load() == 1);
  const AcmeAuthorization stored = get_authorization(*a, "ord-z-0");
  CHECK(stored.status == AuthorizationStatus::valid);
  REQUIRE(stored.challenges.size() == 3);
  CHECK(stored.challenges[0].validated == 1'700'000'000 + winner.load());
}

TEST_CASE_TEMPLATE("update_authorization is a compare-and-set that rewrites the challenges", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const OrderWithAuthz o = order("ord1", {"a.example.test"});
  create(*store, o);

  // A challenge moves to processing while the authorization stays pending.
  AcmeAuthorization processing = o.authorizations[0];
  processing.challenges[1].status = ChallengeStatus::processing;
  REQUIRE_OK(store->update_authorization(processing, AuthorizationStatus::pending));
  check_same(get_authorization(*store, "ord1-0"), processing);

  AcmeAuthorization valid = processing;
  valid.status = AuthorizationStatus::valid;
  valid.expires += 86'400 * 30;
  valid.challenges = {AcmeChallenge{"dns-01", ChallengeStatus::valid, 1'700'000'123, ""}};  // fewer challenges is fine
  REQUIRE_OK(store->update_authorization(valid, AuthorizationStatus::pending));
  check_same(get_authorization(*store, "ord1-0"), valid);

  AcmeAuthorization late = processing;
  late.status = AuthorizationStatus::invalid;
  CHECK(error_of(store->update_authorization(late, AuthorizationStatus::pending)) == Errc::conflict);
  check_same(get_authorization(*store, "ord1-0"), valid);

  // Identifier, token, wildcard, account and order are fixed at creation.
  AcmeAuthorization tampered = valid;
  tampered.identifier = AcmeIdentifier{"dns", "evil.example.test"};
  tampered.token = "other";
  tampered.wildcard = true;
  tampered.status = AuthorizationStatus::revoked;
  REQUIRE_OK(store->update_authorization(tampered, AuthorizationStatus::valid));
  AcmeAuthorization want = valid;
  want.status = AuthorizationStatus::revoked;
  check_same(get_authorization(*store, "ord1-0"), want);

  AcmeAuthorization ghost = valid;
  ghost.id = "ghost";
  CHECK(error_of(store->update_authorization(ghost, AuthorizationStatus::valid)) == Errc::not_found);
  AcmeAuthorization bad = want;
  bad.status = not_a_status<AuthorizationStatus>();
  CHECK(error_of(store->update_authorization(bad, AuthorizationStatus::revoked)) == Errc::invalid_argument);
  bad = want;
  bad.challenges[0].status = not_a_status<ChallengeStatus>();
  CHECK(error_of(store->update_authorization(bad, AuthorizationStatus::revoked)) == Errc::invalid_argument);
  check_same(get_authorization(*store, "ord1-0"), want);
}

TEST_CASE_TEMPLATE("order_replacing finds the newest order that is not invalid, through its index", E, SqliteEngine,
                   PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));

  auto replacing = [&](const std::string& cert_id) -> std::optional<AcmeOrder> {
    auto found = store->order_replacing(cert_id);
    REQUIRE(found.has_value());
    return *found;
  };
  CHECK_FALSE(replacing("cert.A").has_value());
  CHECK_FALSE(replacing("").has_value());

  OrderWithAuthz plain = order("ord0", {"p.example.test"});  // replaces nothing
  create(*store, plain);
  CHECK_FALSE(replacing("").has_value());  // "" never matches an order that replaces nothing

  OrderWithAuthz first = order("ord1", {"a.example.test"});
  first.order.replaces = "cert.A";
  first.order.created_at = 100;
  create(*store, first);
  OrderWithAuthz second = order("ord2", {"a.example.test"});
  second.order.replaces = "cert.A";
  second.order.created_at = 200;
  create(*store, second);
  OrderWithAuthz same_second = order("ord3", {"a.example.test"});
  same_second.order.replaces = "cert.A";
  // Same second as ord2, stored later, and the larger id: PostgreSQL keeps no insertion order, so
  // it breaks the tie by id (SQLite by rowid).
  same_second.order.created_at = 200;
  create(*store, same_second);
  OrderWithAuthz other = order("ord4", {"b.example.test"});
  other.order.replaces = "cert.B";
  other.order.created_at = 300;
  create(*store, other);

  auto found = replacing("cert.A");
  REQUIRE(found.has_value());
  check_same(*found, same_second.order);

  AcmeOrder failed = same_second.order;
  failed.status = OrderStatus::invalid;
  REQUIRE_OK(store->update_order(failed, OrderStatus::pending));
  found = replacing("cert.A");
  REQUIRE(found.has_value());
  CHECK(found->id == "ord2");

  AcmeOrder done = second.order;
  done.status = OrderStatus::valid;  // a valid replacement still counts
  REQUIRE_OK(store->update_order(done, OrderStatus::pending));
  found = replacing("cert.A");
  REQUIRE(found.has_value());
  CHECK(found->id == "ord2");
  CHECK(replacing("cert.B")->id == "ord4");
  CHECK_FALSE(replacing("cert.C").has_value());

  // The query plans are SQLite's (EXPLAIN QUERY PLAN on the file); a few rows tell nothing about
  // PostgreSQL's planner, which picks a sequential scan for tables this small.
  if constexpr (!is_sqlite<E>) return;
  RawDb raw(engine.location(), SQLITE_OPEN_READONLY);
  const std::string plan = raw.text(
      "EXPLAIN QUERY PLAN SELECT id FROM acme_orders WHERE replaces = 'cert.A' AND status <> 'invalid' "
      "ORDER BY created_at DESC, rowid DESC LIMIT 1");
  CAPTURE(plan);
  CHECK(plan.find("acme_orders_replaces") != std::string::npos);
  CHECK(plan.find("TEMP B-TREE") == std::string::npos);
  const std::string by_order = raw.text(
      "EXPLAIN QUERY PLAN SELECT a.id FROM acme_order_authorizations AS l "
      "JOIN acme_authorizations AS a ON a.id = l.authorization_id WHERE l.order_id = 'ord1' ORDER BY l.position");
  CAPTURE(by_order);
  CHECK(by_order.find("SCAN") == std::string::npos);
  CHECK(by_order.find("TEMP B-TREE") == std::string::npos);
}

namespace {

std::vector<std::string> ids_of(const std::vector<AcmeOrder>& orders) {
  std::vector<std::string> out;
  for (const auto& o : orders) out.push_back(o.id);
  return out;
}

std::vector<AcmeOrder> orders_of(Store& store, const std::string& account, std::int64_t now,
                                 const std::optional<AcmeOrderCursor>& after, int limit) {
  auto got = store.orders_of_account(account, now, after, limit);
  REQUIRE_MESSAGE(got.has_value(), (got ? "" : got.error().detail));
  return *got;
}

}  // namespace

TEST_CASE_TEMPLATE(
    "orders_of_account: newest first, after a cursor, without invalid or expired ones, through its index", E,
    SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  REQUIRE_OK(store->create_account(account("acct2", "thumb-2"), audit("new-account", "acct2")));
  // created_at 100..105; ord-c and ord-d share a second (the id breaks the tie).
  const std::vector<std::pair<std::string, std::int64_t>> made{{"ord-a", 100}, {"ord-b", 101}, {"ord-c", 102},
                                                               {"ord-d", 102}, {"ord-e", 104}, {"ord-f", 105}};
  for (const auto& [id, at] : made) {
    OrderWithAuthz o = order(id, {id + ".example.test"});
    o.order.created_at = at;
    create(*store, o);
  }
  create(*store, order("ord-other", {"other.example.test"}, "acct2"));
  // ord-b is invalid; ord-e is valid (listed after it expires); ord-f is processing.
  AcmeOrder b = get_order(*store, "ord-b");
  b.status = OrderStatus::invalid;
  REQUIRE_OK(store->update_order(b, OrderStatus::pending));
  AcmeOrder e = get_order(*store, "ord-e");
  e.status = OrderStatus::valid;
  e.certificate_serial = "0e";
  REQUIRE_OK(store->update_order(e, OrderStatus::pending));
  AcmeOrder f = get_order(*store, "ord-f");
  f.status = OrderStatus::processing;
  REQUIRE_OK(store->update_order(f, OrderStatus::pending));

  const std::int64_t now = 1'700'000'000;  // before every expiry
  const auto all = orders_of(*store, "acct1", now, std::nullopt, 100);
  CHECK(ids_of(all) == std::vector<std::string>{"ord-f", "ord-e", "ord-d", "ord-c", "ord-a"});
  REQUIRE(all.size() == 5);
  check_same(all[1], get_order(*store, "ord-e"));  // whole orders, identifiers and authorizations included

  const auto first = orders_of(*store, "acct1", now, std::nullopt, 2);
  CHECK(ids_of(first) == std::vector<std::string>{"ord-f", "ord-e"});
  const auto second = orders_of(*store, "acct1", now, AcmeOrderCursor{first[1].created_at, first[1].id}, 2);
  CHECK(ids_of(second) == std::vector<std::string>{"ord-d", "ord-c"});
  const auto third = orders_of(*store, "acct1", now, AcmeOrderCursor{second[1].created_at, second[1].id}, 2);
  CHECK(ids_of(third) == std::vector<std::string>{"ord-a"});
  CHECK(orders_of(*store, "acct1", now, AcmeOrderCursor{100, "ord-a"}, 2).empty());
  CHECK(ids_of(orders_of(*store, "acct2", now, std::nullopt, 10)) == std::vector<std::string>{"ord-other"});
  CHECK(orders_of(*store, "nobody", now, std::nullopt, 10).empty());

  // Past the pending orders' expiry, the valid and the processing order remain.
  CHECK(ids_of(orders_of(*store, "acct1", 1'800'000'000, std::nullopt, 10)) ==
        std::vector<std::string>{"ord-f", "ord-e"});

  CHECK(error_of(store->orders_of_account("acct1", now, std::nullopt, 0)) == Errc::invalid_argument);
  CHECK(error_of(store->orders_of_account("acct1", now, std::nullopt, 1001)) == Errc::invalid_argument);

  if constexpr (!is_sqlite<E>) return;  // SQLite's plan, as in the order_replacing case
  RawDb raw(engine.location(), SQLITE_OPEN_READONLY);
  const std::string plan = raw.text(
      "EXPLAIN QUERY PLAN SELECT id FROM acme_orders WHERE account_id = 'acct1' AND (created_at, id) < (5, 'x') "
      "ORDER BY created_at DESC, id DESC LIMIT 3");
  CHECK(plan.find("acme_orders_account") != std::string::npos);
  CHECK(plan.find("TEMP B-TREE") == std::string::npos);  // no sort: the index is in order
}

TEST_CASE_TEMPLATE("reusable_authorization: only the account's valid, unexpired one for exactly that identifier", E,
                   SqliteEngine, PostgresEngine) {
  E engine;
  Store* store = &engine.store();
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  REQUIRE_OK(store->create_account(account("acct2", "thumb-2"), audit("new-account", "acct2")));
  auto find = [&](const std::string& acct, const std::string& name, bool wildcard,
                  std::int64_t after) -> std::optional<std::string> {
    auto got = store->reusable_authorization(acct, AcmeIdentifier{"dns", name}, wildcard, after);
    REQUIRE_MESSAGE(got.has_value(), (got ? "" : got.error().detail));
    if (!*got) return std::nullopt;
    return (*got)->id;
  };
  auto make_valid = [&](const std::string& authz_id, std::int64_t expires) {
    AcmeAuthorization z = get_authorization(*store, authz_id);
    z.status = AuthorizationStatus::valid;
    z.expires = expires;
    z.challenges[0] = AcmeChallenge{"http-01", ChallengeStatus::valid, 1'700'000'000, ""};
    REQUIRE_OK(store->update_authorization(z, AuthorizationStatus::pending));
  };
  create(*store, order("o1", {"a.example.test"}));  // pending: not reusable
  CHECK_FALSE(find("acct1", "a.example.test", false, 0));
  make_valid("o1-0", 2'000);
  CHECK(find("acct1", "a.example.test", false, 1'999) == "o1-0");
  CHECK_FALSE(find("acct1", "a.example.test", false, 2'000));  // expires too soon
  CHECK_FALSE(find("acct1", "a.example.test", true, 0));       // the wildcard is another identifier
  CHECK_FALSE(find("acct2", "a.example.test", false, 0));      // another account's
  CHECK_FALSE(find("acct1", "b.example.test", false, 0));

  // Two valid ones: the one that lives longer.
  create(*store, order("o2", {"a.example.test"}));
  make_valid("o2-0", 3'000);
  CHECK(find("acct1", "a.example.test", false, 0) == "o2-0");

  // A wildcard authorization is found as a wildcard only.
  OrderWithAuthz w = order("o3", {"a.example.test"});
  w.authorizations[0].wildcard = true;
  create(*store, w);
  make_valid("o3-0", 4'000);
  CHECK(find("acct1", "a.example.test", true, 0) == "o3-0");
  CHECK(find("acct1", "a.example.test", false, 0) == "o2-0");

  // Deactivated and invalid ones are never reused.
  AcmeAuthorization z = get_authorization(*store, "o2-0");
  z.status = AuthorizationStatus::deactivated;
  REQUIRE_OK(store->update_authorization(z, AuthorizationStatus::valid));
  CHECK(find("acct1", "a.example.test", false, 0) == "o1-0");
  z = get_authorization(*store, "o1-0");
  z.status = AuthorizationStatus::invalid;
  REQUIRE_OK(store->update_authorization(z, AuthorizationStatus::valid));
  CHECK_FALSE(find("acct1", "a.example.test", false, 0));

  // A later order may name a stored authorization: create_order links it without a copy.
  OrderWithAuthz reuse = order("o4", {"a.example.test"});
  reuse.order.authorization_ids = {"o3-0"};
  REQUIRE_OK(store->create_order(reuse.order, {}, audit("new-order", "o4")));
  auto linked = store->authorizations_of_order("o4");
  REQUIRE(linked.has_value());
  REQUIRE(linked->size() == 1);
  CHECK((*linked)[0].id == "o3-0");
  CHECK((*linked)[0].order_id == "o3");

  if constexpr (!is_sqlite<E>) return;  // SQLite's plan, as in the order_replacing case
  RawDb raw(engine.location(), SQLITE_OPEN_READONLY);
  const std::string plan = raw.text(
      "EXPLAIN QUERY PLAN SELECT id FROM acme_authorizations WHERE account_id = 'acct1' AND identifier_type = 'dns' "
      "AND identifier_value = 'a' AND wildcard = 0 AND status = 'valid' AND expires > 5 ORDER BY expires DESC LIMIT 1");
  CHECK(plan.find("acme_authorizations_reusable") != std::string::npos);
}

TEST_CASE("postgresql: the account's orders list, order_replacing and reuse go through their indexes, in order") {
  // PostgreSQL's twin of the SQLite plan checks above. With sequential scans priced out, a plan
  // without the index (or with a sort for the index's own order) means the index cannot serve.
  PostgresEngine engine;
  RawPg raw(engine.location());
  REQUIRE(raw.exec("SET enable_seqscan = off") == "");
  const std::string listing = raw.text(
      "EXPLAIN SELECT id FROM acme_orders AS o WHERE o.account_id = 'acct1' AND (o.created_at, o.id) < (5, 'x') "
      "AND o.status <> 'invalid' AND (o.status IN ('processing', 'valid') OR o.expires > 1) "
      "ORDER BY o.created_at DESC, o.id DESC LIMIT 3");
  CAPTURE(listing);
  CHECK(listing.find("acme_orders_account") != std::string::npos);
  CHECK(listing.find("Sort") == std::string::npos);
  const std::string replacing = raw.text(
      "EXPLAIN SELECT id FROM acme_orders AS o WHERE o.replaces = 'cert.A' AND o.status <> 'invalid' "
      "ORDER BY o.created_at DESC, o.id DESC LIMIT 1");
  CAPTURE(replacing);
  CHECK(replacing.find("acme_orders_replaces") != std::string::npos);  // then sorts the few orders of one certificate
  const std::string reuse = raw.text(
      "EXPLAIN SELECT id FROM acme_authorizations AS a WHERE a.account_id = 'acct1' AND a.identifier_type = 'dns' "
      "AND a.identifier_value = 'a' AND a.wildcard = false AND a.status = 'valid' AND a.expires > 5 "
      "ORDER BY a.expires DESC LIMIT 1");
  CAPTURE(reuse);
  CHECK(reuse.find("acme_authorizations_reusable") != std::string::npos);
  CHECK(reuse.find("Sort") == std::string::npos);
}

TEST_CASE_TEMPLATE("order and authorization changes committed without an fsync survive the writer's SIGKILL", E,
                   SqliteEngine, PostgresEngine) {
  E engine;  // migrated, with the account, before the child writes
  REQUIRE_OK(engine.store().create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  OrderWithAuthz o = order("ord1", {"kill.example.test"});
  AcmeAuthorization processing = o.authorizations[0];
  processing.challenges[0].status = ChallengeStatus::processing;
  AcmeOrder finalizing = o.order;
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child writes through its own store, tells the parent, then waits to be killed: no
    // destructor, no close, no checkpoint runs after its last commit.
    ::close(ready[0]);
    auto store = open_plain(engine);
    if (!store) ::_exit(1);
    if (!(*store)->create_order(o.order, o.authorizations, audit("new-order", "ord1"))) ::_exit(2);
    if (!(*store)->update_authorization(processing, AuthorizationStatus::pending)) ::_exit(3);
    finalizing.status = OrderStatus::processing;
    finalizing.certificate_serial = "0badc0de";
    if (!(*store)->update_order(finalizing, OrderStatus::pending)) ::_exit(4);
    const char done = 'k';
    if (::write(ready[1], &done, 1) != 1) ::_exit(5);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char got = 0;
  const auto n = ::read(ready[0], &got, 1);
  ::close(ready[0]);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE_MESSAGE(n == 1, "the child failed before its writes, exit status " << WEXITSTATUS(status));
  REQUIRE(WIFSIGNALED(status));

  auto reopened = engine.open_again();
  const AcmeOrder stored = get_order(*reopened, "ord1");
  CHECK(stored.status == OrderStatus::processing);
  CHECK(stored.certificate_serial == "0badc0de");
  check_same(get_authorization(*reopened, "ord1-0"), processing);
  if constexpr (is_sqlite<E>) {
    // Such a change waits for no WAL sync (that is what made it cheap).
    auto before = sqlite::wal_syncs(*reopened);
    REQUIRE(before.has_value());
    REQUIRE_OK(reopened->update_authorization(o.authorizations[0], AuthorizationStatus::pending));
    auto after = sqlite::wal_syncs(*reopened);
    REQUIRE(after.has_value());
    CHECK(*after == *before);
  }
}
