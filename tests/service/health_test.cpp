// service::health::collect on a temporary home: the facts behind `sigil status`.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ca/service/health.hpp"
#include "ca/service/nonce_key.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "tests/support/test_ca.hpp"

using namespace sigil;
using namespace sigil::test;
namespace health = sigil::service::health;

namespace {

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// A home around the test CA: its certificates, a sigil.json pointing at its database, and a
// public listener nobody answers on (OCSP is then a warning, never a hang).
struct TestHome {
  explicit TestHome(TestCa& ca) {
    home.dir = ca.dir.path() / "home";
    write(home.ca_cert(), ca.intermediate->pem());
    write(home.root_cert(), ca.root->pem());
    service::Config c;
    c.database = ca.db_path;
    c.listeners.public_ = "127.0.0.1:1";
    write(home.config(), service::to_json(c));
  }
  std::unique_ptr<service::StoreContext> open() {
    auto ctx = service::open_store(home.dir.string());
    REQUIRE_MESSAGE(ctx.has_value(), (ctx ? "" : ctx.error().detail));
    return std::move(ctx).value();
  }
  service::Home home;
};

const health::Finding& finding(const health::Report& r, const std::string& check) {
  auto it = std::find_if(r.findings.begin(), r.findings.end(), [&](const auto& f) { return f.check == check; });
  REQUIRE(it != r.findings.end());
  return *it;
}

// A complete CRL of `shard` whose nextUpdate is `validity` after `this_update`.
void save_crl(store::Store& db, const std::string& issuer_id, int shard, TimePoint this_update, Seconds validity) {
  static std::int64_t number = 0;
  store::CrlRecord crl{issuer_id, ++number, to_unix(this_update), to_unix(this_update + validity), Bytes{0x30, 0x00},
                       shard,     false,    std::nullopt};
  REQUIRE(db.save_crl(crl));
}

}  // namespace

TEST_CASE("health: expiry thresholds have one owner") {
  CHECK(health::ca_expiry_level(Seconds(29 * 86400)) == health::Level::error);
  CHECK(health::ca_expiry_level(Seconds(31 * 86400)) == health::Level::warn);
  CHECK(health::ca_expiry_level(Seconds(89 * 86400)) == health::Level::warn);
  CHECK(health::ca_expiry_level(Seconds(91 * 86400)) == health::Level::ok);
}

TEST_CASE("health: a home without CRLs needs action; fresh ones are fine") {
  TestCa ca;
  TestHome home(ca);
  const std::string id = issuer::issuer_id(*ca.intermediate);
  {
    auto report = health::collect(*home.open(), ca.clock.now());
    REQUIRE(report.has_value());
    CHECK(finding(*report, "crl").level == health::Level::error);
    CHECK(finding(*report, "intermediate").level == health::Level::ok);
    CHECK(finding(*report, "admin_certificate").level == health::Level::warn);  // none in this home
    CHECK(report->worst() == health::Level::error);
  }
  save_crl(*ca.db, id, 0, ca.clock.now(), Seconds(86400));
  auto report = health::collect(*home.open(), ca.clock.now());
  REQUIRE(report.has_value());
  const auto& crl = finding(*report, "crl");
  CHECK(crl.level == health::Level::ok);
  CHECK(crl.data["number"].get<std::int64_t>() >= 1);
}

TEST_CASE("health: every shard's complete CRL is checked, not only shard 0's") {
  TestCa ca;
  REQUIRE(ca.issuer().update_crl_layout({3, false}));
  TestHome home(ca);
  const std::string id = issuer::issuer_id(*ca.intermediate);
  const auto& key = cached_key(crypto::KeyType::ec_p256, 7);
  // Shards are drawn per certificate; issue until shard 2 is in use.
  std::vector<int> shards;
  for (int i = 0; i < 200 && std::find(shards.begin(), shards.end(), 2) == shards.end(); ++i) {
    auto issued = ca.issue(csr_pem(key, "", {{GN::dns, "svc" + std::to_string(i) + ".example.internal"}}), "server");
    REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
    auto in_use = ca.db->crl_shards(id, to_unix(ca.clock.now()));
    REQUIRE(in_use.has_value());
    shards = *in_use;
  }
  REQUIRE(std::find(shards.begin(), shards.end(), 2) != shards.end());

  // Every CRL fresh, but shard 2's expired an hour ago.
  const TimePoint now = ca.clock.now();
  save_crl(*ca.db, id, 0, now, Seconds(86400));
  for (int k : shards)
    if (k != 0)
      save_crl(*ca.db, id, k, k == 2 ? now - Seconds(2 * 86400) : now, Seconds(k == 2 ? 86400 - 3600 : 86400));

  auto report = health::collect(*home.open(), now);
  REQUIRE(report.has_value());
  const auto& crl = finding(*report, "crl");
  CHECK(crl.level == health::Level::error);
  CHECK(crl.summary.find("shard 2") != std::string::npos);
  bool stale_shard_2 = false;
  for (const auto& e : crl.data["crls"])
    if (e["shard"] == 2) stale_shard_2 = e["level"] == "error";
  CHECK(stale_shard_2);
  CHECK(report->worst() == health::Level::error);
}

