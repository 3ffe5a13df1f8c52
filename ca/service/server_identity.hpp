#pragma once
// The server's own TLS identity: a fresh key in memory (never on disk), a certificate from the
// current intermediate like any other (stored, audited, requester kServeRequester), renewed in
// its renewal window (policy::renewal_window, the one definition of "when to renew").
#include <string>
#include <vector>

#include "ca/policy/policy.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

struct ServerIdentity {
  std::string chain_pem;
  std::string key_pem;
  TimePoint not_before, not_after;
  std::string serial;
  std::vector<std::string> ip_addresses;  // the IP SANs: the listeners' bound addresses, when permitted
};

// A new identity for config.server_dns and the addresses the TLS listeners bind
// (bound_ip_addresses), profile `server`, for tls.server_cert_ttl; issued through the CA's own
// names (own_names.hpp). When the intermediate's name constraints exclude those addresses (an
// intermediate older than this rule), the DNS names alone.
Result<ServerIdentity> issue_server_identity(IssuerContext& ctx);

// The renewal window of a server certificate issued for `ttl`: its notBefore is backdated
// (config.backdate), so the window is taken over the lifetime asked for, not the one certified;
// otherwise a short TTL would be due the moment it is issued.
policy::RenewalWindow server_renewal_window(TimePoint not_after, Seconds ttl);

}  // namespace sigil::service
