#pragma once
// ACME objects' state machines (RFC 8555 §7.1.6) as pure functions over the stored records.
// Stored statuses change only on events (a validation result, finalize, deactivation); the
// ones that follow from time or from other objects (expired, ready, invalid because an
// authorization failed) are derived here on every read.
#include <cstdint>
#include <string>
#include <vector>

#include "store/acme.hpp"

namespace sigil::acme::model {

// "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked" at `now`.
std::string authorization_status(const store::AcmeAuthorization& a, std::int64_t now);

// "pending" | "ready" | "processing" | "valid" | "invalid" at `now`, from the stored order
// and its authorizations. Finalize stores "processing" with the certificate's serial before it
// signs, and the certificate ledger's own commit of the signed certificate completes the order:
// a processing order with a serial whose certificate is stored (`certificate_stored`) is "valid"
// without a write of its own.
std::string order_status(const store::AcmeOrder& o, const std::vector<store::AcmeAuthorization>& authzs,
                         std::int64_t now, bool certificate_stored = false);

// The challenge types offered for an identifier: dns names get http-01, dns-01 and
// tls-alpn-01; wildcards dns-01 only (RFC 8555 §7.1.3); IP addresses http-01 and tls-alpn-01
// (RFC 8738 §7).
std::vector<std::string> challenge_types(const store::AcmeIdentifier& id, bool wildcard);

// An authorization is final once it left "pending"; a challenge may be answered only while
// its authorization is pending and it is itself pending.
bool is_final(const std::string& authorization_status);

}  // namespace sigil::acme::model
