// The SQLite store's ACME repository (store/acme.hpp) against real database files in a fresh
// directory under /tmp. Races use two Store instances on one file (two connections, as two
// processes would have) and, for the rate limiter, real child processes.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/sqlite_store_internal.hpp"
#include "store/store.hpp"

namespace {

namespace fs = std::filesystem;
using sigil::Bytes;
using sigil::Errc;
using sigil::Status;
using namespace sigil::store;

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/sigil-acme-store-test-XXXXXX";
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

 private:
  fs::path path_;
};

std::unique_ptr<Store> open_store(const fs::path& path) {
  auto store = sqlite::open(path.string());
  REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().detail));
  return std::move(store).value();
}

#define REQUIRE_OK(expr)                                                           \
  do {                                                                             \
    const auto status_ = (expr);                                                   \
    REQUIRE_MESSAGE(status_.has_value(), (status_ ? "" : status_.error().detail)); \
  } while (0)

// The error code of a call that must fail.
template <class R>
Errc error_of(const R& result) {
  REQUIRE_FALSE(result.has_value());
  return result.error().code;
}

AuditEntry audit(const std::string& action, const std::string& target) {
  return AuditEntry{1'000, "acme:test", action, target, "ok", action + " " + target};
}

std::size_t audit_count(Store& store) {
  auto rows = store.recent(1000);
  REQUIRE(rows.has_value());
  return rows->size();
}

AcmeAccount account(const std::string& id, const std::string& thumbprint) {
  AcmeAccount a;
  a.id = id;
  a.thumbprint = thumbprint;
  a.jwk = R"({"crv":"P-256","kty":"EC","x":")" + thumbprint + R"(","y":"y"})";
  a.status = "valid";
  a.contact = {"mailto:ops@example.test", "mailto:second@example.test"};
  a.terms_agreed = true;
  a.created_at = 1'700'000'000;
  return a;
}

AcmeAuthorization authorization(const std::string& id, const std::string& order_id, const std::string& name,
                                const std::string& account_id = "acct1") {
  AcmeAuthorization z;
  z.id = id;
  z.account_id = account_id;
  z.order_id = order_id;
  z.identifier = AcmeIdentifier{"dns", name};
  z.status = "pending";
  z.expires = 1'700'604'800;
  z.token = "tok-" + id;
  z.challenges = {AcmeChallenge{"http-01", "pending", 0, ""}, AcmeChallenge{"dns-01", "pending", 0, ""},
                  AcmeChallenge{"tls-alpn-01", "pending", 0, ""}};
  return z;
}

struct OrderWithAuthz {
  AcmeOrder order;
  std::vector<AcmeAuthorization> authorizations;
};

// An order for `names`, each with a new authorization "<order id>-<i>".
OrderWithAuthz order(const std::string& id, const std::vector<std::string>& names,
                     const std::string& account_id = "acct1") {
  OrderWithAuthz o;
  o.order.id = id;
  o.order.account_id = account_id;
  o.order.status = "pending";
  o.order.expires = 1'700'086'400;
  o.order.profile = "server";
  o.order.created_at = 1'700'000'100;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string authz_id = id + "-" + std::to_string(i);
    o.order.identifiers.push_back(AcmeIdentifier{"dns", names[i]});
    o.order.authorization_ids.push_back(authz_id);
    o.authorizations.push_back(authorization(authz_id, id, names[i], account_id));
  }
  return o;
}

void create(Store& store, const OrderWithAuthz& o) {
  REQUIRE_OK(store.create_order(o.order, o.authorizations, audit("new-order", o.order.id)));
}

EabKey eab(const std::string& kid) {
  EabKey k;
  k.kid = kid;
  k.hmac_key = Bytes{0x00, 0x01, 0xfe, 0xff, 0x00, 0x7f};
  k.description = "team " + kid;
  k.allowed_identifiers = {"*.svc.example.test", "10.0.0.0/8"};
  k.created_at = 1'690'000'000;
  return k;
}

