// The validation authority against real peers on 127.0.0.1 (see fixtures.hpp): BIND for every
// name, Sigil's HTTP(S) server for http-01, an OpenSSL server for tls-alpn-01.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/acme/va/fixtures.hpp"

using namespace sigil;
using namespace sigil::test;
using acme::va::Config;
using acme::va::Outcome;
using acme::va::Validator;
using Ms = std::chrono::milliseconds;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

Outcome run(const Config& c, const acme::va::Task& t) { return make_validator(c)->validate(t); }

#define CHECK_FAILS(outcome, type, fragment)                              \
  do {                                                                    \
    const Outcome& o_ = (outcome);                                        \
    INFO("detail: " << o_.detail);                                        \
    CHECK_FALSE(o_.valid);                                                \
    CHECK(o_.error_type == (type));                                       \
    CHECK_MESSAGE(contains(o_.detail, fragment), "want: " << (fragment)); \
  } while (0)

#define CHECK_VALID(outcome)                               \
  do {                                                     \
    const Outcome& o_ = (outcome);                         \
    INFO("error: " << o_.error_type << ": " << o_.detail); \
    CHECK(o_.valid);                                       \
    CHECK(o_.error_type.empty());                          \
  } while (0)

// Runs `f` and checks it ended within `limit`.
template <class F>
Outcome timed(Ms limit, F f) {
  const auto start = std::chrono::steady_clock::now();
  Outcome o = f();
  const auto took = std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start);
  INFO("took " << took.count() << " ms");
  CHECK(took <= limit);
  return o;
}

}  // namespace

TEST_CASE("create() refuses malformed resolvers, ranges and numbers") {
  Config c;
  for (const char* bad : {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "[::1", "::1]:53", "localhost:53"}) {
    c.dns_resolver = bad;
    auto v = Validator::create(c);
    CHECK_MESSAGE(!v.has_value(), bad);
    if (!v) CHECK(v.error().code == Errc::invalid_argument);
  }
  for (const char* good : {"127.0.0.1:8053", "[::1]:53", "10.0.0.2", "::1", "127.0.0.1:53, [::1]:5353"}) {
    c.dns_resolver = good;
    CHECK_MESSAGE(Validator::create(c).has_value(), good);
  }
  c.dns_resolver = "";
  CHECK(Validator::create(c).has_value());  // resolv.conf's servers
  c.forbidden_ranges = {"10.0.0.0/33"};
  CHECK(Validator::create(c).error().code == Errc::invalid_argument);
  c.forbidden_ranges = {"10.0.0.0/8", "fd00::/8", "192.0.2.1"};
  CHECK(Validator::create(c).has_value());
  c.http01_port = 0;
  CHECK(Validator::create(c).error().code == Errc::invalid_argument);
  c.http01_port = 80;
  c.max_concurrency = 0;
  CHECK(Validator::create(c).error().code == Errc::invalid_argument);
  c.max_concurrency = 1;
  c.timeout = Ms(0);
  CHECK(Validator::create(c).error().code == Errc::invalid_argument);
}

TEST_CASE("Malformed tasks are refused before any network traffic") {
  Config c;
  c.dns_resolver = "127.0.0.1:1";
  auto v = make_validator(c);
  CHECK_FAILS(v->validate(task("http-02", "ok.test", "good")), "malformed", "challenge type");
  CHECK_FAILS(v->validate(task("dns-01", "127.0.0.1", "good", "ip")), "malformed", "RFC 8738");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "good", "email")), "malformed", "identifier type");
  CHECK_FAILS(v->validate(task("http-01", "a..test", "good")), "malformed", "DNS identifier");
  CHECK_FAILS(v->validate(task("http-01", "*.ok.test", "good")), "malformed", "DNS identifier");
  CHECK_FAILS(v->validate(task("http-01", "127.0.0.1", "good")), "malformed", "DNS identifier");
  CHECK_FAILS(v->validate(task("http-01", "300.1.1.1", "good", "ip")), "malformed", "IP identifier");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "../../etc")), "malformed", "token");
  auto t = task("http-01", "ok.test", "good");
  t.key_authorization = "other.thumb";
  CHECK_FAILS(v->validate(t), "malformed", "key authorization");
}

