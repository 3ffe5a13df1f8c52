#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "ca/base/metrics.hpp"
#include "ca/http/http.hpp"

using namespace sigil;
using namespace sigil::http;

namespace {
Request req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}
}  // namespace

TEST_CASE("Router matches methods and {params}, and answers 404/405/401 with problem documents") {
  Router router;
  router.add({"GET", "/health", Auth::none, [](const Request&) { return Response::json(200, "{}"); }, ""});
  router.add({"GET", "/api/v1/certificates/{serial}", Auth::client_cert,
              [](const Request& r) { return Response::json(200, "\"" + r.params.at("serial") + "\""); }, ""});

  auto ok = req("GET", "/health");
  CHECK(router.dispatch(ok).status == 200);
  auto head = req("HEAD", "/health");
  CHECK(router.dispatch(head).status == 200);

  auto missing = req("GET", "/nope");
  auto r404 = router.dispatch(missing);
  CHECK(r404.status == 404);
  CHECK(nlohmann::json::parse(r404.body)["status"] == 404);
  bool problem = false;
  for (const auto& [k, v] : r404.headers) problem = problem || (k == "Content-Type" && v == "application/problem+json");
  CHECK(problem);

  auto wrong_method = req("DELETE", "/health");
  CHECK(router.dispatch(wrong_method).status == 405);

  auto no_cert = req("GET", "/api/v1/certificates/0a1b");
  CHECK(router.dispatch(no_cert).status == 401);

  auto empty_param = req("GET", "/api/v1/certificates/");
  CHECK(router.dispatch(empty_param).status == 404);
}

TEST_CASE("Route parameters are percent-decoded; queries decode '+' as space") {
  Router router;
  router.add(
      {"GET", "/x/{id}", Auth::none, [](const Request& r) { return Response::text(200, r.params.at("id")); }, ""});
  auto r = req("GET", "/x/0a%3A1b");
  CHECK(router.dispatch(r).body == "0a:1b");
  CHECK(percent_decode("a+b%20c%zz", true) == "a b c%zz");
  CHECK(percent_decode("a+b", false) == "a+b");
}

TEST_CASE("Response::problem maps errors through the one table and hides internal detail") {
  auto bad = Response::problem(make_error(Errc::bad_csr, "the CSR's signature does not verify"));
  CHECK(bad.status == 400);
  auto j = nlohmann::json::parse(bad.body);
  CHECK(j["type"] == "urn:ietf:params:acme:error:badCSR");
  CHECK(j["detail"] == "the CSR's signature does not verify");
  auto internal = Response::problem(make_error(Errc::storage, "SQLITE_BUSY: database is locked in INSERT ..."));
  CHECK(internal.status == 500);
  CHECK(nlohmann::json::parse(internal.body)["detail"] == "internal error");
  CHECK(Response::problem(make_error(Errc::forbidden, "no")).status == 403);
}

TEST_CASE("Metrics render Prometheus text") {
  Metrics m;
  m.describe("requests_total", "counter", "Requests");
  m.add("requests_total", {{"route", "/a"}, {"status", "200"}});
  m.add("requests_total", {{"route", "/a"}, {"status", "200"}}, 2);
  m.observe("latency_seconds", {{"route", "/a"}}, 0.003);
  m.gauge_fn("expiring", "Expiring soon", [] { return 7.0; });
  const std::string text = m.render();
  CHECK(text.find("# TYPE requests_total counter") != std::string::npos);
  CHECK(text.find("requests_total{route=\"/a\",status=\"200\"} 3") != std::string::npos);
  CHECK(text.find("latency_seconds_bucket{route=\"/a\",le=\"0.005\"} 1") != std::string::npos);
  CHECK(text.find("latency_seconds_bucket{route=\"/a\",le=\"0.0025\"} 0") != std::string::npos);
  CHECK(text.find("latency_seconds_count{route=\"/a\"} 1") != std::string::npos);
  CHECK(text.find("expiring 7") != std::string::npos);
  CHECK(m.value("requests_total", {{"route", "/a"}, {"status", "200"}}) == 3);
}

namespace {
struct TestPrincipal final : Principal {
  std::string who;
};
}  // namespace

TEST_CASE("the route's authenticator runs before the handler and hands it the principal") {
  Router router;
  int handled = 0;
  router.add({"POST", "/jws", Auth::jws_kid,
              [&](const Request& r) {
                ++handled;
                const auto* p = r.principal_as<TestPrincipal>();
                REQUIRE(p != nullptr);
                return Response::text(200, p->who);
              },
              ""});
  router.authenticate(Auth::Kind::jws_kid, [](const Request& r, const Route& route) -> Authenticated {
    CHECK(route.auth == Auth::jws_kid);
    if (r.body != "good") return Response::problem(403, "urn:test:refused", "bad body");
    auto p = std::make_shared<TestPrincipal>();
    p->who = "alice";
    return p;
  });
  auto good = req("POST", "/jws");
  good.body = "good";
  auto ok = router.dispatch(good);
  CHECK(ok.status == 200);
  CHECK(ok.body == "alice");
  auto bad = req("POST", "/jws");
  bad.body = "bad";
  auto refused = router.dispatch(bad);
  CHECK(refused.status == 403);
  CHECK(nlohmann::json::parse(refused.body)["type"] == "urn:test:refused");
  CHECK(handled == 1);
}

