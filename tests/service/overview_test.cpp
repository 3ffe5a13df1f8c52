// The console's read-only endpoints (GET /api/v1/hierarchy, /stats, /audit, /whoami, /ui/) as
// the serve runtime wires them (service::overview over a real CA: ceremony-made root and
// intermediate, a real SQLite store, the revocation publishers), dispatched through the api's
// router with the client certificates a listener would have verified: what an admin, a viewer
// and a renew-self caller get, the viewer's refusals, and the rule for browser POSTs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "ca/api/api.hpp"
#include "ca/revocation/revocation.hpp"
#include "ca/service/overview.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using json = nlohmann::json;

std::shared_ptr<const authz::Policy> console_policy() {
  std::vector<authz::Rule> rules;
  rules.push_back({"admin.example.internal", authz::Role::admin, {}, {}, std::nullopt});
  rules.push_back({"viewer.example.internal", authz::Role::viewer, {}, {}, std::nullopt});
  rules.push_back({"host.example.internal", authz::Role::renew_self, {}, {}, std::nullopt});
  return std::make_shared<const authz::Policy>(std::move(rules));
}

revocation::CrlOptions crl_options() {
  revocation::CrlOptions o;
  o.public_url = kPublicUrl;
  return o;
}

struct Console {
  Console()
      : policy(console_policy()),
        publishers(ca.issuer(), *ca.db, *ca.db, *ca.db, *ca.db, ca.clock, metrics, crl_options(), {}),
        deps{ca.issuer(), revoker, *ca.db, *ca.db, *ca.db, policy, ca.clock, metrics, {}} {
    REQUIRE(publishers.add(ca.issuer().current()).has_value());
    roots.push_back(ca.root->der());
    deps.overview = service::overview::sources(*ca.db, publishers, ca.issuer(), roots, ca.clock);
    router = api::api_router(deps);
  }
  ~Console() { publishers.stop(); }

  std::shared_ptr<const crypto::Certificate> client(const std::string& name, int slot) {
    return client_certificate(ca, name, 600 + slot);
  }

  // A server certificate for `name`, valid for `ttl`; its serial.
  std::string leaf(const std::string& name, Seconds ttl, int slot) {
    auto out =
        ca.issue(csr_pem(cached_key(crypto::KeyType::ec_p256, 620 + slot), name, {{GN::dns, name}}), "server", ttl);
    REQUIRE_MESSAGE(out.has_value(), (out ? "" : out.error().detail));
    return out->serial;
  }

  http::Response send(const std::string& method, const std::string& target,
                      std::shared_ptr<const crypto::Certificate> peer, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request req;
    req.method = method;
    http::set_target(req, target);
    for (const auto& [k, v] : headers) http::add_header(req, k, v);
    req.body = std::move(body);
    req.peer = std::move(peer);
    req.listener = "api";
    return router->dispatch(req);
  }

  json get_json(const std::string& target, std::shared_ptr<const crypto::Certificate> peer) {
    auto r = send("GET", target, std::move(peer));
    REQUIRE_MESSAGE(r.status == 200, (target + ": " + std::to_string(r.status) + " " + r.body));
    return json::parse(r.body);
  }

  TestCa ca;
  Metrics metrics;
  revocation::Revoker revoker{*ca.db, ca.issuer(), ca.clock, metrics};
  std::atomic<std::shared_ptr<const authz::Policy>> policy;
  revocation::Publishers publishers;
  std::vector<Bytes> roots;
  api::Deps deps;
  std::shared_ptr<const http::Router> router;
};

std::string header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

}  // namespace