TEST_CASE("http-01 succeeds against a real web server, Host header the identifier") {
  auto v = make_validator(base_config());
  const Outcome o = v->validate(task("http-01", "ok.test", "good"));
  CHECK_VALID(o);
  CHECK(o.addresses_tried == std::vector<std::string>{"127.0.0.1"});
  CHECK(WebServer::get().last_host() == "ok.test");
  CHECK_VALID(v->validate(task("http-01", "OK.Test", "good")));     // identifiers compare in lower case
  CHECK_VALID(v->validate(task("http-01", "alias.test", "good")));  // CNAME to ok.test
  CHECK_VALID(v->validate(task("http-01", "far.test", "good")));    // CNAME into another zone
}

TEST_CASE("http-01 tries the first IPv6 address, then falls back to IPv4 when it cannot connect") {
  const Outcome o = run(base_config(), task("http-01", "both.test", "good"));
  CHECK_VALID(o);
  CHECK(o.addresses_tried == std::vector<std::string>{"::1", "127.0.0.1"});
}

TEST_CASE("http-01 for an IP identifier connects to the address itself") {
  const Outcome o = run(base_config(), task("http-01", "127.0.0.1", "good", "ip"));
  CHECK_VALID(o);
  CHECK(o.addresses_tried == std::vector<std::string>{"127.0.0.1"});
  CHECK(WebServer::get().last_host() == "127.0.0.1");
  const Outcome forbidden = run(base_config(), task("http-01", "127.0.0.9", "good", "ip"));
  CHECK_FAILS(forbidden, "rejectedIdentifier", "127.0.0.9");
  CHECK(forbidden.addresses_tried.empty());
}

TEST_CASE("http-01 refuses a wrong key authorization, a 404 and an oversized body") {
  auto v = make_validator(base_config());
  const Outcome wrong = v->validate(task("http-01", "ok.test", "wrong"));
  CHECK_FAILS(wrong, "unauthorized", "did not match");
  // The body served is never echoed (the client could point us at any host): its length only,
  // and the class of the address that answered.
  CHECK_FALSE(contains(wrong.detail, "wrong.key"));
  CHECK(contains(wrong.detail, "(got 23 other bytes)"));
  CHECK(contains(wrong.detail, "[127.0.0.1, loopback]"));
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "missing")), "unauthorized", "[127.0.0.1, loopback]: 404");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "big")), "incorrectResponse", "larger than");
}

TEST_CASE("http-01 follows allowed redirects") {
  auto v = make_validator(base_config());
  SUBCASE("relative") { CHECK_VALID(v->validate(task("http-01", "ok.test", "redirectRelative"))); }
  SUBCASE("to another name") { CHECK_VALID(v->validate(task("http-01", "ok.test", "redirectAlias"))); }
  SUBCASE("to https, unverified") { CHECK_VALID(v->validate(task("http-01", "ok.test", "redirectHttps"))); }
  SUBCASE("a chain of six within the limit") { CHECK_VALID(v->validate(task("http-01", "ok.test", "redirectChain"))); }
}

TEST_CASE("http-01 refuses redirects outside the rules") {
  auto c = base_config();
  c.max_redirects = 3;
  auto v = make_validator(c);
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "redirectChain")), "connection", "Too many redirects");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "redirectBadPort")), "connection", "not 1");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "redirectIp")), "connection", "not IP addresses");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "redirectFtp")), "connection", "\"ftp\"");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "redirectLoop")), "connection", "loop");
  CHECK_FAILS(v->validate(task("http-01", "ok.test", "redirectNxdomain")), "dns", "NXDOMAIN");
  const Outcome forbidden = v->validate(task("http-01", "ok.test", "redirectForbidden"));
  CHECK_FAILS(forbidden, "rejectedIdentifier", "127.0.0.9 (loopback, in 127.0.0.9/32)");
  CHECK(forbidden.addresses_tried == std::vector<std::string>{"127.0.0.1"});  // never 127.0.0.9
  c.max_redirects = 0;
  CHECK_FAILS(run(c, task("http-01", "ok.test", "redirectRelative")), "connection", "Too many redirects");
}

