#pragma once
// ACME objects' state machines (RFC 8555 §7.1.6) as pure functions over the stored records.
// Stored statuses change only on events (a validation result, finalize, deactivation), and only
// through the transitions below: each takes the current status and returns the next one, or
// nullopt when the event is refused in that status; the RA applies them and never assigns a
// status of its own. The statuses that follow from time or from other objects (expired, ready,
// invalid because an authorization failed, valid once the certificate is stored) are derived
// here on every read.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/acme.hpp"

namespace sigil::acme::model {

using store::AccountStatus;
using store::AuthorizationStatus;
using store::ChallengeStatus;
using store::OrderStatus;

// ---- derived statuses ------------------------------------------------------------------------

// The authorization's status at `now`: a pending or valid one past its expiry is expired.
AuthorizationStatus authorization_status(const store::AcmeAuthorization& a, std::int64_t now);

// The order's status at `now`, from the stored order and its authorizations. Finalize stores
// processing with the certificate's serial before it signs, and the certificate ledger's own
// commit of the signed certificate completes the order: a processing order with a serial whose
// certificate is stored (`certificate_stored`) is valid without a write of its own.
OrderStatus order_status(const store::AcmeOrder& o, const std::vector<store::AcmeAuthorization>& authzs,
                         std::int64_t now, bool certificate_stored = false);

// The challenge types offered for an identifier: dns names get http-01, dns-01 and
// tls-alpn-01; wildcards dns-01 only (RFC 8555 §7.1.3); IP addresses http-01 and tls-alpn-01
// (RFC 8738 §7).
std::vector<std::string> challenge_types(const store::AcmeIdentifier& id, bool wildcard);

// A new authorization's challenges: one pending challenge per offered type.
std::vector<store::AcmeChallenge> new_challenges(const store::AcmeIdentifier& id, bool wildcard);

// An authorization is final once it left pending; a challenge may be answered only while
// its authorization is pending and it is itself pending.
bool is_final(AuthorizationStatus s);

// One validation per authorization at a time: true while one of its challenges is processing.
bool is_validating(const store::AcmeAuthorization& a);

// ---- transitions -----------------------------------------------------------------------------

// The account's owner (or an operator) deactivates it (§7.3.6): valid -> deactivated.
std::optional<AccountStatus> deactivate(AccountStatus s);

// The client deactivates an authorization (§7.5.2): pending or valid (at `now`, so not
// expired) -> deactivated.
std::optional<AuthorizationStatus> deactivate(AuthorizationStatus s);

// The client answers a challenge (§7.5.1): the challenge goes pending -> processing while its
// authorization stays pending; refused once either left pending.
std::optional<ChallengeStatus> start_validation(AuthorizationStatus authz, ChallengeStatus challenge);

// A validation result: the challenge and its authorization become valid, or invalid, together.
// Only for a pending authorization whose challenge is pending or processing; a result that
// arrives after a deactivation (or a second result) is refused.
struct Validated {
  AuthorizationStatus authorization;
  ChallengeStatus challenge;
};
std::optional<Validated> validation_result(AuthorizationStatus authz, ChallengeStatus challenge, bool valid);

// Finalize (§7.4) of an order whose status at `now` is ready: its stored status (pending with
// every authorization valid, or ready) -> processing. A second finalize finds processing and
// is refused.
std::optional<OrderStatus> finalize(OrderStatus stored);

// Issuance after finalize: processing -> valid when the certificate was issued, processing ->
// invalid when issuance failed.
std::optional<OrderStatus> issuance_result(OrderStatus stored, bool issued);

}  // namespace sigil::acme::model
