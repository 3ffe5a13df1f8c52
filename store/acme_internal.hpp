#pragma once
// Private to the store engines (store/sqlite, store/postgres): the ACME repository's refusals
// that do not depend on the engine, so both refuse the same calls with the same codes.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "store/acme.hpp"

namespace sigil::store {

// A status outside its enum (a cast gone wrong) is refused before a write, so a caller's mistake
// is reported as such (the schema's CHECK constraints are the backstop).
template <class E>
Status check_status(E s, std::string_view kind) {
  if (*to_string(s) != '\0') return {};
  return make_error(Errc::invalid_argument,
                    "unknown " + std::string(kind) + " status " + std::to_string(static_cast<int>(s)));
}

// The text of a status column as its enum; anything else is a damaged database (`engine` names
// it in the detail: "sqlite", "postgresql").
template <class E>
Result<E> read_status(const std::string& text, std::string_view kind, std::string_view engine) {
  if (auto s = parse_status<E>(text)) return *s;
  return make_error(Errc::storage, std::string(engine) + ": unknown " + std::string(kind) + " status '" + text + "'");
}

inline Status check_account(const AcmeAccount& a) {
  if (a.id.empty()) return make_error(Errc::invalid_argument, "account id is empty");
  if (a.thumbprint.empty()) return make_error(Errc::invalid_argument, "account key thumbprint is empty");
  return check_status(a.status, "account");
}

inline Status check_authorization(const AcmeAuthorization& authz) {
  if (authz.id.empty()) return make_error(Errc::invalid_argument, "authorization id is empty");
  SIGIL_TRY_STATUS(check_status(authz.status, "authorization"));
  for (const AcmeChallenge& c : authz.challenges) SIGIL_TRY_STATUS(check_status(c.status, "challenge"));
  return {};
}

// create_order's arguments: each authorization given is named by the order and carries its id
// and account.
inline Status check_new_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations) {
  if (order.id.empty()) return make_error(Errc::invalid_argument, "order id is empty");
  SIGIL_TRY_STATUS(check_status(order.status, "order"));
  for (const AcmeAuthorization& authz : authorizations) {
    SIGIL_TRY_STATUS(check_authorization(authz));
    if (authz.order_id != order.id || authz.account_id != order.account_id) {
      return make_error(Errc::invalid_argument,
                        "authorization " + authz.id + " does not belong to order " + order.id + "'s account");
    }
    const auto& ids = order.authorization_ids;
    if (std::find(ids.begin(), ids.end(), authz.id) == ids.end()) {
      return make_error(Errc::invalid_argument, "order " + order.id + " does not name authorization " + authz.id);
    }
  }
  return {};
}

inline Status check_new_eab_key(const EabKey& key) {
  if (key.kid.empty()) return make_error(Errc::invalid_argument, "EAB key id is empty");
  if (key.hmac_key.empty()) return make_error(Errc::invalid_argument, "EAB HMAC key is empty");
  if (!key.account_id.empty()) {
    return make_error(Errc::invalid_argument, "a new EAB key cannot be bound; create_account binds it");
  }
  return {};
}

}  // namespace sigil::store