TEST_CASE("console: hierarchy, stats and the audit log, as a viewer reads them") {
  Console c;
  auto viewer = c.client("viewer.example.internal", 1);
  const std::string soon = c.leaf("soon.example.internal", Seconds(3600), 1);
  const std::string later = c.leaf("later.example.internal", Seconds(10 * 86400 + 60), 2);
  const std::string gone = c.leaf("gone.example.internal", Seconds(86400), 3);
  auto rec = c.revoker.find(gone);
  REQUIRE((rec && *rec));
  REQUIRE(c.revoker.revoke(**rec, {store::RevocationReason::superseded, "api:admin.example.internal", ""}));

  // The hierarchy: the root, and the intermediate that issues, with the URLs it publishes.
  const json h = c.get_json("/api/v1/hierarchy", viewer);
  REQUIRE(h["roots"].size() == 1);
  CHECK(h["roots"][0]["subject"].get<std::string>().find("Sigil Test") != std::string::npos);
  CHECK(h["roots"][0]["serial"] == c.ca.root->serial_hex());
  CHECK(h["roots"][0]["level"] == "ok");
  REQUIRE(h["intermediates"].size() == 1);
  const json& inter = h["intermediates"][0];
  CHECK(inter["current"] == true);
  CHECK(inter["id"] == c.ca.issuer().id());
  CHECK(inter["serial"] == c.ca.intermediate->serial_hex());
  CHECK(inter["ocsp_url"] == c.ca.issuer().current().urls.ocsp);
  REQUIRE(inter["crl_urls"].size() == 1);
  CHECK(inter["crl_urls"][0] == c.ca.issuer().current().urls.crl);
  CHECK(inter["seconds_left"].get<std::int64_t>() > 4 * 365 * 86400);

  // Stats: counts by status, rates from the audit log, the expiry timeline, CRL and OCSP.
  json s = c.get_json("/api/v1/stats", viewer);
  // soon, later, the viewer's own and the OCSP responder's (the publishers issued it)
  CHECK(s["certificates"]["valid"] == 4);
  CHECK(s["certificates"]["revoked"] == 1);
  CHECK(s["certificates"]["expired"] == 0);
  CHECK(s["certificates"]["expiring_7d"] == 3);   // all but later: the client's and responder's last a day
  CHECK(s["rates"]["issued"]["last_hour"] == 5);  // gone too
  CHECK(s["rates"]["revoked"]["last_hour"] == 1);
  const auto& days = s["expiring_per_day"];
  REQUIRE(days.size() == 90);
  CHECK(days[0] == 3);   // soon, the viewer's, the responder's
  CHECK(days[10] == 1);  // later: (10 days, 11 days]
  std::int64_t total = 0;
  for (const auto& d : days) total += d.get<std::int64_t>();
  CHECK(total == 4);
  REQUIRE(s["crls"].size() == 1);
  CHECK(s["crls"][0]["level"] == "ok");
  CHECK(s["crls"][0]["delta"] == false);
  CHECK(s["crls"][0]["path"] == issuer::crl_path(c.ca.issuer().current().cert, 0));
  CHECK(s["ocsp"]["level"] == "ok");
  CHECK(s["ocsp"]["serial"] == soon);  // the valid certificate expiring first

  // Two hours on: nothing in the last hour, the same in the last day; soon has expired.
  c.ca.clock.advance(std::chrono::hours(2));
  s = c.get_json("/api/v1/stats", viewer);
  CHECK(s["rates"]["issued"]["last_hour"] == 0);
  CHECK(s["rates"]["issued"]["last_day"] == 5);
  CHECK(s["certificates"]["expired"] == 1);
  CHECK(s["expiring_per_day"][0] == 2);  // the viewer's and the responder's

  // The audit log: filters, newest first, pages that never repeat a row.
  json a = c.get_json("/api/v1/audit?action=revoke", viewer);
  REQUIRE(a["items"].size() == 1);
  CHECK(a["items"][0]["target"] == gone);
  CHECK(a["items"][0]["actor"] == "api:admin.example.internal");
  CHECK(a["items"][0]["outcome"] == "ok");
  CHECK_FALSE(a.contains("next_page_token"));
  json first = c.get_json("/api/v1/audit?limit=2", viewer);
  REQUIRE(first["items"].size() == 2);
  REQUIRE(first.contains("next_page_token"));
  json second = c.get_json("/api/v1/audit?limit=2&page_token=" + first["next_page_token"].get<std::string>(), viewer);
  REQUIRE_FALSE(second["items"].empty());
  CHECK(second["items"][0]["id"].get<std::int64_t>() < first["items"][1]["id"].get<std::int64_t>());
  CHECK(c.get_json("/api/v1/audit?since=1h", viewer)["items"].empty());  // everything was two hours ago
  CHECK(c.get_json("/api/v1/audit?since=3h&action=issue", viewer)["items"].size() == 5);
  CHECK(c.get_json("/api/v1/audit?actor=api:nobody", viewer)["items"].empty());
  for (const char* bad : {"/api/v1/audit?since=yesterday", "/api/v1/audit?limit=0", "/api/v1/audit?limit=1001",
                          "/api/v1/audit?page_token=abc", "/api/v1/audit?colour=red"}) {
    CAPTURE(bad);
    auto r = c.send("GET", bad, viewer);
    CHECK(r.status == 400);
    CHECK(header(r, "Content-Type") == "application/problem+json");
  }
}

