// ca/api driven through its router without sockets, over a real CA (tests/support/test_ca.hpp):
// the caller is the client certificate a listener would have verified, or none. Every REST route
// is dispatched at least once; refusals are checked for their status, problem document, audit
// row and metric.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "ca/api/api.hpp"
#include "tests/http/route_table.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using json = nlohmann::json;
using http::Auth;

std::shared_ptr<const authz::Policy> test_policy() {
  std::vector<authz::Rule> rules;
  rules.push_back({"admin.example.internal", authz::Role::admin, {}, {}, std::nullopt});
  rules.push_back({"svc.example.internal", authz::Role::issuer, {"*.svc.example.internal"}, {}, std::nullopt});
  rules.push_back({"host.example.internal", authz::Role::renew_self, {}, {}, std::nullopt});
  return std::make_shared<const authz::Policy>(std::move(rules));
}

struct Api {
  Api()
      : policy(test_policy()),
        deps{ca.issuer(), revoker, *ca.db, *ca.db, *ca.db, policy, ca.clock, metrics, {}},
        router(api::api_router(deps)) {}

  // A client certificate for `name` (its first DNS SAN, hence its identity), issued by the test CA.
  std::shared_ptr<const crypto::Certificate> client(const std::string& name, int slot) {
    return client_certificate(ca, name, 500 + slot);
  }

  http::Response send(const std::string& method, const std::string& target,
                      std::shared_ptr<const crypto::Certificate> peer, std::string body = "") {
    http::Request req;
    req.method = method;
    http::set_target(req, target);
    if (!body.empty()) http::add_header(req, "Content-Type", "application/json");
    req.body = std::move(body);
    req.peer = std::move(peer);
    req.listener = "api";
    return router->dispatch(req);
  }

  TestCa ca;
  Metrics metrics;
  revocation::Revoker revoker{*ca.db, ca.issuer(), ca.clock, metrics};
  std::atomic<std::shared_ptr<const authz::Policy>> policy;
  api::Deps deps;
  std::shared_ptr<const http::Router> router;
};

// The problem document's shape: RFC 7807 members, its status repeated, the media type.
json problem(const http::Response& r) {
  bool media = false;
  for (const auto& [k, v] : r.headers) media = media || (k == "Content-Type" && v == "application/problem+json");
  CHECK(media);
  auto j = json::parse(r.body);
  CHECK(j["status"] == r.status);
  CHECK(j["type"].is_string());
  CHECK(j["detail"].is_string());
  return j;
}

const std::vector<std::pair<std::string, std::string>> kCallerRoutes = {
    {"POST", "/api/v1/certificates"},
    {"GET", "/api/v1/certificates"},
    {"GET", "/api/v1/certificates/0a1b"},
    {"POST", "/api/v1/certificates/0a1b/revoke"},
    {"POST", "/api/v1/renew"},
    {"GET", "/metrics"},
    {"POST", "/api/v1/acme/eab"},
    {"GET", "/api/v1/acme/eab"},
    {"POST", "/api/v1/acme/eab/k1/revoke"},
    {"GET", "/api/v1/acme/accounts"},
    {"GET", "/api/v1/acme/accounts/a1"},
    {"POST", "/api/v1/acme/accounts/a1/deactivate"},
    {"POST", "/api/v1/policy/explain"},
};

}  // namespace

TEST_CASE("the REST route table declares every route's authentication and action") {
  Api a;
  const std::map<std::string, Auth> expected = {
      {"GET /health", Auth::none},
      {"GET /health/live", Auth::none},
      {"POST /api/v1/certificates", Auth::client_cert},
      {"GET /api/v1/certificates", Auth::client_cert_for("read", "list")},
      {"GET /api/v1/certificates/{serial}", Auth::client_cert_for("read")},
      {"POST /api/v1/certificates/{serial}/revoke", Auth::client_cert},
      {"POST /api/v1/renew", Auth::client_cert_for("renew_self", "renew")},
      {"GET /api/v1/renewal-info/{serial}", Auth::none},
      {"GET /metrics", Auth::client_cert_for("metrics")},
      {"POST /api/v1/acme/eab", Auth::client_cert_for("administer", "eab-create")},
      {"GET /api/v1/acme/eab", Auth::client_cert_for("administer", "eab-list")},
      {"POST /api/v1/acme/eab/{kid}/revoke", Auth::client_cert_for("administer", "eab-revoke")},
      {"GET /api/v1/acme/accounts", Auth::client_cert_for("read", "acme-account-list")},
      {"GET /api/v1/acme/accounts/{id}", Auth::client_cert_for("read", "acme-account-show")},
      {"POST /api/v1/acme/accounts/{id}/deactivate", Auth::client_cert_for("administer", "acme-account-deactivate")},
      // The web console (ca/api/console.cpp): its files and the read-only endpoints it adds.
      {"GET /ui", Auth::client_cert_for("read", "console")},
      {"GET /ui/", Auth::client_cert_for("read", "console")},
      {"GET /ui/{file}", Auth::client_cert_for("read", "console")},
      {"GET /api/v1/whoami", Auth::client_cert},
      {"GET /api/v1/hierarchy", Auth::client_cert_for("read", "hierarchy")},
      {"GET /api/v1/stats", Auth::client_cert_for("read", "stats")},
      {"GET /api/v1/audit", Auth::client_cert_for("read", "audit-list")},
      {"GET /api/v1/acme/accounts/{id}/orders", Auth::client_cert_for("read", "acme-order-list")},
      {"POST /api/v1/policy/explain", Auth::client_cert_for("explain", "policy-explain")},
  };
  check_route_auth(*a.router, expected);
}