TEST_CASE("a route whose authentication has no registered authenticator is refused with a 500") {
  Router router;
  bool handled = false;
  auto handler = [&](const Request&) {
    handled = true;
    return Response::json(200, "{}");
  };
  router.add({"POST", "/acme/new-order", Auth::jws_kid, handler, ""});
  router.add({"GET", "/admin", Auth::client_cert_for("administer"), handler, ""});
  auto jws = req("POST", "/acme/new-order");
  auto r = router.dispatch(jws);
  CHECK(r.status == 500);
  CHECK(nlohmann::json::parse(r.body)["detail"] == "internal error");
  // A client certificate is looked for first: without one, 401 as before.
  auto admin = req("GET", "/admin");
  CHECK(router.dispatch(admin).status == 401);
  CHECK_FALSE(handled);
}

TEST_CASE("serialize_head: version, framing, defaults and fields that would split the response") {
  std::string out;
  Response r = Response::json(201, "{\"a\":1}");
  r.with("Location", "/x").with("Link", "<a>").with("Link", "<b>");
  CHECK(serialize_head(out, r, 11, true, "Mon, 07 Dec 2026 15:00:00 GMT"));
  CHECK(out ==
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: /x\r\nLink: <a>\r\nLink: <b>\r\n"
        "Cache-Control: no-store\r\nDate: Mon, 07 Dec 2026 15:00:00 GMT\r\nContent-Length: 7\r\n\r\n");
  // HTTP/1.0 keep-alive says so; HTTP/1.1 says close when closing.
  serialize_head(out, Response::text(200, "ok"), 10, true, "");
  CHECK(out.find("HTTP/1.0 200 OK\r\n") == 0);
  CHECK(out.find("Connection: keep-alive\r\n") != std::string::npos);
  serialize_head(out, Response::text(200, "ok"), 11, false, "");
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
  CHECK(out.find("Date:") == std::string::npos);
  // The handler's own cache policy and framing: kept, and dropped.
  Response c = Response::text(200, "ok");
  c.with("Cache-Control", "public, max-age=60").with("Content-Length", "99").with("Transfer-Encoding", "chunked");
  serialize_head(out, c, 11, true, "");
  CHECK(out.find("no-store") == std::string::npos);
  CHECK(out.find("Content-Length: 2\r\n") != std::string::npos);
  CHECK(out.find("99") == std::string::npos);
  CHECK(out.find("chunked") == std::string::npos);
  // 304 and 204 carry no Content-Length (their body is never sent).
  Response nm;
  nm.status = 304;
  nm.with("ETag", "\"1\"");
  CHECK_FALSE(serialize_head(out, nm, 11, true, ""));
  CHECK(out.find("HTTP/1.1 304 Not Modified\r\n") == 0);
  CHECK(out.find("Content-Length") == std::string::npos);
  CHECK_FALSE(has_body(304));
  CHECK_FALSE(has_body(204));
  CHECK(has_body(200));
  // A value holding CR or LF would start a header or a response of its own: not written.
  Response bad = Response::text(200, "ok");
  bad.with("Location", "/a\r\nSet-Cookie: x=1").with("X-Ok", "1").with(std::string("X-N\0l", 5), "v");
  bad.with("X-Bad: y", "z").with("", "empty").with("X-Sp ace", "w");
  serialize_head(out, bad, 11, true, "");
  CHECK(out.find("Set-Cookie") == std::string::npos);
  CHECK(out.find("X-Ok: 1\r\n") != std::string::npos);
  CHECK(out.find("X-N") == std::string::npos);
  CHECK(out.find("X-Bad") == std::string::npos);
  CHECK(out.find("empty") == std::string::npos);
  CHECK(out.find("X-Sp") == std::string::npos);
  // A status that is not a final one (1xx, 0, 600+) is written as a 500 whose body follows, so
  // the framing the head announces is the framing sent.
  for (int odd_status : {7, 101, 600, 999, -1}) {
    CAPTURE(odd_status);
    Response odd = Response::text(odd_status, "xy");
    CHECK(serialize_head(out, odd, 11, true, ""));
    CHECK(out.find("HTTP/1.1 500 ") == 0);
    CHECK(out.find("Content-Length: 2\r\n") != std::string::npos);
    CHECK(final_status(odd_status) == 500);
  }
  CHECK(final_status(404) == 404);
}
