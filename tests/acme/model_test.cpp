// acme/model: every transition for every status (allowed or refused), the derived order and
// authorization statuses, the challenges offered, and the one table of status texts.
#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "acme/model/model.hpp"

using namespace sigil;
using namespace sigil::acme;
using store::AccountStatus;
using store::AuthorizationStatus;
using store::ChallengeStatus;
using store::OrderStatus;

namespace {

constexpr AccountStatus kAccountStatuses[] = {AccountStatus::valid, AccountStatus::deactivated, AccountStatus::revoked};
constexpr OrderStatus kOrderStatuses[] = {OrderStatus::pending, OrderStatus::ready, OrderStatus::processing,
                                          OrderStatus::valid, OrderStatus::invalid};
constexpr AuthorizationStatus kAuthorizationStatuses[] = {
    AuthorizationStatus::pending,     AuthorizationStatus::valid,   AuthorizationStatus::invalid,
    AuthorizationStatus::deactivated, AuthorizationStatus::expired, AuthorizationStatus::revoked};
constexpr ChallengeStatus kChallengeStatuses[] = {ChallengeStatus::pending, ChallengeStatus::processing,
                                                  ChallengeStatus::valid, ChallengeStatus::invalid};

store::AcmeAuthorization authz(AuthorizationStatus s, std::int64_t expires) {
  store::AcmeAuthorization a;
  a.status = s;
  a.expires = expires;
  return a;
}

store::AcmeOrder order(OrderStatus s, std::int64_t expires) {
  store::AcmeOrder o;
  o.status = s;
  o.expires = expires;
  return o;
}

// A one-status transition over every status of its type: `to` from those in `allowed`, refused
// from the rest.
template <class From, std::size_t N, class Transition, class To>
void check_transition(const From (&every)[N], Transition transition, std::initializer_list<From> allowed, To to) {
  for (From s : every) {
    CAPTURE(store::to_string(s));
    if (std::find(allowed.begin(), allowed.end(), s) != allowed.end())
      CHECK(transition(s) == to);
    else
      CHECK_FALSE(transition(s));
  }
}

}  // namespace

TEST_CASE("status texts: one table, the RFC's words, round trip, unknown text refused") {
  CHECK(std::string(store::to_string(AccountStatus::valid)) == "valid");
  CHECK(std::string(store::to_string(AccountStatus::deactivated)) == "deactivated");
  CHECK(std::string(store::to_string(AccountStatus::revoked)) == "revoked");
  CHECK(std::string(store::to_string(OrderStatus::pending)) == "pending");
  CHECK(std::string(store::to_string(OrderStatus::ready)) == "ready");
  CHECK(std::string(store::to_string(OrderStatus::processing)) == "processing");
  CHECK(std::string(store::to_string(OrderStatus::valid)) == "valid");
  CHECK(std::string(store::to_string(OrderStatus::invalid)) == "invalid");
  CHECK(std::string(store::to_string(AuthorizationStatus::pending)) == "pending");
  CHECK(std::string(store::to_string(AuthorizationStatus::valid)) == "valid");
  CHECK(std::string(store::to_string(AuthorizationStatus::invalid)) == "invalid");
  CHECK(std::string(store::to_string(AuthorizationStatus::deactivated)) == "deactivated");
  CHECK(std::string(store::to_string(AuthorizationStatus::expired)) == "expired");
  CHECK(std::string(store::to_string(AuthorizationStatus::revoked)) == "revoked");
  CHECK(std::string(store::to_string(ChallengeStatus::pending)) == "pending");
  CHECK(std::string(store::to_string(ChallengeStatus::processing)) == "processing");
  CHECK(std::string(store::to_string(ChallengeStatus::valid)) == "valid");
  CHECK(std::string(store::to_string(ChallengeStatus::invalid)) == "invalid");

  for (auto s : kAccountStatuses) CHECK(store::parse_status<AccountStatus>(store::to_string(s)) == s);
  for (auto s : kOrderStatuses) CHECK(store::parse_status<OrderStatus>(store::to_string(s)) == s);
  for (auto s : kAuthorizationStatuses) CHECK(store::parse_status<AuthorizationStatus>(store::to_string(s)) == s);
  for (auto s : kChallengeStatuses) CHECK(store::parse_status<ChallengeStatus>(store::to_string(s)) == s);

  // Each object has its own set: a word of another set is not one of its statuses.
  CHECK_FALSE(store::parse_status<AccountStatus>("pending"));
  CHECK_FALSE(store::parse_status<OrderStatus>("deactivated"));
  CHECK_FALSE(store::parse_status<ChallengeStatus>("ready"));
  CHECK_FALSE(store::parse_status<AuthorizationStatus>("processing"));
  CHECK_FALSE(store::parse_status<OrderStatus>(""));
  CHECK_FALSE(store::parse_status<OrderStatus>("Valid"));  // the text is exact
  // A value outside the enum has no text (the store refuses to write it).
  CHECK(std::string(store::to_string(static_cast<OrderStatus>(99))).empty());
}

