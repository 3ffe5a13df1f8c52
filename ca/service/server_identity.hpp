#pragma once
// The server's own TLS identity: a fresh key in memory (never on disk), a certificate from the
// current intermediate like any other (stored, audited, requester kServeRequester), renewed in
// its renewal window (policy::renewal_window, the one definition of "when to renew").
#include <string>

#include "ca/policy/policy.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

struct ServerIdentity {
  std::string chain_pem;
  std::string key_pem;
  TimePoint not_before, not_after;
  std::string serial;
};

// A new identity for config.server_dns, profile `server`, for tls.server_cert_ttl.
Result<ServerIdentity> issue_server_identity(IssuerContext& ctx);

// The renewal window of a server certificate issued for `ttl`: its notBefore is backdated
// (config.backdate), so the window is taken over the lifetime asked for, not the one certified;
// otherwise a short TTL would be due the moment it is issued.
policy::RenewalWindow server_renewal_window(TimePoint not_after, Seconds ttl);

}  // namespace sigil::service
