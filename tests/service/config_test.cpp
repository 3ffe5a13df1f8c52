#include <doctest/doctest.h>

#include "ca/service/config.hpp"

using namespace sigil;
using namespace sigil::service;

TEST_CASE("to_json and parse_config round-trip every key") {
  Config c;
  c.name = "Corp CA";
  c.policy.dns_names = {"ca.corp.example"};
  c.policy.dns_suffixes = {"corp.example"};
  c.policy.ip_ranges = {"10.0.0.0/8"};
  c.policy.spiffe_trust_domain = "corp.example";
  c.profiles.push_back({"server", "12h", "30d"});
  c.authorization.push_back({"deployer", "issuer", {"*.corp.example"}, {"server"}, "48h"});
  c.listeners.api = "[::1]:0";
  c.tls.server_cert_ttl = Seconds(3600);
  c.tls.max_connection_age = Seconds(90);
  c.tls.client_trust_anchors = {"corp-root.pem", "/etc/sigil/devices.pem"};
  c.limits.max_body = 4096;
  auto back = parse_config(to_json(c));
  REQUIRE(back);
  CHECK(back->name == "Corp CA");
  CHECK(back->policy.ip_ranges == c.policy.ip_ranges);
  CHECK(back->authorization.size() == 1);
  CHECK(back->authorization[0].max_ttl == "48h");
  CHECK(back->listeners.api == "[::1]:0");
  CHECK(back->tls.server_cert_ttl == Seconds(3600));
  CHECK(back->tls.max_connection_age == Seconds(90));
  CHECK(back->tls.client_trust_anchors == c.tls.client_trust_anchors);
  CHECK(back->limits.max_body == 4096);
  auto profiles = back->effective_profiles();
  REQUIRE(profiles);
  CHECK(profiles->find("server")->max_ttl == Seconds(30 * 86400));
}