TEST_CASE("health: every serve node heard from in 10 minutes is listed; one silent over 10 s is stale") {
  TestCa ca;
  TestHome home(ca);
  const std::int64_t now = to_unix(ca.clock.now());
  REQUIRE(ca.db->heartbeat({"aa11", "host-a", "https://a:1 http://a:2", "0.1.0", now - 3600, now - 1}));
  REQUIRE(ca.db->heartbeat({"bb22", "host-b", "https://b:1", "0.1.0", now - 3600, now - 30}));
  REQUIRE(ca.db->heartbeat({"cc33", "host-c", "https://c:1", "0.0.9", now - 7200, now - 601}));  // gone
  auto report = health::collect(*home.open(), ca.clock.now());
  REQUIRE(report.has_value());
  const auto& f = finding(*report, "nodes");
  CHECK(f.level == health::Level::ok);
  REQUIRE(f.data["nodes"].size() == 2);
  CHECK(f.data["serving"] == 1);
  CHECK(f.data["stale"] == 1);
  const auto& a = f.data["nodes"][0];
  CHECK(a["id"] == "aa11");
  CHECK(a["hostname"] == "host-a");
  CHECK(a["urls"] == nlohmann::json::array({"https://a:1", "http://a:2"}));
  CHECK(a["version"] == "0.1.0");
  CHECK(a["age_seconds"] == 1);
  CHECK(a["stale"] == false);
  CHECK(f.data["nodes"][1]["stale"] == true);
  CHECK(f.summary.find("1 serving, 1 stale") == 0);
  CHECK(f.summary.find("host-b") != std::string::npos);
  CHECK(f.summary.find("STALE") != std::string::npos);
  CHECK(f.summary.find("host-c") == std::string::npos);
  // The database finding on SQLite is still the file's.
  CHECK(finding(*report, "database").data.contains("path"));
}

TEST_CASE("the ACME nonce key: created once (0600, with its comment), then read back; a bad file is refused") {
  TestCa ca;
  service::Home home{ca.dir.path() / "nonce-home"};
  fs::create_directories(home.ca_dir());
  auto made = service::load_or_create_nonce_key(home);
  REQUIRE_MESSAGE(made.has_value(), (made ? "" : made.error().detail));
  CHECK(made->size() == 32);
  const fs::path file = service::nonce_key_path(home);
  CHECK(file == home.dir / "ca" / "acme-nonce.key");
  CHECK((fs::status(file).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  auto text = read_file(file);
  REQUIRE(text.has_value());
  CHECK(text->find("Every node of a cluster must have this same file") != std::string::npos);
  auto again = service::load_or_create_nonce_key(home);
  REQUIRE(again.has_value());
  CHECK(*again == *made);  // never replaced
  write(file, "# a comment only\n");
  auto bad = service::load_or_create_nonce_key(home);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().detail.find("acme-nonce.key") != std::string::npos);
}

TEST_CASE("health: unrenewed counts certificates past their renewal window with nothing newer for the same names") {
  TestCa ca;
  const auto& key = cached_key(crypto::KeyType::ec_p256, 7);
  auto issue = [&](const std::vector<std::string>& names, Seconds ttl) {
    std::vector<crypto::GeneralName> sans;
    for (const auto& n : names) sans.push_back({GN::dns, n});
    auto issued = ca.issue(csr_pem(key, "", sans), "server", ttl);
    REQUIRE_MESSAGE(issued.has_value(), (issued ? "" : issued.error().detail));
    return issued->serial;
  };
  const Seconds day(86400);
  issue({"a.example.internal"}, 8 * day);                        // will be renewed below
  issue({"b.example.internal", "c.example.internal"}, 8 * day);  // renewed for b alone: not the same names
  issue({"d.example.internal"}, 80 * day);                       // still inside its window
  ca.clock.advance(7 * day);  // 1 day left of the 8-day ones: past the end of their window (6 days)
  auto none = health::unrenewed(*ca.db, ca.clock.now());
  REQUIRE(none.has_value());
  CHECK(none->overdue == 2);
  CHECK(none->expiring == 2);
  issue({"a.example.internal"}, 8 * day);
  issue({"b.example.internal"}, 8 * day);
  auto some = health::unrenewed(*ca.db, ca.clock.now());
  REQUIRE(some.has_value());
  CHECK(some->overdue == 1);  // b + c: only b was renewed
  CHECK(some->expiring == 1);
  ca.clock.advance(60 * day);  // d: 13 days left, past its window (60 days): overdue, not expiring
  auto later = health::unrenewed(*ca.db, ca.clock.now());
  REQUIRE(later.has_value());
  CHECK(later->overdue == 1);
  CHECK(later->expiring == 0);
}