TEST_CASE("without a client certificate every caller route is 401 with a problem document") {
  Api a;
  for (const auto& [method, path] : kCallerRoutes) {
    CAPTURE(path);
    auto r = a.send(method, path, nullptr, "{}");
    CHECK(r.status == 401);
    CHECK(problem(r)["type"] == "urn:ietf:params:acme:error:unauthorized");
  }
  CHECK(a.send("GET", "/health", nullptr).status == 200);
}

TEST_CASE("a caller whose role does not allow the route's action is 403, audited and counted") {
  Api a;
  auto host = a.client("host.example.internal", 1);
  auto stranger = a.client("stranger.example.internal", 2);
  struct Case {
    std::string method, path, audited, target;
  };
  const std::vector<Case> cases = {
      {"GET", "/api/v1/certificates", "list", ""},
      {"GET", "/api/v1/certificates/0A1B", "read", "0a1b"},
      {"POST", "/api/v1/acme/eab", "eab-create", ""},
      {"GET", "/api/v1/acme/eab", "eab-list", ""},
      {"POST", "/api/v1/acme/eab/k1/revoke", "eab-revoke", "k1"},
      {"GET", "/api/v1/acme/accounts", "acme-account-list", ""},
      {"GET", "/api/v1/acme/accounts/a1", "acme-account-show", "a1"},
      {"POST", "/api/v1/acme/accounts/a1/deactivate", "acme-account-deactivate", "a1"},
      {"POST", "/api/v1/certificates/0a1b/revoke", "revoke", "0a1b"},
      {"POST", "/api/v1/policy/explain", "policy-explain", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.path);
    auto r = a.send(c.method, c.path, host, "{}");
    CHECK(r.status == 403);
    CHECK(problem(r)["type"] == "urn:ietf:params:acme:error:unauthorized");
    CHECK(a.metrics.value("sigil_authorization_denials_total", {{"action", c.audited}}) == 1);
    const auto rows = a.ca.audit();
    REQUIRE_FALSE(rows.empty());
    bool found = false;
    for (const auto& row : rows)
      found = found || (row.actor == "api:host.example.internal" && row.action == c.audited && row.target == c.target &&
                        row.outcome == "refused");
    CHECK(found);
  }
  // No role at all: not even metrics or renewing itself.
  CHECK(a.send("GET", "/metrics", stranger).status == 403);
  CHECK(a.send("POST", "/api/v1/renew", stranger, "{}").status == 403);
  CHECK(a.metrics.value("sigil_authorization_denials_total", {{"action", "renew"}}) == 1);
  // An issuer may not ask for names outside its patterns (decided by the handler, on the CSR).
  auto svc = a.client("svc.example.internal", 3);
  const json body = {{"csr", csr_pem(cached_key(crypto::KeyType::ec_p256, 510), "x.example.internal",
                                     {{GN::dns, "x.example.internal"}})}};
  auto denied = a.send("POST", "/api/v1/certificates", svc, body.dump());
  CHECK(denied.status == 403);
  CHECK(a.metrics.value("sigil_authorization_denials_total", {{"action", "issue"}}) == 1);
}