TEST_CASE("Names that do not resolve, or resolve to forbidden addresses") {
  auto v = make_validator(base_config());
  CHECK_FAILS(v->validate(task("http-01", "nx.test", "good")), "dns", "NXDOMAIN looking up A for nx.test");
  CHECK_FAILS(v->validate(task("tls-alpn-01", "nx.test", "good")), "dns", "NXDOMAIN");
  CHECK_FAILS(v->validate(task("http-01", "txtonly.test", "good")), "dns", "no A or AAAA records");
  CHECK_FAILS(v->validate(task("http-01", "outside.example", "good")), "dns", "REFUSED");
  const Outcome forbidden = v->validate(task("http-01", "forbidden.test", "good"));
  CHECK_FAILS(forbidden, "rejectedIdentifier", "127.0.0.9 (loopback, in 127.0.0.9/32)");
  CHECK(forbidden.addresses_tried.empty());
  // One forbidden address among allowed ones is skipped, never contacted.
  const Outcome mixed = v->validate(task("http-01", "mixed.test", "good"));
  CHECK_VALID(mixed);
  CHECK(mixed.addresses_tried == std::vector<std::string>{"127.0.0.1"});
}

TEST_CASE("Connection failures and timeouts are bounded") {
  auto c = base_config();
  c.timeout = Ms(500);
  SUBCASE("refused") {
    c.http01_port = closed_port();
    CHECK_FAILS(timed(Ms(400), [&] { return run(c, task("http-01", "ok.test", "good")); }), "connection", "refused");
  }
  SUBCASE("a web server that accepts and never answers") {
    SilentServer silent;
    c.http01_port = silent.port;
    CHECK_FAILS(timed(Ms(800), [&] { return run(c, task("http-01", "ok.test", "good")); }), "connection", "timeout");
  }
  SUBCASE("a TLS server that accepts and never answers") {
    SilentServer silent;
    c.tlsalpn01_port = silent.port;
    CHECK_FAILS(timed(Ms(800), [&] { return run(c, task("tls-alpn-01", "ok.test", "good")); }), "connection",
                "timeout");
  }
  SUBCASE("a DNS server that never answers") {
    SilentServer silent(SOCK_DGRAM);
    c.dns_resolver = "127.0.0.1:" + std::to_string(silent.port);
    CHECK_FAILS(timed(Ms(800), [&] { return run(c, task("http-01", "ok.test", "good")); }), "dns", "timed out");
    CHECK_FAILS(timed(Ms(800), [&] { return run(c, task("dns-01", "d1.test", kDnsToken)); }), "dns", "timed out");
  }
}

TEST_CASE("dns-01 finds the TXT record, through CNAMEs too") {
  auto v = make_validator(base_config());
  CHECK_VALID(v->validate(task("dns-01", "d1.test", kDnsToken)));
  CHECK_VALID(v->validate(task("dns-01", "multi.test", kDnsToken)));  // one of several
  CHECK_VALID(v->validate(task("dns-01", "split.test", kDnsToken)));  // strings of a record joined
  CHECK_VALID(v->validate(task("dns-01", "cname.test", kDnsToken)));  // CNAME in the zone
  CHECK_VALID(v->validate(task("dns-01", "xzone.test", kDnsToken)));  // CNAME into another zone
  const Outcome o = v->validate(task("dns-01", "d1.test", kDnsToken));
  CHECK(o.addresses_tried.empty());
}

TEST_CASE("dns-01 refuses wrong, missing and looping records") {
  auto v = make_validator(base_config());
  CHECK_FAILS(v->validate(task("dns-01", "wrong.test", kDnsToken)), "unauthorized",
              "Incorrect TXT record \"not-the-value\" found at _acme-challenge.wrong.test");
  CHECK_FAILS(v->validate(task("dns-01", "d1.test", "otherToken")), "unauthorized", "Incorrect TXT record");
  CHECK_FAILS(v->validate(task("dns-01", "nx.test", kDnsToken)), "dns", "NXDOMAIN looking up TXT");
  CHECK_FAILS(v->validate(task("dns-01", "nodata.test", kDnsToken)), "dns", "no TXT record found");
  // A loop across zones is followed query by query until it comes back; BIND itself
  // answers SERVFAIL for a loop inside one zone.
  CHECK_FAILS(v->validate(task("dns-01", "loop.test", kDnsToken)), "dns", "CNAME loop");
  CHECK_FAILS(v->validate(task("dns-01", "inloop.test", kDnsToken)), "dns", "SERVFAIL");
}