TEST_CASE("console: a viewer reads everything and changes nothing; renew-self reads nothing") {
  Console c;
  auto admin = c.client("admin.example.internal", 1);
  auto viewer = c.client("viewer.example.internal", 2);
  auto host = c.client("host.example.internal", 3);
  const std::string serial = c.leaf("keep.example.internal", Seconds(86400), 1);

  const json who = c.get_json("/api/v1/whoami", viewer);
  CHECK(who["identity"] == "viewer.example.internal");
  CHECK(who["role"] == "viewer");
  CHECK(who["may"]["read"] == true);
  CHECK(who["may"]["revoke"] == false);
  CHECK(who["may"]["administer"] == false);
  CHECK(who["may"]["explain"] == false);
  CHECK(c.get_json("/api/v1/whoami", admin)["may"]["revoke"] == true);
  CHECK(c.get_json("/api/v1/whoami", admin)["may"]["explain"] == true);
  CHECK(c.get_json("/api/v1/whoami", host)["role"] == "renew-self");

  for (const char* path : {"/api/v1/certificates", "/api/v1/acme/accounts", "/api/v1/hierarchy", "/api/v1/stats",
                           "/api/v1/audit", "/ui/", "/ui/app.js", "/ui/app.css"}) {
    CAPTURE(path);
    CHECK(c.send("GET", path, viewer).status == 200);
    CHECK(c.send("GET", path, host).status == 403);
  }
  CHECK(c.send("GET", "/api/v1/certificates/" + serial, viewer).status == 200);
  CHECK(c.metrics.value("sigil_authorization_denials_total", {{"action", "stats"}}) == 1);
  // Never an EAB key, never a change.
  CHECK(c.send("GET", "/api/v1/acme/eab", viewer).status == 403);
  CHECK(c.send("POST", "/api/v1/acme/eab", viewer, "{}", {{"Content-Type", "application/json"}}).status == 403);
  auto revoke = c.send("POST", "/api/v1/certificates/" + serial + "/revoke", viewer, R"({"reason":"superseded"})",
                       {{"Content-Type", "application/json"}});
  CHECK(revoke.status == 403);
  CHECK((*c.ca.db->find(serial))->status == store::CertStatus::valid);
  auto issue = c.send("POST", "/api/v1/certificates", viewer,
                      json{{"csr", csr_pem(cached_key(crypto::KeyType::ec_p256, 640), "x.example.internal",
                                           {{GN::dns, "x.example.internal"}})}}
                          .dump(),
                      {{"Content-Type", "application/json"}});
  CHECK(issue.status == 403);
  CHECK(c.send("POST", "/api/v1/acme/accounts/a1/deactivate", viewer).status == 403);
}