TEST_CASE("allowed callers reach every REST route") {
  Api a;
  auto admin = a.client("admin.example.internal", 1);
  auto host = a.client("host.example.internal", 2);

  const json issue = {{"csr", csr_pem(cached_key(crypto::KeyType::ec_p256, 511), "a.example.internal",
                                      {{GN::dns, "a.example.internal"}})}};
  auto created = a.send("POST", "/api/v1/certificates", admin, issue.dump());
  REQUIRE_MESSAGE(created.status == 201, created.body);
  const std::string serial = json::parse(created.body)["serial"];

  CHECK(a.send("GET", "/api/v1/certificates", admin).status == 200);
  auto shown = a.send("GET", "/api/v1/certificates/" + serial, admin);
  CHECK(shown.status == 200);
  CHECK(json::parse(shown.body)["serial"] == serial);
  CHECK(a.send("GET", "/api/v1/renewal-info/" + serial, nullptr).status == 200);
  CHECK(a.send("GET", "/metrics", host).status == 200);

  auto renewed = a.send("POST", "/api/v1/renew", host, "{}");
  CHECK(renewed.status == 201);
  CHECK(json::parse(renewed.body)["replaces"] == host->serial_hex());

  auto revoked = a.send("POST", "/api/v1/certificates/" + serial + "/revoke", admin, R"({"reason":"superseded"})");
  CHECK(revoked.status == 200);
  CHECK(json::parse(revoked.body)["status"] == "revoked");
  // Any caller may revoke the certificate it presents.
  auto self = a.send("POST", "/api/v1/certificates/" + host->serial_hex() + "/revoke", host, "{}");
  CHECK(self.status == 200);

  auto eab = a.send("POST", "/api/v1/acme/eab", admin, R"({"kid":"team-a"})");
  CHECK(eab.status == 201);
  CHECK(a.send("GET", "/api/v1/acme/eab", admin).status == 200);
  CHECK(a.send("POST", "/api/v1/acme/eab/team-a/revoke", admin).status == 200);
  CHECK(a.send("GET", "/api/v1/acme/accounts", admin).status == 200);
  // Allowed, and then the handler's own answer: there is no such account.
  auto missing = a.send("GET", "/api/v1/acme/accounts/a1", admin);
  CHECK(missing.status == 404);
  CHECK(problem(missing)["detail"] == "no ACME account a1");
  CHECK(a.send("POST", "/api/v1/acme/accounts/a1/deactivate", admin).status == 404);
  CHECK(a.metrics.value("sigil_authorization_denials_total", {{"action", "read"}}) == 0);
}

TEST_CASE("POST /api/v1/policy/explain: the issuer for itself, the admin for anyone; one audit row, nothing issued") {
  Api a;
  auto admin = a.client("admin.example.internal", 1);
  auto svc = a.client("svc.example.internal", 2);
  const auto rows_before = a.ca.count();
  const std::string csr = csr_pem(cached_key(crypto::KeyType::ec_p256, 520), "",
                                  {{GN::dns, "web.svc.example.internal"}, {GN::dns, "www.evil.example"}});
  auto explain = [&](const std::shared_ptr<const crypto::Certificate>& who, json body) {
    return a.send("POST", "/api/v1/policy/explain", who, body.dump());
  };
  auto verdicts = [](const http::Response& r) {
    std::map<std::string, std::pair<bool, std::string>> out;
    auto j = json::parse(r.body);
    for (const auto& i : j["identifiers"]) out[i["identifier"]] = {i["allowed"], i["rule"]};
    for (const auto& c : j["checks"]) out[c["check"]] = {c["allowed"], c["rule"]};
    return out;
  };

  auto own = explain(svc, {{"csr", csr}});
  REQUIRE_MESSAGE(own.status == 200, own.body);
  auto v = verdicts(own);
  CHECK(json::parse(own.body)["identity"] == "dns:svc.example.internal");
  CHECK(json::parse(own.body)["allowed"] == false);
  CHECK(v["dns:web.svc.example.internal"].first);
  CHECK(v["dns:www.evil.example"] == std::pair<bool, std::string>{false, "policy.allowed_domains"});
  CHECK(v["role"] == std::pair<bool, std::string>{true, "authorization[1]"});

  auto for_svc = explain(admin, {{"csr", csr}, {"identity", "dns:svc.example.internal"}, {"profile", "server"}});
  REQUIRE(for_svc.status == 200);
  CHECK(json::parse(for_svc.body) == json::parse(own.body));  // the same decisions, whoever asks

  auto self = explain(admin, {{"csr", csr}, {"ttl", "91d"}});
  REQUIRE(self.status == 200);
  CHECK(verdicts(self)["role"] == std::pair<bool, std::string>{true, "authorization[0]"});
  CHECK(verdicts(self)["ttl"] == std::pair<bool, std::string>{false, "profile.server.max_ttl"});

  auto other = explain(svc, {{"csr", csr}, {"identity", "dns:admin.example.internal"}});
  CHECK(other.status == 403);
  CHECK(a.metrics.value("sigil_authorization_denials_total", {{"action", "policy-explain"}}) == 1);
  CHECK(explain(admin, {{"csr", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}})
            .status == 400);
  CHECK(explain(admin, {{"csr", csr}, {"colour", "red"}}).status == 400);
  CHECK(explain(admin, {{"csr", csr}, {"profile", "nope"}}).status == 400);

  CHECK(a.ca.count() == rows_before);  // nothing issued
  int answered = 0, refused = 0;
  for (const auto& row : a.ca.audit())
    if (row.action == "policy-explain") (row.outcome == "ok" ? answered : refused)++;
  CHECK(answered == 3);
  CHECK(refused == 1);
}

TEST_CASE("the acme listener's router authenticates its renew route too") {
  Api a;
  auto router = api::acme_router(a.deps);
  auto host = a.client("host.example.internal", 1);
  http::Request req;
  req.method = "POST";
  http::set_target(req, "/api/v1/renew");
  req.body = "{}";
  CHECK(router->dispatch(req).status == 401);
  req.peer = host;
  CHECK(router->dispatch(req).status == 201);
}
