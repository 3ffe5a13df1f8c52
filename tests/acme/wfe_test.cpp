// acme/wfe driven through its router without sockets, over a real CA (tests/support/test_ca.hpp)
// and the real RA: requests are JWS signed here with OpenSSL keys, as a client would sign them.
// What is checked is the authentication the route table declares and the router enforces.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "acme/jws/jws.hpp"
#include "acme/jws/nonce.hpp"
#include "acme/ra/ra.hpp"
#include "acme/wfe/wfe.hpp"
#include "tests/http/route_table.hpp"
#include "tests/support/test_ca.hpp"

namespace {

using namespace sigil;
using namespace sigil::test;
using json = nlohmann::json;
using http::Auth;

constexpr const char* kBase = "https://acme.test";

// These tests never get as far as a validation.
class NoVa final : public acme::va::Validator {
 public:
  acme::va::Outcome validate(const acme::va::Task&) override { return {}; }
  Status submit(acme::va::Task, std::function<void(acme::va::Outcome)>) override {
    return make_error(Errc::internal, "no validations in these tests");
  }
  void shutdown() override {}
};

// The real store's spent-nonce record, with a switch that makes it unavailable.
class SwitchableSpend final : public store::ClusterStore {
 public:
  explicit SwitchableSpend(store::ClusterStore& inner) : inner_(inner) {}
  Result<bool> spend_nonce(const std::string& n, std::int64_t e, std::int64_t now) override {
    if (failing) return make_error(Errc::unavailable, "the database is failing over");
    return inner_.spend_nonce(n, e, now);
  }
  Status heartbeat(const store::NodeRecord& node) override { return inner_.heartbeat(node); }
  Result<std::vector<store::NodeRecord>> nodes(std::int64_t since) override { return inner_.nodes(since); }
  Result<bool> hold_crl_signer(const std::string& id, int shard) override { return inner_.hold_crl_signer(id, shard); }
  bool failing = false;

 private:
  store::ClusterStore& inner_;
};

acme::jws::NonceStore nonce_store(store::ClusterStore& spent, const Clock& clock) {
  auto n = acme::jws::NonceStore::create(crypto::random_bytes(acme::jws::kNonceKeySize), spent, clock);
  REQUIRE(n.has_value());
  return std::move(*n);
}

struct Wfe {
  Wfe()
      : ra({}, {*ca.db, *ca.db, *ca.db}, ca.issuer(), revoker, va, ca.clock),
        nonces(nonce_store(spent, ca.clock)),
        deps{ra, nonces, {}, ca.clock, metrics} {
    acme::wfe::add_routes(router, deps);
  }

  static const crypto::KeySigner& key(int slot) { return cached_key(crypto::KeyType::ec_p256, 400 + slot); }

  static std::optional<std::string> header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return std::nullopt;
  }

  http::Response send(const std::string& method, const std::string& target, std::string body = "") {
    http::Request req;
    req.method = method;
    http::set_target(req, target);
    http::add_header(req, "Host", "acme.test");
    http::add_header(req, "Content-Type", "application/jose+json");
    req.body = std::move(body);
    req.remote_address = "127.0.0.1";
    return router.dispatch(req);
  }

  std::string fresh_nonce() {
    auto r = send("HEAD", "/acme/new-nonce");
    REQUIRE(r.status == 200);
    auto n = header(r, "Replay-Nonce");
    REQUIRE(n.has_value());
    return *n;
  }

  // A flattened JWS over `payload` for `target`, by the key itself (jwk) or by an account (kid).
  std::string jws(const crypto::KeySigner& k, const std::string& target, const std::string& payload,
                  const std::string& kid = "", std::optional<std::string> nonce = std::nullopt) {
    json prot = {{"alg", acme::jws::alg_for(k.public_key().algorithm)},
                 {"nonce", nonce ? *nonce : fresh_nonce()},
                 {"url", std::string(kBase) + target}};
    if (kid.empty())
      prot["jwk"] = json::parse(acme::jws::public_jwk(k.public_key()));
    else
      prot["kid"] = kid;
    auto signed_ = acme::jws::sign(k, prot.dump(), payload);
    REQUIRE_MESSAGE(signed_.has_value(), (signed_ ? "" : signed_.error().detail));
    return *signed_;
  }