TEST_CASE("tls-alpn-01 succeeds with a proper acme-tls/1 certificate") {
  const std::string token = "alpnGood";
  SUBCASE("DNS identifier") {
    TlsServer server(make_cert({{"ok.test"}, {}, true, true, {}}, key_authorization(token)), {"acme-tls/1"});
    auto c = base_config();
    c.tlsalpn01_port = server.port();
    const Outcome o = run(c, task("tls-alpn-01", "ok.test", token));
    CHECK_VALID(o);
    CHECK(o.addresses_tried == std::vector<std::string>{"127.0.0.1"});
    CHECK(server.last_sni() == "ok.test");
  }
  SUBCASE("IP identifier, reverse-name SNI (RFC 8738 §6)") {
    TlsServer server(make_cert({{}, {"127.0.0.1"}, true, true, {}}, key_authorization(token)), {"acme-tls/1"});
    auto c = base_config();
    c.tlsalpn01_port = server.port();
    CHECK_VALID(run(c, task("tls-alpn-01", "127.0.0.1", token, "ip")));
    CHECK(server.last_sni() == "1.0.0.127.in-addr.arpa");
  }
}

TEST_CASE("tls-alpn-01 refuses certificates that do not prove the key authorization") {
  const std::string token = "alpnBad";
  const std::string ka = key_authorization(token);
  struct Case {
    const char* name;
    CertSpec spec;
    const char* fragment;
  };
  const Case cases[] = {
      {"no extension", {{"ok.test"}, {}, false, true, {}}, "acmeIdentifier extension is missing"},
      {"not critical", {{"ok.test"}, {}, true, false, {}}, "not critical"},
      {"wrong digest", {{"ok.test"}, {}, true, true, Bytes(32, 0x42)}, "expected acmeIdentifier extension value"},
      {"short digest", {{"ok.test"}, {}, true, true, Bytes(16, 0x42)}, "expected acmeIdentifier extension value"},
      {"another name", {{"other.test"}, {}, true, true, {}}, "dns:other.test"},
      {"two names", {{"ok.test", "alias.test"}, {}, true, true, {}}, "exactly one name"},
      {"IP instead of name", {{}, {"127.0.0.1"}, true, true, {}}, "ip:127.0.0.1"},
      {"no names", {{}, {}, true, true, {}}, "no subjectAltName"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.name);
    TlsServer server(make_cert(k.spec, ka), {"acme-tls/1"});
    auto c = base_config();
    c.tlsalpn01_port = server.port();
    CHECK_FAILS(run(c, task("tls-alpn-01", "ok.test", token)), "unauthorized", k.fragment);
  }
}

TEST_CASE("tls-alpn-01 requires acme-tls/1 to be negotiated") {
  const std::string token = "alpnProto";
  const auto kc = make_cert({{"ok.test"}, {}, true, true, {}}, key_authorization(token));
  auto c = base_config();
  SUBCASE("the server ignores ALPN") {
    TlsServer server(kc, {"http/1.1"});
    c.tlsalpn01_port = server.port();
    CHECK_FAILS(run(c, task("tls-alpn-01", "ok.test", token)), "unauthorized", "Cannot negotiate ALPN");
    CHECK(server.handshakes(1) == 1);
  }
  SUBCASE("the server refuses the handshake") {
    TlsServer server(kc, {"http/1.1"}, true);
    c.tlsalpn01_port = server.port();
    CHECK_FAILS(run(c, task("tls-alpn-01", "ok.test", token)), "tls", "TLS handshake failed");
  }
  SUBCASE("nothing listens") {
    c.tlsalpn01_port = closed_port();
    CHECK_FAILS(run(c, task("tls-alpn-01", "ok.test", token)), "connection", "refused");
  }
}

