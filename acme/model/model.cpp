#include "acme/model/model.hpp"

#include <algorithm>

namespace sigil::acme::model {

AuthorizationStatus authorization_status(const store::AcmeAuthorization& a, std::int64_t now) {
  const bool live = a.status == AuthorizationStatus::pending || a.status == AuthorizationStatus::valid;
  if (live && now >= a.expires) return AuthorizationStatus::expired;
  return a.status;
}

OrderStatus order_status(const store::AcmeOrder& o, const std::vector<store::AcmeAuthorization>& authzs,
                         std::int64_t now, bool certificate_stored) {
  switch (o.status) {
    case OrderStatus::processing:
      return !o.certificate_serial.empty() && certificate_stored ? OrderStatus::valid : OrderStatus::processing;
    case OrderStatus::valid:
    case OrderStatus::invalid:
      return o.status;
    case OrderStatus::pending:
    case OrderStatus::ready:
      break;
  }
  if (now >= o.expires) return OrderStatus::invalid;
  if (o.status == OrderStatus::ready) return OrderStatus::ready;
  bool all_valid = !authzs.empty();
  for (const auto& a : authzs) {
    switch (authorization_status(a, now)) {
      case AuthorizationStatus::valid:
        break;
      case AuthorizationStatus::pending:
        all_valid = false;
        break;
      case AuthorizationStatus::invalid:
      case AuthorizationStatus::deactivated:
      case AuthorizationStatus::expired:
      case AuthorizationStatus::revoked:
        return OrderStatus::invalid;  // one failed authorization fails the order (§7.1.6)
    }
  }
  return all_valid ? OrderStatus::ready : OrderStatus::pending;
}

std::vector<std::string> challenge_types(const store::AcmeIdentifier& id, bool wildcard) {
  if (id.type == "ip") return {"http-01", "tls-alpn-01"};
  if (wildcard) return {"dns-01"};
  return {"http-01", "dns-01", "tls-alpn-01"};
}

std::vector<store::AcmeChallenge> new_challenges(const store::AcmeIdentifier& id, bool wildcard) {
  std::vector<store::AcmeChallenge> out;
  for (auto& type : challenge_types(id, wildcard)) out.push_back({std::move(type), ChallengeStatus::pending, 0, ""});
  return out;
}

bool is_final(AuthorizationStatus s) { return s != AuthorizationStatus::pending; }

bool is_validating(const store::AcmeAuthorization& a) {
  return std::any_of(a.challenges.begin(), a.challenges.end(),
                     [](const auto& c) { return c.status == ChallengeStatus::processing; });
}

std::optional<AccountStatus> deactivate(AccountStatus s) {
  if (s == AccountStatus::valid) return AccountStatus::deactivated;
  return std::nullopt;
}

std::optional<AuthorizationStatus> deactivate(AuthorizationStatus s) {
  if (s == AuthorizationStatus::pending || s == AuthorizationStatus::valid) return AuthorizationStatus::deactivated;
  return std::nullopt;
}

std::optional<ChallengeStatus> start_validation(AuthorizationStatus authz, ChallengeStatus challenge) {
  if (authz == AuthorizationStatus::pending && challenge == ChallengeStatus::pending)
    return ChallengeStatus::processing;
  return std::nullopt;
}

std::optional<Validated> validation_result(AuthorizationStatus authz, ChallengeStatus challenge, bool valid) {
  if (authz != AuthorizationStatus::pending) return std::nullopt;
  if (challenge != ChallengeStatus::pending && challenge != ChallengeStatus::processing) return std::nullopt;
  if (valid) return Validated{AuthorizationStatus::valid, ChallengeStatus::valid};
  return Validated{AuthorizationStatus::invalid, ChallengeStatus::invalid};
}

std::optional<OrderStatus> finalize(OrderStatus stored) {
  if (stored == OrderStatus::pending || stored == OrderStatus::ready) return OrderStatus::processing;
  return std::nullopt;
}

std::optional<OrderStatus> issuance_result(OrderStatus stored, bool issued) {
  if (stored != OrderStatus::processing) return std::nullopt;
  return issued ? OrderStatus::valid : OrderStatus::invalid;
}

}  // namespace sigil::acme::model