  // newAccount by `k`: the account URL (the kid of its later requests).
  std::string new_account(const crypto::KeySigner& k) {
    auto r = send("POST", "/acme/new-account", jws(k, "/acme/new-account", R"({"termsOfServiceAgreed":true})"));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    auto loc = header(r, "Location");
    REQUIRE(loc.has_value());
    return *loc;
  }

  TestCa ca;
  NoVa va;
  Metrics metrics;
  revocation::Revoker revoker{*ca.db, ca.issuer(), ca.clock, metrics};
  acme::ra::Ra ra;
  SwitchableSpend spent{*ca.db};
  acme::jws::NonceStore nonces;
  acme::wfe::Deps deps;
  http::Router router;
};

// The ACME problem type of a refusal, after checking that it carries a fresh nonce.
std::string problem_type(const http::Response& r) {
  CHECK(Wfe::header(r, "Content-Type") == "application/problem+json");
  CHECK(Wfe::header(r, "Replay-Nonce").has_value());
  return json::parse(r.body).value("type", "");
}

}  // namespace

TEST_CASE("the ACME route table declares every route's authentication") {
  Wfe w;
  const std::map<std::string, Auth> expected = {
      {"GET /acme/directory", Auth::none},
      {"GET /acme/new-nonce", Auth::none},
      {"POST /acme/new-account", Auth::jws_jwk},
      {"POST /acme/acct/{id}", Auth::jws_kid},
      {"POST /acme/acct/{id}/orders", Auth::post_as_get},
      {"POST /acme/key-change", Auth::jws_kid},
      {"POST /acme/new-order", Auth::jws_kid},
      {"POST /acme/order/{id}", Auth::post_as_get},
      {"POST /acme/order/{id}/finalize", Auth::jws_kid},
      {"POST /acme/authz/{id}", Auth::jws_kid},
      {"POST /acme/chall/{authz}/{type}", Auth::jws_kid},
      {"POST /acme/cert/{serial}", Auth::post_as_get},
      {"POST /acme/revoke-cert", Auth::jws_either},
      {"GET /acme/renewal-info/{id}", Auth::none},
  };
  check_route_auth(w.router, expected);
}

TEST_CASE("newNonce answers with a fresh nonce, HEAD 200 and GET 204") {
  Wfe w;
  auto head = w.send("HEAD", "/acme/new-nonce");
  CHECK(head.status == 200);
  auto get = w.send("GET", "/acme/new-nonce");
  CHECK(get.status == 204);
  CHECK(Wfe::header(head, "Replay-Nonce") != Wfe::header(get, "Replay-Nonce"));
  CHECK(Wfe::header(get, "Cache-Control") == "no-store");
}

TEST_CASE("newAccount by jwk creates the account, then finds it again") {
  Wfe w;
  const std::string url = w.new_account(Wfe::key(1));
  CHECK(url.rfind(std::string(kBase) + "/acme/acct/", 0) == 0);
  auto again = w.send("POST", "/acme/new-account", w.jws(Wfe::key(1), "/acme/new-account", "{}"));
  CHECK(again.status == 200);
  CHECK(Wfe::header(again, "Location") == url);
  CHECK(json::parse(again.body)["status"] == "valid");
}

TEST_CASE("a kid route refuses a jwk JWS, and the jwk route refuses a kid JWS (malformed)") {
  Wfe w;
  const std::string kid = w.new_account(Wfe::key(1));
  const std::string path = kid.substr(std::string(kBase).size());
  auto by_jwk = w.send("POST", path, w.jws(Wfe::key(1), path, ""));
  CHECK(by_jwk.status == 400);
  CHECK(problem_type(by_jwk) == "urn:ietf:params:acme:error:malformed");
  auto new_order_by_jwk = w.send("POST", "/acme/new-order", w.jws(Wfe::key(1), "/acme/new-order", "{}"));
  CHECK(problem_type(new_order_by_jwk) == "urn:ietf:params:acme:error:malformed");

  auto by_kid = w.send("POST", "/acme/new-account", w.jws(Wfe::key(1), "/acme/new-account", "{}", kid));
  CHECK(by_kid.status == 400);
  CHECK(problem_type(by_kid) == "urn:ietf:params:acme:error:malformed");

  // The same account by kid is accepted (POST-as-GET of the account).
  auto ok = w.send("POST", path, w.jws(Wfe::key(1), path, "", kid));
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body)["status"] == "valid");
}