TEST_CASE("submit() validates on the VA's threads, and refuses beyond its queue") {
  SUBCASE("outcomes arrive on another thread") {
    auto v = make_validator(base_config());
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Outcome> outcomes;
    std::vector<std::thread::id> threads;
    for (const char* token : {"good", "wrong"}) {
      REQUIRE(v->submit(task("http-01", "ok.test", token), [&](Outcome o) {
                 std::lock_guard lock(mu);
                 outcomes.push_back(std::move(o));
                 threads.push_back(std::this_thread::get_id());
                 cv.notify_all();
               }).has_value());
    }
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return outcomes.size() == 2; }));
    int valid = 0;
    for (const auto& o : outcomes) valid += o.valid ? 1 : 0;
    CHECK(valid == 1);
    for (const auto& id : threads) CHECK(id != std::this_thread::get_id());
  }
  SUBCASE("queue full: rate_limited, nothing queued; shutdown() drains") {
    SilentServer silent;
    auto c = base_config();
    c.http01_port = silent.port;
    c.timeout = Ms(300);
    c.max_concurrency = 1;
    c.max_queue = 1;
    auto v = make_validator(c);
    std::atomic<int> done{0};
    auto count = [&](Outcome o) {
      CHECK(o.error_type == "connection");
      ++done;
    };
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(v->submit(task("http-01", "ok.test", "good"), count).has_value());  // running
    REQUIRE(v->submit(task("http-01", "ok.test", "good"), count).has_value());  // queued
    const Status full = v->submit(task("http-01", "ok.test", "good"), count);
    REQUIRE_FALSE(full.has_value());
    CHECK(full.error().code == Errc::rate_limited);
    v->shutdown();
    CHECK(done == 2);
    CHECK(std::chrono::steady_clock::now() - start < Ms(1500));
    v->shutdown();  // idempotent
    const Status after = v->submit(task("http-01", "ok.test", "good"), count);
    REQUIRE_FALSE(after.has_value());
    CHECK(after.error().code == Errc::internal);
    CHECK(done == 2);
  }
}

TEST_CASE("The default forbidden ranges keep the validator off loopback: the CA's own listeners") {
  Config c = base_config();
  c.forbidden_ranges = Config{}.forbidden_ranges;  // the defaults
  auto v = make_validator(c);
  const Outcome name = v->validate(task("http-01", "ok.test", "good"));  // ok.test is 127.0.0.1
  CHECK_FAILS(name, "rejectedIdentifier", "127.0.0.1 (loopback, in 127.0.0.0/8)");
  CHECK(name.addresses_tried.empty());
  const Outcome v6 = v->validate(task("http-01", "::1", "good", "ip"));
  CHECK_FAILS(v6, "rejectedIdentifier", "::1 (loopback, in ::1/128)");
  CHECK(v6.addresses_tried.empty());
  const Outcome mapped = v->validate(task("tls-alpn-01", "::ffff:127.0.0.1", "good", "ip"));
  CHECK_FAILS(mapped, "rejectedIdentifier", "loopback, in 127.0.0.0/8");
  CHECK(mapped.addresses_tried.empty());
}

TEST_CASE("Address classes for error details") {
  using acme::va::address_class;
  CHECK(address_class("127.0.0.1") == "loopback");
  CHECK(address_class("::1") == "loopback");
  CHECK(address_class("::ffff:127.0.0.2") == "loopback");
  CHECK(address_class("10.1.2.3") == "private");
  CHECK(address_class("172.31.0.1") == "private");
  CHECK(address_class("172.32.0.1") == "public");
  CHECK(address_class("192.168.1.1") == "private");
  CHECK(address_class("169.254.169.254") == "link-local");
  CHECK(address_class("fe80::1") == "link-local");
  CHECK(address_class("fd00::1") == "unique-local");
  CHECK(address_class("224.0.0.1") == "multicast");
  CHECK(address_class("ff02::1") == "multicast");
  CHECK(address_class("255.255.255.255") == "reserved");
  CHECK(address_class("0.0.0.0") == "unspecified");
  CHECK(address_class("::") == "unspecified");
  CHECK(address_class("100.64.0.1") == "shared");
  CHECK(address_class("192.0.2.10") == "public");
  CHECK(address_class("2001:db8::1") == "public");
  CHECK(address_class("not-an-ip") == "invalid");
}