TEST_CASE("account deactivation: only a valid account") {
  check_transition(
      kAccountStatuses, [](AccountStatus s) { return model::deactivate(s); }, {AccountStatus::valid},
      AccountStatus::deactivated);
}

TEST_CASE("authorization deactivation: only a pending or valid one") {
  check_transition(
      kAuthorizationStatuses, [](AuthorizationStatus s) { return model::deactivate(s); },
      {AuthorizationStatus::pending, AuthorizationStatus::valid}, AuthorizationStatus::deactivated);
}

TEST_CASE("answering a challenge: pending -> processing, only under a pending authorization") {
  for (auto a : kAuthorizationStatuses)
    for (auto c : kChallengeStatuses) {
      CAPTURE(store::to_string(a));
      CAPTURE(store::to_string(c));
      if (a == AuthorizationStatus::pending && c == ChallengeStatus::pending)
        CHECK(model::start_validation(a, c) == ChallengeStatus::processing);
      else
        CHECK_FALSE(model::start_validation(a, c));
    }
}

TEST_CASE("a validation result moves the challenge and its authorization together") {
  for (auto a : kAuthorizationStatuses)
    for (auto c : kChallengeStatuses)
      for (bool valid : {true, false}) {
        CAPTURE(store::to_string(a));
        CAPTURE(store::to_string(c));
        CAPTURE(valid);
        const auto next = model::validation_result(a, c, valid);
        const bool allowed =
            a == AuthorizationStatus::pending && (c == ChallengeStatus::pending || c == ChallengeStatus::processing);
        REQUIRE(next.has_value() == allowed);
        if (!next) continue;
        CHECK(next->authorization == (valid ? AuthorizationStatus::valid : AuthorizationStatus::invalid));
        CHECK(next->challenge == (valid ? ChallengeStatus::valid : ChallengeStatus::invalid));
      }
}

TEST_CASE("finalize: pending or ready -> processing; issuance: processing -> valid or invalid") {
  check_transition(kOrderStatuses, model::finalize, {OrderStatus::pending, OrderStatus::ready},
                   OrderStatus::processing);
  check_transition(
      kOrderStatuses, [](OrderStatus s) { return model::issuance_result(s, true); }, {OrderStatus::processing},
      OrderStatus::valid);
  check_transition(
      kOrderStatuses, [](OrderStatus s) { return model::issuance_result(s, false); }, {OrderStatus::processing},
      OrderStatus::invalid);
}