TEST_CASE("a kid that names no account is accountDoesNotExist; another key's signature is refused") {
  Wfe w;
  const std::string kid = w.new_account(Wfe::key(1));
  auto unknown = w.send("POST", "/acme/new-order",
                        w.jws(Wfe::key(1), "/acme/new-order", "{}", std::string(kBase) + "/acme/acct/nobody"));
  CHECK(problem_type(unknown) == "urn:ietf:params:acme:error:accountDoesNotExist");
  auto forged = w.send("POST", "/acme/new-order", w.jws(Wfe::key(2), "/acme/new-order", "{}", kid));
  CHECK(forged.status >= 400);
  CHECK(problem_type(forged) == "urn:ietf:params:acme:error:malformed");
}

TEST_CASE("POST-as-GET routes refuse a non-empty payload") {
  Wfe w;
  const std::string kid = w.new_account(Wfe::key(1));
  const std::string orders = kid.substr(std::string(kBase).size()) + "/orders";
  auto with_payload = w.send("POST", orders, w.jws(Wfe::key(1), orders, "{}", kid));
  CHECK(with_payload.status == 400);
  CHECK(problem_type(with_payload) == "urn:ietf:params:acme:error:malformed");
  CHECK(json::parse(with_payload.body)["detail"] == "the orders list is fetched with POST-as-GET");
  auto cert = w.send("POST", "/acme/cert/01", w.jws(Wfe::key(1), "/acme/cert/01", "{}", kid));
  CHECK(problem_type(cert) == "urn:ietf:params:acme:error:malformed");

  auto empty = w.send("POST", orders, w.jws(Wfe::key(1), orders, "", kid));
  CHECK(empty.status == 200);
  CHECK(json::parse(empty.body)["orders"].empty());
}

TEST_CASE("a used or unknown nonce is badNonce, answered with a new nonce") {
  Wfe w;
  const std::string kid = w.new_account(Wfe::key(1));
  const std::string path = kid.substr(std::string(kBase).size());
  const std::string nonce = w.fresh_nonce();
  CHECK(w.send("POST", path, w.jws(Wfe::key(1), path, "", kid, nonce)).status == 200);
  auto replay = w.send("POST", path, w.jws(Wfe::key(1), path, "", kid, nonce));
  CHECK(replay.status == 400);
  CHECK(problem_type(replay) == "urn:ietf:params:acme:error:badNonce");
  CHECK(Wfe::header(replay, "Replay-Nonce") != nonce);
  auto unknown = w.send("POST", path, w.jws(Wfe::key(1), path, "", kid, "AAAAAAAAAAAAAAAAAAAAAA"));
  CHECK(problem_type(unknown) == "urn:ietf:params:acme:error:badNonce");
  // The new nonce works.
  auto retry =
      w.send("POST", path, w.jws(Wfe::key(1), path, "", kid, std::string(*Wfe::header(replay, "Replay-Nonce"))));
  CHECK(retry.status == 200);
}

TEST_CASE("a JWS whose url is another resource's is refused before its nonce is spent") {
  Wfe w;
  const std::string kid = w.new_account(Wfe::key(1));
  const std::string nonce = w.fresh_nonce();
  auto r = w.send("POST", "/acme/new-order", w.jws(Wfe::key(1), "/acme/new-account", "{}", kid, nonce));
  CHECK(problem_type(r) == "urn:ietf:params:acme:error:unauthorized");
  CHECK(w.nonces.redeem(nonce).value());
}

TEST_CASE("a store that cannot record a nonce fails the request with 503 and Retry-After, never accepts it") {
  Wfe w;
  const std::string kid = w.new_account(Wfe::key(1));
  const std::string path = kid.substr(std::string(kBase).size());
  const std::string nonce = w.fresh_nonce();
  w.spent.failing = true;  // a database failover
  auto r = w.send("POST", path, w.jws(Wfe::key(1), path, "", kid, nonce));
  CHECK(r.status == 503);
  CHECK(Wfe::header(r, "Retry-After") == "2");
  CHECK(Wfe::header(r, "Replay-Nonce").has_value());
  w.spent.failing = false;
  CHECK(w.send("POST", path, w.jws(Wfe::key(1), path, "", kid, nonce)).status == 200);  // not spent before
}