TEST_CASE("console: its files with their headers; /ui redirects; unknown files are 404") {
  Console c;
  auto viewer = c.client("viewer.example.internal", 1);
  auto page = c.send("GET", "/ui/", viewer);
  REQUIRE(page.status == 200);
  CHECK(header(page, "Content-Type") == "text/html; charset=utf-8");
  CHECK(header(page, "Content-Security-Policy").find("default-src 'self'") != std::string::npos);
  CHECK(header(page, "Content-Security-Policy").find("unsafe-inline") == std::string::npos);
  CHECK(header(page, "X-Content-Type-Options") == "nosniff");
  CHECK(header(page, "Cache-Control") == "no-cache");
  CHECK(page.body.find("<script src=\"/ui/app.js\"") != std::string::npos);
  const std::string etag = header(page, "ETag");
  REQUIRE_FALSE(etag.empty());
  auto again = c.send("GET", "/ui/", viewer, "", {{"If-None-Match", etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(header(c.send("GET", "/ui/app.js", viewer), "Content-Type") == "text/javascript; charset=utf-8");
  CHECK(header(c.send("GET", "/ui/app.css", viewer), "Content-Type") == "text/css; charset=utf-8");
  auto redirect = c.send("GET", "/ui", viewer);
  CHECK(redirect.status == 308);
  CHECK(header(redirect, "Location") == "/ui/");
  CHECK(c.send("GET", "/ui/secret.key", viewer).status == 404);
  CHECK(c.send("GET", "/ui/", nullptr).status == 401);
}

TEST_CASE("console: a browser's POST must be same-origin JSON with X-Sigil-Console") {
  Console c;
  auto admin = c.client("admin.example.internal", 1);
  const std::string serial = c.leaf("target.example.internal", Seconds(86400), 1);
  const std::string path = "/api/v1/certificates/" + serial + "/revoke";
  const std::string body = R"({"reason":"superseded"})";
  using Headers = std::vector<std::pair<std::string, std::string>>;
  const Headers good = {{"Host", "ca.example.internal:9443"},
                        {"Origin", "https://ca.example.internal:9443"},
                        {"Sec-Fetch-Site", "same-origin"},
                        {"Content-Type", "application/json"},
                        {"X-Sigil-Console", "1"}};
  auto without = [&](const std::string& name) {
    Headers h;
    for (const auto& kv : good)
      if (kv.first != name) h.push_back(kv);
    return h;
  };
  auto with = [&](const std::string& name, const std::string& value) {
    Headers h = without(name);
    h.emplace_back(name, value);
    return h;
  };
  for (const auto& [why, headers] : std::vector<std::pair<std::string, Headers>>{
           {"no console header", without("X-Sigil-Console")},
           {"a form's content type", with("Content-Type", "text/plain")},
           {"cross-site", with("Sec-Fetch-Site", "cross-site")},
           {"same-site is not same-origin", with("Sec-Fetch-Site", "same-site")},
           {"another origin", with("Origin", "https://evil.example")},
           {"plain http origin", with("Origin", "http://ca.example.internal:9443")}}) {
    CAPTURE(why);
    auto r = c.send("POST", path, admin, body, headers);
    CHECK(r.status == 403);
    CHECK(r.body.find("cross-site request refused") != std::string::npos);
  }
  CHECK((*c.ca.db->find(serial))->status == store::CertStatus::valid);
  CHECK(c.metrics.value("sigil_authorization_denials_total", {{"action", "cross-site-post"}}) == 6);
  // The console's own request, and a client that is no browser (no Origin, no Sec-Fetch-*).
  CHECK(c.send("POST", path, admin, body, good).status == 200);
  const std::string other = c.leaf("other.example.internal", Seconds(86400), 2);
  CHECK(c.send("POST", "/api/v1/certificates/" + other + "/revoke", admin, body, {{"Content-Type", "application/json"}})
            .status == 200);
}