TEST_CASE("authorization_status: pending and valid ones expire, the others keep their status") {
  for (auto s : kAuthorizationStatuses) {
    CAPTURE(store::to_string(s));
    const auto a = authz(s, 100);
    CHECK(model::authorization_status(a, 99) == s);
    const bool expires = s == AuthorizationStatus::pending || s == AuthorizationStatus::valid;
    CHECK(model::authorization_status(a, 100) == (expires ? AuthorizationStatus::expired : s));
    CHECK(model::authorization_status(a, 1'000) == (expires ? AuthorizationStatus::expired : s));
  }
}

TEST_CASE("order_status: a stored final or processing status stands, whatever the time and the authorizations") {
  const auto v = authz(AuthorizationStatus::valid, 300);
  const auto bad = authz(AuthorizationStatus::invalid, 300);
  for (auto s : {OrderStatus::processing, OrderStatus::valid, OrderStatus::invalid}) {
    CAPTURE(store::to_string(s));
    const auto o = order(s, 200);
    CHECK(model::order_status(o, {v}, 50) == s);
    CHECK(model::order_status(o, {bad}, 50) == s);
    CHECK(model::order_status(o, {}, 250) == s);  // past its expiry
  }
}

TEST_CASE("order_status: processing -> valid once the certificate of its recorded serial is stored") {
  auto o = order(OrderStatus::processing, 200);
  CHECK(model::order_status(o, {}, 50, true) == OrderStatus::processing);  // no serial recorded
  o.certificate_serial = "7f01";
  CHECK(model::order_status(o, {}, 50) == OrderStatus::processing);
  CHECK(model::order_status(o, {}, 50, true) == OrderStatus::valid);
  CHECK(model::order_status(o, {}, 250, true) == OrderStatus::valid);  // at any time
  for (auto s : kOrderStatuses) {
    if (s == OrderStatus::processing) continue;
    CAPTURE(store::to_string(s));
    auto other = order(s, 200);
    other.certificate_serial = "7f01";
    const bool completed =
        model::order_status(other, {authz(AuthorizationStatus::valid, 300)}, 50, true) == OrderStatus::valid;
    CHECK(completed == (s == OrderStatus::valid));  // only a stored valid one is valid
  }
}

TEST_CASE("order_status: pending and ready orders expire, become ready, or fail with an authorization") {
  const auto p = authz(AuthorizationStatus::pending, 300);
  const auto v = authz(AuthorizationStatus::valid, 300);
  for (auto s : {OrderStatus::pending, OrderStatus::ready}) {
    CAPTURE(store::to_string(s));
    const auto o = order(s, 200);
    CHECK(model::order_status(o, {v, v}, 200) == OrderStatus::invalid);  // the order expired
    CHECK(model::order_status(o, {v, v}, 250) == OrderStatus::invalid);
  }
  // A stored ready order stays ready: its authorizations were valid when it became so.
  CHECK(model::order_status(order(OrderStatus::ready, 200), {p}, 50) == OrderStatus::ready);

  const auto o = order(OrderStatus::pending, 200);
  CHECK(model::order_status(o, {}, 50) == OrderStatus::pending);  // no authorization: never ready
  CHECK(model::order_status(o, {p}, 50) == OrderStatus::pending);
  CHECK(model::order_status(o, {p, v}, 50) == OrderStatus::pending);
  CHECK(model::order_status(o, {v}, 50) == OrderStatus::ready);
  CHECK(model::order_status(o, {v, v}, 50) == OrderStatus::ready);
  // Any authorization that failed, was deactivated, expired or revoked fails the order.
  for (auto s : kAuthorizationStatuses) {
    if (s == AuthorizationStatus::pending || s == AuthorizationStatus::valid) continue;
    CAPTURE(store::to_string(s));
    CHECK(model::order_status(o, {v, authz(s, 300)}, 50) == OrderStatus::invalid);
    CHECK(model::order_status(o, {p, authz(s, 300)}, 50) == OrderStatus::invalid);
  }
  // An authorization that expires before its order does fails it.
  CHECK(model::order_status(o, {v, authz(AuthorizationStatus::valid, 40)}, 50) == OrderStatus::invalid);
  CHECK(model::order_status(o, {authz(AuthorizationStatus::pending, 40)}, 50) == OrderStatus::invalid);
}

TEST_CASE("is_final: every authorization status but pending") {
  for (auto s : kAuthorizationStatuses) {
    CAPTURE(store::to_string(s));
    CHECK(model::is_final(s) == (s != AuthorizationStatus::pending));
  }
}

TEST_CASE("challenge_types and new_challenges: by identifier type and wildcard, all pending") {
  CHECK(model::challenge_types({"dns", "a.example"}, false) ==
        std::vector<std::string>{"http-01", "dns-01", "tls-alpn-01"});
  CHECK(model::challenge_types({"dns", "a.example"}, true) == std::vector<std::string>{"dns-01"});
  CHECK(model::challenge_types({"ip", "10.0.0.1"}, false) == std::vector<std::string>{"http-01", "tls-alpn-01"});
  CHECK(model::challenge_types({"ip", "::1"}, false) == std::vector<std::string>{"http-01", "tls-alpn-01"});
  for (bool wildcard : {false, true}) {
    const store::AcmeIdentifier id{"dns", "a.example"};
    const auto challenges = model::new_challenges(id, wildcard);
    const auto types = model::challenge_types(id, wildcard);
    REQUIRE(challenges.size() == types.size());
    for (std::size_t i = 0; i < types.size(); ++i) {
      CHECK(challenges[i].type == types[i]);
      CHECK(challenges[i].status == ChallengeStatus::pending);
      CHECK(challenges[i].validated == 0);
      CHECK(challenges[i].error.empty());
    }
  }
}

TEST_CASE("is_validating: while one challenge is processing") {
  store::AcmeAuthorization a;
  a.challenges = model::new_challenges({"dns", "a.example"}, false);
  CHECK_FALSE(model::is_validating(a));
  for (auto s : kChallengeStatuses) {
    CAPTURE(store::to_string(s));
    a.challenges[1].status = s;
    CHECK(model::is_validating(a) == (s == ChallengeStatus::processing));
  }
}

TEST_CASE("model: order and authorization states follow RFC 8555 §7.1.6") {
  store::AcmeAuthorization a;
  a.status = AuthorizationStatus::pending;
  a.expires = 100;
  CHECK(model::authorization_status(a, 50) == AuthorizationStatus::pending);
  CHECK(model::authorization_status(a, 100) == AuthorizationStatus::expired);
  store::AcmeOrder o;
  o.status = OrderStatus::pending;
  o.expires = 200;
  store::AcmeAuthorization v = a;
  v.status = AuthorizationStatus::valid;
  v.expires = 300;
  CHECK(model::order_status(o, {a, v}, 50) == OrderStatus::pending);
  CHECK(model::order_status(o, {v, v}, 50) == OrderStatus::ready);
  store::AcmeAuthorization bad = a;
  bad.status = AuthorizationStatus::invalid;
  CHECK(model::order_status(o, {bad, v}, 50) == OrderStatus::invalid);
  CHECK(model::order_status(o, {v, v}, 200) == OrderStatus::invalid);  // the order expired
  o.status = OrderStatus::valid;
  CHECK(model::order_status(o, {v, v}, 250) == OrderStatus::valid);
  // Processing: valid once the certificate of its recorded serial is stored, at any time.
  o.status = OrderStatus::processing;
  CHECK(model::order_status(o, {v, v}, 250) == OrderStatus::processing);
  CHECK(model::order_status(o, {v, v}, 250, true) == OrderStatus::processing);  // no serial recorded
  o.certificate_serial = "7f01";
  CHECK(model::order_status(o, {v, v}, 250) == OrderStatus::processing);
  CHECK(model::order_status(o, {v, v}, 250, true) == OrderStatus::valid);
  o.status = OrderStatus::ready;
  CHECK(model::order_status(o, {v, v}, 50, true) == OrderStatus::ready);  // only a processing order completes so
  CHECK(model::challenge_types({"dns", "a.example"}, true) == std::vector<std::string>{"dns-01"});
  CHECK(model::challenge_types({"ip", "10.0.0.1"}, false) == std::vector<std::string>{"http-01", "tls-alpn-01"});
  CHECK(model::challenge_types({"dns", "a.example"}, false).size() == 3);
}