TEST_CASE("parse_config refuses unknown keys and names the key in every error") {
  auto check = [](const char* json, const char* key) {
    auto r = parse_config(json);
    REQUIRE_FALSE(r);
    INFO(r.error().detail);
    CHECK(r.error().detail.find(key) != std::string::npos);
  };
  check(R"({"nmae": "x"})", "nmae");
  check(R"({"policy": {"allowed_domain": ["a"]}})", "policy.allowed_domain");
  check(R"({"policy": {"allowed_domains": ["bad domain"]}})", "policy");
  check(R"({"policy": {"allowed_ip_ranges": ["10.0.0.0/33"]}})", "policy");
  check(R"({"profiles": {"server": {"max_ttl": "400d"}}})", "profiles.server");
  check(R"({"profiles": {"nope": {"max_ttl": "1d"}}})", "profiles.nope");
  check(R"({"authorization": [{"identity": "a", "role": "root"}]})", "authorization[0].role");
  check(R"({"authorization": [{"role": "admin"}]})", "authorization[0].identity");
  // Patterns no caller identity can match (callers are SPIFFE URIs, DNS names or CNs).
  check(R"({"authorization": [{"identity": "email:ops@corp.example", "role": "admin"}]})", "authorization[0].identity");
  check(R"({"authorization": [{"identity": "ops@corp.example", "role": "admin"}]})", "authorization[0].identity");
  check(R"({"authorization": [{"identity": "ip:10.0.0.1", "role": "admin"}]})", "authorization[0].identity");
  check(R"({"tls": {"client_skew": "2h"}})", "tls.client_skew");
  check(R"({"tls": {"server_cert_ttl": "5s"}})", "tls.server_cert_ttl");
  check(R"({"tls": {"max_connection_age": "0s"}})", "tls.max_connection_age");
  check(R"({"tls": {"max_connection_age": "2d"}})", "tls.max_connection_age");
  check(R"({"tls": {"max_connection_age": "later"}})", "tls.max_connection_age");
  check(R"({"tls": {"client_trust_anchors": "corp.pem"}})", "tls.client_trust_anchors");
  check(R"({"tls": {"client_trust_anchors": [""]}})", "tls.client_trust_anchors");
  check(R"({"limits": {"max_body": 10}})", "limits.max_body");
  check(R"({"limits": {"request_timeout": "soon"}})", "limits.request_timeout");
  check(R"({"public_url": "ftp://x"})", "public_url");
  check(R"({"issuance": {"backdate": "2d"}})", "issuance.backdate");
  CHECK(parse_config("not json").error().code == Errc::malformed);
  CHECK(parse_config("{}"));
}

TEST_CASE("tls.max_connection_age: 5 minutes by default, a duration from 1s to 24h") {
  auto parsed = parse_config("{}");
  REQUIRE(parsed);
  CHECK(parsed->tls.max_connection_age == Seconds(300));
  auto set = parse_config(R"({"tls": {"max_connection_age": "1m"}})");
  REQUIRE(set);
  CHECK(set->tls.max_connection_age == Seconds(60));
  CHECK(parse_config(R"({"tls": {"max_connection_age": "24h"}})"));
}

TEST_CASE("revocation: CRL shards and delta CRLs, off by default, round-trip and bounds") {
  Config defaults;
  CHECK(defaults.revocation.crl_shards == 1);
  CHECK(defaults.revocation.delta_crl_interval == Seconds(0));
  auto parsed = parse_config("{}");
  REQUIRE(parsed);
  CHECK(parsed->revocation.crl_shards == 1);
  CHECK(parsed->revocation.delta_crl_interval == Seconds(0));
  auto none = parse_config(to_json(defaults));
  REQUIRE(none);
  CHECK(none->revocation.delta_crl_interval == Seconds(0));

  Config c;
  c.revocation.crl_shards = 64;
  c.revocation.delta_crl_interval = Seconds(3600);
  auto back = parse_config(to_json(c));
  REQUIRE(back);
  CHECK(back->revocation.crl_shards == 64);
  CHECK(back->revocation.delta_crl_interval == Seconds(3600));

  auto set = parse_config(R"({"revocation": {"crl_shards": 1024, "delta_crl_interval": "15m"}})");
  REQUIRE(set);
  CHECK(set->revocation.crl_shards == 1024);
  CHECK(set->revocation.delta_crl_interval == Seconds(900));
  CHECK(parse_config(R"({"revocation": {"delta_crl_interval": "0s"}})"));

  auto refused = [](const char* json, const char* key) {
    auto r = parse_config(json);
    REQUIRE_FALSE(r);
    INFO(r.error().detail);
    CHECK(r.error().detail.find(key) != std::string::npos);
  };
  refused(R"({"revocation": {"crl_shards": 0}})", "revocation.crl_shards");
  refused(R"({"revocation": {"crl_shards": 1025}})", "revocation.crl_shards");
  refused(R"({"revocation": {"crl_shards": "4"}})", "revocation.crl_shards");
  refused(R"({"revocation": {"delta_crl_interval": "30s"}})", "revocation.delta_crl_interval");
  // Deltas are published more often than complete CRLs: at most half of crl_validity.
  refused(R"({"revocation": {"crl_validity": "2h", "delta_crl_interval": "90m"}})", "revocation.delta_crl_interval");
  refused(R"({"revocation": {"delta_crl_interval": "often"}})", "revocation.delta_crl_interval");
  refused(R"({"revocation": {"crl_shard": 4}})", "revocation.crl_shard");
}

TEST_CASE("database: a SQLite path or a postgresql:// URL; a password only ever in database_password_file") {
  auto parse = [](const std::string& extra) { return parse_config("{" + extra + "}"); };
  auto url = parse(R"("database": "postgresql://sigil@db1:5432,db2:5432/sigil?target_session_attrs=read-write",
                      "database_password_file": "/etc/sigil/db-password")");
  REQUIRE_MESSAGE(url, (url ? "" : url.error().detail));
  CHECK(is_postgres_url(url->database));
  CHECK(url->database_password_file == "/etc/sigil/db-password");
  auto back = parse_config(to_json(*url));
  REQUIRE(back);
  CHECK(back->database == url->database);
  CHECK(back->database_password_file == url->database_password_file);

  auto refused = [&](const std::string& extra, const char* words) {
    auto r = parse(extra);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK_MESSAGE(r.error().detail.find(words) != std::string::npos, r.error().detail);
  };
  refused(R"("database": "postgresql://sigil:hunter2@db1/sigil")", "must not contain a password");
  refused(R"("database": "postgres://db1/sigil?sslmode=require&password=hunter2")", "must not contain a password");
  refused(R"("database": "mysql://db1/sigil")", "SQLite file path or a postgresql:// URL");
  refused(R"("database": "sigil.db", "database_password_file": "pw")", "only to a postgresql://");
  // A user name alone, and a colon in the host part (a port), are not passwords.
  CHECK(parse(R"("database": "postgresql://sigil@[::1]:5432/sigil")"));
  CHECK(parse(R"("database": "sigil.db")"));
}

TEST_CASE("custom profiles: parsed, used as data, round-tripped, offered over ACME when marked") {
  auto c = parse_config(R"({
    "profiles": {
      "server": {"max_ttl": "30d"},
      "device": {"ext_key_usage": ["clientAuth"], "key_usage": ["digitalSignature", "keyAgreement"],
                 "allowed_san_types": ["dns", "uri"], "key_types": ["ec-p384"], "max_ttl": "7d"},
      "web-short": {"ext_key_usage": ["serverAuth"], "allowed_san_types": ["dns", "ip"], "default_ttl": "1h",
                    "max_ttl": "2d", "acme": true}
    },
    "acme": {"profiles": ["server"]}})");
  REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().detail));
  auto p = c->effective_profiles();
  REQUIRE(p.has_value());
  const auto* d = p->find("device");
  REQUIRE(d != nullptr);
  CHECK_FALSE(d->builtin);
  CHECK(d->ext_key_usage == std::vector<crypto::Eku>{crypto::Eku::client_auth});
  CHECK(d->key_usage == (crypto::ku::digital_signature | crypto::ku::key_agreement));
  CHECK(d->key_types == std::vector<crypto::KeyAlgorithm>{crypto::KeyAlgorithm::ec_p384});
  CHECK(d->default_ttl == Seconds(86400));  // the lesser of 24h and max_ttl
  CHECK(d->max_ttl == Seconds(7 * 86400));
  CHECK(p->find("web-short")->default_ttl == Seconds(3600));
  CHECK(p->find("server")->max_ttl == Seconds(30 * 86400));
  // ACME offers what it lists, then every profile marked for it.
  CHECK(c->acme.profiles == std::vector<std::string>{"server", "web-short"});
  auto back = parse_config(to_json(*c));
  REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error().detail));
  CHECK(to_json(*back) == to_json(*c));
}

TEST_CASE("custom profiles: every refusal names its key") {
  auto check = [](const char* json, const char* key, const char* why) {
    auto r = parse_config(json);
    REQUIRE_FALSE(r);
    INFO(r.error().detail);
    CHECK(r.error().detail.find(std::string("sigil.json: ") + key + ":") != std::string::npos);
    CHECK(r.error().detail.find(why) != std::string::npos);
  };
  const char* ok = R"("ext_key_usage": ["clientAuth"], "allowed_san_types": ["dns"], "max_ttl": "7d")";
  auto with = [&](const std::string& extra) { return std::string(R"({"profiles": {"dev": {)") + ok + extra + "}}}"; };
  check(with(R"(, "colour": "red")").c_str(), "profiles.dev.colour", "unknown key");
  check(with(R"(, "key_types": ["rsa-1024"])").c_str(), "profiles.dev.key_types", "unknown key type");
  check(with(R"(, "key_usage": ["keyCertSign"])").c_str(), "profiles.dev.key_usage", "unknown key usage");
  check(with(R"(, "default_ttl": "8d")").c_str(), "profiles.dev", "default_ttl");
  check(with(R"(, "acme": "yes")").c_str(), "profiles.dev.acme", "true or false");
  check(R"({"profiles": {"dev": {"ext_key_usage": ["codeSigning"], "allowed_san_types": ["dns"], "max_ttl": "1d"}}})",
        "profiles.dev.ext_key_usage", "codeSigning");
  check(R"({"profiles": {"dev": {"ext_key_usage": ["clientAuth"], "allowed_san_types": ["x400"], "max_ttl": "1d"}}})",
        "profiles.dev.allowed_san_types", "x400");
  check(R"({"profiles": {"dev": {"ext_key_usage": ["clientAuth"], "allowed_san_types": ["dns"], "max_ttl": "400d"}}})",
        "profiles.dev", "398d");
  check(R"({"profiles": {"dev": {"allowed_san_types": ["dns"], "max_ttl": "1d"}}})", "profiles.dev.ext_key_usage",
        "required");
  check(R"({"profiles": {"dev": {"ext_key_usage": ["clientAuth"], "max_ttl": "1d"}}})",
        "profiles.dev.allowed_san_types", "required");
  check(R"({"profiles": {"dev": {"ext_key_usage": ["clientAuth"], "allowed_san_types": ["dns"]}}})",
        "profiles.dev.max_ttl", "required");
  check(R"({"profiles": {"Dev": {"ext_key_usage": ["clientAuth"], "allowed_san_types": ["dns"], "max_ttl": "1d"}}})",
        "profiles.Dev", "a-z");
  // A built-in profile is overridden in its TTLs only: shadowing it is refused.
  check(R"({"profiles": {"server": {"ext_key_usage": ["clientAuth"]}}})", "profiles.server.ext_key_usage",
        "built-in profile");
  check(R"({"acme": {"profiles": ["spiffe"]}})", "acme.profiles", "cannot be offered");
  check(with("").insert(with("").size() - 1, R"(, "acme": {"profiles": ["dev"]})").c_str(), "acme.profiles",
        "not marked");
  check(R"({"acme": {"profiles": ["nope"]}})", "acme.profiles", "unknown profile");
}