AcmeAccount get_account(Store& store, const std::string& id) {
  auto found = store.account(id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

AcmeOrder get_order(Store& store, const std::string& id) {
  auto found = store.order(id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

AcmeAuthorization get_authorization(Store& store, const std::string& id) {
  auto found = store.authorization(id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

EabKey get_eab(Store& store, const std::string& kid) {
  auto found = store.eab_key(kid);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  return **found;
}

bool take(Store& store, const std::string& key, std::int64_t window, std::int64_t limit) {
  auto taken = store.rate_take(key, window, limit);
  REQUIRE_MESSAGE(taken.has_value(), (taken ? "" : taken.error().detail));
  return *taken;
}

std::int64_t hits(Store& store, const std::string& key, std::int64_t window) {
  auto n = store.rate_count(key, window);
  REQUIRE(n.has_value());
  return *n;
}

void check_same(const AcmeAccount& got, const AcmeAccount& want) {
  CHECK(got.id == want.id);
  CHECK(got.thumbprint == want.thumbprint);
  CHECK(got.jwk == want.jwk);
  CHECK(got.status == want.status);
  CHECK(got.contact == want.contact);
  CHECK(got.terms_agreed == want.terms_agreed);
  CHECK(got.eab_kid == want.eab_kid);
  CHECK(got.created_at == want.created_at);
}

void check_same(const AcmeChallenge& got, const AcmeChallenge& want) {
  CHECK(got.type == want.type);
  CHECK(got.status == want.status);
  CHECK(got.validated == want.validated);
  CHECK(got.error == want.error);
}

void check_same(const AcmeAuthorization& got, const AcmeAuthorization& want) {
  CHECK(got.id == want.id);
  CHECK(got.account_id == want.account_id);
  CHECK(got.order_id == want.order_id);
  CHECK(got.identifier == want.identifier);
  CHECK(got.wildcard == want.wildcard);
  CHECK(got.status == want.status);
  CHECK(got.expires == want.expires);
  CHECK(got.token == want.token);
  REQUIRE(got.challenges.size() == want.challenges.size());
  for (std::size_t i = 0; i < got.challenges.size(); ++i) check_same(got.challenges[i], want.challenges[i]);
}

void check_same(const AcmeOrder& got, const AcmeOrder& want) {
  CHECK(got.id == want.id);
  CHECK(got.account_id == want.account_id);
  CHECK(got.status == want.status);
  CHECK(got.expires == want.expires);
  CHECK(got.identifiers == want.identifiers);
  CHECK(got.not_before == want.not_before);
  CHECK(got.not_after == want.not_after);
  CHECK(got.profile == want.profile);
  CHECK(got.replaces == want.replaces);
  CHECK(got.authorization_ids == want.authorization_ids);
  CHECK(got.certificate_serial == want.certificate_serial);
  CHECK(got.error == want.error);
  CHECK(got.created_at == want.created_at);
}

void check_same(const EabKey& got, const EabKey& want) {
  CHECK(got.kid == want.kid);
  CHECK(got.hmac_key == want.hmac_key);
  CHECK(got.description == want.description);
  CHECK(got.allowed_identifiers == want.allowed_identifiers);
  CHECK(got.created_at == want.created_at);
  CHECK(got.revoked_at == want.revoked_at);
  CHECK(got.account_id == want.account_id);
}

// The file seen through a plain SQLite connection.
class RawDb {
 public:
  explicit RawDb(const fs::path& path, int flags = SQLITE_OPEN_READWRITE) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_busy_timeout(db_, 5000) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  // Every row's last column, joined by '\n' (EXPLAIN QUERY PLAN's "detail" is its last column).
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(stmt, sqlite3_column_count(stmt) - 1);
      if (!out.empty()) out += '\n';
      if (p != nullptr) out += reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

TEST_CASE("ACME accounts round-trip every field, by id and by thumbprint") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  plain.status = "deactivated";
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

TEST_CASE("create_account refuses a taken thumbprint or id and writes nothing") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  bad.status = "pending";
  CHECK(error_of(store->create_account(bad, audit("new-account", "acct3"))) == Errc::invalid_argument);
  CHECK(error_of(store->create_account(account("", "thumb-4"), audit("new-account", ""))) == Errc::invalid_argument);
  CHECK(error_of(store->create_account(account("acct5", ""), audit("new-account", "acct5"))) == Errc::invalid_argument);

  CHECK(audit_count(*store) == 1);
}

TEST_CASE("update_account replaces the mutable fields and refuses another account's key") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  changed.status = "deactivated";
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
  steal.status = "valid";
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

TEST_CASE("update_account is compare-and-set on the state read: a stale write is a conflict and changes nothing") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  off.status = "deactivated";
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

TEST_CASE("EAB keys: round trip, list, taken kid, revoke") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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

TEST_CASE("an EAB key binds to one account only, in the account's transaction") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  auto other = open_store(dir / "sigil.db");
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

TEST_CASE("orders and authorizations round-trip every field") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  wild.challenges = {AcmeChallenge{"dns-01", "pending", 0, ""}};
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
  p.order.status = "invalid";
  p.order.certificate_serial = "0a1b2c";
  p.order.error = R"({"type":"urn:ietf:params:acme:error:unauthorized","detail":"x"})";
  p.order.profile = "client";
  p.authorizations[0].status = "invalid";
  p.authorizations[0].challenges[0] =
      AcmeChallenge{"http-01", "invalid", 0, R"({"type":"urn:ietf:params:acme:error:connection"})"};
  p.authorizations[0].challenges[1] = AcmeChallenge{"dns-01", "valid", 1'700'000'500, ""};
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

TEST_CASE("create_order writes the order and all its authorizations, or nothing") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
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
  bad_status.authorizations[0].challenges[0].status = "done";
  CHECK(error_of(store->create_order(bad_status.order, bad_status.authorizations, audit("new-order", "ord7"))) ==
        Errc::invalid_argument);
  bad_status = order("ord7", {"i.example.test"});
  bad_status.order.status = "finished";
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

TEST_CASE("update_order is a compare-and-set on the stored status") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const OrderWithAuthz o = order("ord1", {"a.example.test"});
  create(*store, o);
  const std::size_t rows = audit_count(*store);

  AcmeOrder ready = o.order;
  ready.status = "ready";
  ready.expires = o.order.expires + 60;
  REQUIRE_OK(store->update_order(ready, "pending"));
  check_same(get_order(*store, "ord1"), ready);

  AcmeOrder stale = ready;
  stale.status = "invalid";
  stale.error = "late";
  CHECK(error_of(store->update_order(stale, "pending")) == Errc::conflict);
  check_same(get_order(*store, "ord1"), ready);

  // Only status, expires, certificate_serial and error are written.
  AcmeOrder valid = ready;
  valid.status = "valid";
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
  REQUIRE_OK(store->update_order(tampered, "ready"));
  check_same(get_order(*store, "ord1"), valid);

  AcmeOrder ghost = valid;
  ghost.id = "ord-ghost";
  CHECK(error_of(store->update_order(ghost, "valid")) == Errc::not_found);
  AcmeOrder bad = valid;
  bad.status = "done";
  CHECK(error_of(store->update_order(bad, "valid")) == Errc::invalid_argument);
  CHECK(audit_count(*store) == rows);  // updates carry no audit entry
}

TEST_CASE("two finalizers racing on two connections: exactly one update wins") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto a = open_store(db);
  auto b = open_store(db);
  REQUIRE_OK(a->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  constexpr int kRounds = 20;
  constexpr int kThreads = 6;
  for (int round = 0; round < kRounds; ++round) {
    const std::string id = "ord" + std::to_string(round);
    OrderWithAuthz o = order(id, {"r" + std::to_string(round) + ".example.test"});
    o.order.status = "ready";
    create(*a, o);

    std::atomic<int> wins{0};
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        AcmeOrder mine = o.order;
        mine.status = "processing";
        mine.error = "finalizer " + std::to_string(t);  // tells the winner apart
        const Status st = (t % 2 == 0 ? *a : *b).update_order(mine, "ready");
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
    CHECK(get_order(*b, id).status == "processing");
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
      mine.status = "valid";
      mine.challenges[0] = AcmeChallenge{"http-01", "valid", 1'700'000'000 + t, ""};
      if ((t % 2 == 0 ? *a : *b).update_authorization(mine, "pending")) {
        wins.fetch_add(1);
        winner.store(t);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wins.load() == 1);
  const AcmeAuthorization stored = get_authorization(*a, "ord-z-0");
  CHECK(stored.status == "valid");
  REQUIRE(stored.challenges.size() == 3);
  CHECK(stored.challenges[0].validated == 1'700'000'000 + winner.load());
}

TEST_CASE("update_authorization is a compare-and-set that rewrites the challenges") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const OrderWithAuthz o = order("ord1", {"a.example.test"});
  create(*store, o);

  // A challenge moves to processing while the authorization stays pending.
  AcmeAuthorization processing = o.authorizations[0];
  processing.challenges[1].status = "processing";
  REQUIRE_OK(store->update_authorization(processing, "pending"));
  check_same(get_authorization(*store, "ord1-0"), processing);

  AcmeAuthorization valid = processing;
  valid.status = "valid";
  valid.expires += 86'400 * 30;
  valid.challenges = {AcmeChallenge{"dns-01", "valid", 1'700'000'123, ""}};  // fewer challenges is fine
  REQUIRE_OK(store->update_authorization(valid, "pending"));
  check_same(get_authorization(*store, "ord1-0"), valid);

  AcmeAuthorization late = processing;
  late.status = "invalid";
  CHECK(error_of(store->update_authorization(late, "pending")) == Errc::conflict);
  check_same(get_authorization(*store, "ord1-0"), valid);

  // Identifier, token, wildcard, account and order are fixed at creation.
  AcmeAuthorization tampered = valid;
  tampered.identifier = AcmeIdentifier{"dns", "evil.example.test"};
  tampered.token = "other";
  tampered.wildcard = true;
  tampered.status = "revoked";
  REQUIRE_OK(store->update_authorization(tampered, "valid"));
  AcmeAuthorization want = valid;
  want.status = "revoked";
  check_same(get_authorization(*store, "ord1-0"), want);

  AcmeAuthorization ghost = valid;
  ghost.id = "ghost";
  CHECK(error_of(store->update_authorization(ghost, "valid")) == Errc::not_found);
  AcmeAuthorization bad = want;
  bad.status = "done";
  CHECK(error_of(store->update_authorization(bad, "revoked")) == Errc::invalid_argument);
  bad = want;
  bad.challenges[0].status = "done";
  CHECK(error_of(store->update_authorization(bad, "revoked")) == Errc::invalid_argument);
  check_same(get_authorization(*store, "ord1-0"), want);
}

TEST_CASE("order_replacing finds the newest order that is not invalid, through its index") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
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
  same_second.order.created_at = 200;  // same second as ord2, stored later
  create(*store, same_second);
  OrderWithAuthz other = order("ord4", {"b.example.test"});
  other.order.replaces = "cert.B";
  other.order.created_at = 300;
  create(*store, other);

  auto found = replacing("cert.A");
  REQUIRE(found.has_value());
  check_same(*found, same_second.order);

  AcmeOrder failed = same_second.order;
  failed.status = "invalid";
  REQUIRE_OK(store->update_order(failed, "pending"));
  found = replacing("cert.A");
  REQUIRE(found.has_value());
  CHECK(found->id == "ord2");

  AcmeOrder done = second.order;
  done.status = "valid";  // a valid replacement still counts
  REQUIRE_OK(store->update_order(done, "pending"));
  found = replacing("cert.A");
  REQUIRE(found.has_value());
  CHECK(found->id == "ord2");
  CHECK(replacing("cert.B")->id == "ord4");
  CHECK_FALSE(replacing("cert.C").has_value());

  RawDb raw(db, SQLITE_OPEN_READONLY);
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

TEST_CASE("rate_take: a fixed window up to its limit, windows and keys apart") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  const std::string key = "new-order:acct1";
  CHECK(hits(*store, key, 1000) == 0);
  for (int i = 0; i < 3; ++i) CHECK(take(*store, key, 1000, 3));
  CHECK(hits(*store, key, 1000) == 3);
  CHECK_FALSE(take(*store, key, 1000, 3));
  CHECK_FALSE(take(*store, key, 1000, 3));
  CHECK(hits(*store, key, 1000) == 3);  // a refused hit changes nothing

  // A higher limit for the same window lets more through; a lower one refuses.
  CHECK(take(*store, key, 1000, 4));
  CHECK_FALSE(take(*store, key, 1000, 2));
  CHECK(hits(*store, key, 1000) == 4);

  // Another key is counted apart.
  CHECK(take(*store, "new-order:acct2", 1000, 1));
  CHECK_FALSE(take(*store, "new-order:acct2", 1000, 1));
  CHECK(hits(*store, "new-order:acct2", 1000) == 1);

  // The next window starts from zero; the previous one may be pruned.
  CHECK(take(*store, key, 2000, 3));
  CHECK(hits(*store, key, 2000) == 1);
  CHECK(hits(*store, key, 1000) == 0);
  CHECK(hits(*store, "new-order:acct2", 1000) == 1);  // other keys keep their windows

  CHECK_FALSE(take(*store, key, 3000, 0));
  CHECK(hits(*store, key, 3000) == 0);
  CHECK(error_of(store->rate_take(key, 3000, -1)) == Errc::invalid_argument);
}

TEST_CASE("rate_take counts across two stores on one file, exactly to the limit") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto a = open_store(db);
  auto b = open_store(db);
  constexpr int kThreads = 8;
  constexpr int kTries = 40;
  constexpr std::int64_t kLimit = 100;
  std::atomic<int> taken{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < kTries; ++i) {
        auto r = s.rate_take("k", 60, kLimit);
        if (!r) {
          failures.fetch_add(1);
        } else if (*r) {
          taken.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(taken.load() == kLimit);
  CHECK(hits(*a, "k", 60) == kLimit);
  CHECK(hits(*b, "k", 60) == kLimit);
}

TEST_CASE("rate_take counts across processes sharing the file") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  { auto created = open_store(db); }  // migrated before the children race
  constexpr int kChildren = 4;
  constexpr int kTries = 30;
  constexpr std::int64_t kLimit = 50;
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The child reports how many hits it took as its exit status (255: failure).
      auto store = sqlite::open(db.string());
      if (!store) ::_exit(255);
      int mine = 0;
      for (int i = 0; i < kTries; ++i) {
        auto r = (*store)->rate_take("shared", 0, kLimit);
        if (!r) ::_exit(255);
        if (*r) ++mine;
      }
      store->reset();
      ::_exit(mine);
    }
    children.push_back(pid);
  }
  int total = 0;
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) != 255);
    total += WEXITSTATUS(status);
  }
  CHECK(total == kLimit);
  auto store = open_store(db);
  CHECK(hits(*store, "shared", 0) == kLimit);
}

TEST_CASE("ACME state survives close and reopen") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  AcmeAccount a = account("acct1", "thumb-1");
  a.eab_kid = "kid-1";
  OrderWithAuthz o = order("ord1", {"a.example.test", "b.example.test"});
  o.order.replaces = "cert.A";
  o.order.not_after = 1'800'000'000;
  {
    auto store = open_store(db);
    REQUIRE_OK(store->create_eab_key(eab("kid-1"), audit("eab-create", "kid-1")));
    REQUIRE_OK(store->create_account(a, audit("new-account", "acct1")));
    create(*store, o);
    o.authorizations[1].status = "valid";
    o.authorizations[1].challenges[0] = AcmeChallenge{"http-01", "valid", 1'700'000'001, ""};
    REQUIRE_OK(store->update_authorization(o.authorizations[1], "pending"));
    REQUIRE(take(*store, "k", 10, 5));
    REQUIRE(take(*store, "k", 10, 5));
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto store = open_store(db);
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

// ---- migration 6: the account's orders list, authorization reuse; transactions that carry more

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

std::int64_t commits(Store& store) {
  auto n = sqlite::write_commits(store);
  REQUIRE(n.has_value());
  return *n;
}

}  // namespace

TEST_CASE("orders_of_account: newest first, after a cursor, without invalid or expired ones, through its index") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
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
  b.status = "invalid";
  REQUIRE_OK(store->update_order(b, "pending"));
  AcmeOrder e = get_order(*store, "ord-e");
  e.status = "valid";
  e.certificate_serial = "0e";
  REQUIRE_OK(store->update_order(e, "pending"));
  AcmeOrder f = get_order(*store, "ord-f");
  f.status = "processing";
  REQUIRE_OK(store->update_order(f, "pending"));

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

  RawDb raw(db, SQLITE_OPEN_READONLY);
  const std::string plan = raw.text(
      "EXPLAIN QUERY PLAN SELECT id FROM acme_orders WHERE account_id = 'acct1' AND (created_at, id) < (5, 'x') "
      "ORDER BY created_at DESC, id DESC LIMIT 3");
  CHECK(plan.find("acme_orders_account") != std::string::npos);
  CHECK(plan.find("TEMP B-TREE") == std::string::npos);  // no sort: the index is in order
}

TEST_CASE("reusable_authorization: only the account's valid, unexpired one for exactly that identifier") {
  TempDir dir;
  const fs::path db = dir / "sigil.db";
  auto store = open_store(db);
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
    z.status = "valid";
    z.expires = expires;
    z.challenges[0] = AcmeChallenge{"http-01", "valid", 1'700'000'000, ""};
    REQUIRE_OK(store->update_authorization(z, "pending"));
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
  z.status = "deactivated";
  REQUIRE_OK(store->update_authorization(z, "valid"));
  CHECK(find("acct1", "a.example.test", false, 0) == "o1-0");
  z = get_authorization(*store, "o1-0");
  z.status = "invalid";
  REQUIRE_OK(store->update_authorization(z, "valid"));
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

  RawDb raw(db, SQLITE_OPEN_READONLY);
  const std::string plan = raw.text(
      "EXPLAIN QUERY PLAN SELECT id FROM acme_authorizations WHERE account_id = 'acct1' AND identifier_type = 'dns' "
      "AND identifier_value = 'a' AND wildcard = 0 AND status = 'valid' AND expires > 5 ORDER BY expires DESC LIMIT 1");
  CHECK(plan.find("acme_authorizations_reusable") != std::string::npos);
}

TEST_CASE("create_order takes its rate-limit hit in the same transaction, or writes nothing") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const RateHit hit{"new-order:acct1", 3600, 2};
  const std::int64_t before = commits(*store);
  for (const char* id : {"o1", "o2"}) {
    OrderWithAuthz o = order(id, {std::string(id) + ".example.test"});
    REQUIRE_OK(store->create_order(o.order, o.authorizations, audit("new-order", id), hit));
  }
  CHECK(commits(*store) - before == 2);  // one commit per order, its count included
  CHECK(hits(*store, "new-order:acct1", 3600) == 2);
  const std::size_t rows = audit_count(*store);

  OrderWithAuthz third = order("o3", {"o3.example.test"});
  CHECK(error_of(store->create_order(third.order, third.authorizations, audit("new-order", "o3"), hit)) ==
        Errc::rate_limited);
  CHECK(hits(*store, "new-order:acct1", 3600) == 2);
  CHECK(audit_count(*store) == rows);
  auto missing = store->order("o3");
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
  auto no_authz = store->authorization("o3-0");
  REQUIRE(no_authz.has_value());
  CHECK_FALSE(no_authz->has_value());
  CHECK(commits(*store) - before == 2);  // a refused change is no commit

  // A refused order (its id taken) does not count against the limit either.
  OrderWithAuthz dup = order("o1", {"again.example.test"});
  dup.order.authorization_ids = {"o1-x"};
  dup.authorizations[0].id = "o1-x";
  CHECK(error_of(store->create_order(dup.order, dup.authorizations, audit("new-order", "o1"),
                                     RateHit{"new-order:acct1", 7200, 5})) == Errc::already_exists);
  CHECK(hits(*store, "new-order:acct1", 7200) == 0);
}

TEST_CASE("update_authorization carries its audit row and rate-limit hit, only when the update wins") {
  TempDir dir;
  auto store = open_store(dir / "sigil.db");
  REQUIRE_OK(store->create_account(account("acct1", "thumb-1"), audit("new-account", "acct1")));
  const OrderWithAuthz o = order("ord1", {"a.example.test"});
  create(*store, o);
  const std::size_t rows = audit_count(*store);
  const std::int64_t before = commits(*store);

  AcmeAuthorization failed = o.authorizations[0];
  failed.status = "invalid";
  failed.challenges[0] = AcmeChallenge{"http-01", "invalid", 0, R"({"type":"x"})"};
  const AuditEntry entry = audit("acme-validate", "a.example.test");
  const RateHit hit{"failed-validation:a.example.test", 0, INT64_MAX};
  REQUIRE_OK(store->update_authorization(failed, "pending", &entry, hit));
  CHECK(commits(*store) - before == 1);
  CHECK(audit_count(*store) == rows + 1);
  CHECK(hits(*store, "failed-validation:a.example.test", 0) == 1);
  check_same(get_authorization(*store, "ord1-0"), failed);

  // The compare-and-set lost: neither the audit row nor the hit is written.
  CHECK(error_of(store->update_authorization(failed, "pending", &entry, hit)) == Errc::conflict);
  CHECK(audit_count(*store) == rows + 1);
  CHECK(hits(*store, "failed-validation:a.example.test", 0) == 1);
  CHECK(commits(*store) - before == 1);

  // A hit over its limit refuses the whole update.
  AcmeAuthorization back = failed;
  back.status = "deactivated";
  CHECK(error_of(store->update_authorization(back, "invalid", &entry, RateHit{"k", 0, 0})) == Errc::rate_limited);
  CHECK(get_authorization(*store, "ord1-0").status == "invalid");
  CHECK(audit_count(*store) == rows + 1);
}
