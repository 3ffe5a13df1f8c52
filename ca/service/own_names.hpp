#pragma once
// The CA's own names: its server's DNS names (server.dns), the addresses its TLS listeners bind,
// and the admin identity. Certificates for them are issued through an identifier policy that
// allows exactly them: the ordinary policy need not allow them, and no caller can mint them
// through it. The intermediate's name constraints still apply (root.cpp permits these names).
#include <string>
#include <vector>

#include "ca/issuer/issuer.hpp"
#include "ca/policy/policy.hpp"
#include "ca/service/config.hpp"

namespace sigil::service {

// The specific IP addresses the api and acme listeners bind, canonical and without duplicates;
// none for 0.0.0.0 or :: (every address: none is named), nor for an unparsable listener.
std::vector<std::string> bound_ip_addresses(const Config& config);

// "127.0.0.1" -> "127.0.0.1/32", "::1" -> "::1/128": a range holding exactly one address.
std::string single_address_range(const std::string& ip);

// A URL for the listener bound at `bound` ("127.0.0.1:9443", "[::1]:8443") that works as printed:
// with the address when `tls` is false or `named_ips` (the served certificate's IP SANs) holds it
// and it is not a wildcard, else with `dns_name` and the bound port.
std::string listener_url(const std::string& bound, bool tls, const std::vector<std::string>& named_ips,
                         const std::string& dns_name);

// `request` issued by `ca_key`/`ca_cert` through an identifier policy allowing exactly `allowed`,
// sharded like every other certificate issued on the host.
Result<issuer::Issued> issue_own_certificate(const crypto::Signer& ca_key, crypto::Certificate ca_cert,
                                             const Config& config, policy::IdentifierPolicy allowed,
                                             const issuer::Request& request, const Clock& clock,
                                             store::CertificateLedger& ledger);

}  // namespace sigil::service
