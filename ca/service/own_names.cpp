#include "ca/service/own_names.hpp"

#include <algorithm>

#include "ca/service/home.hpp"

namespace sigil::service {

namespace {
// "127.0.0.1:9443" -> "127.0.0.1", "[::1]:0" -> "::1" (the listener's own syntax, ca/http).
std::string host_of(const std::string& address) {
  if (!address.empty() && address[0] == '[') {
    const auto close = address.find(']');
    return close == std::string::npos ? "" : address.substr(1, close - 1);
  }
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? "" : address.substr(0, colon);
}
}  // namespace

std::vector<std::string> bound_ip_addresses(const Config& config) {
  std::vector<std::string> out;
  for (const std::string* l : {&config.listeners.api, &config.listeners.acme}) {
    auto ip = policy::normalize({crypto::GeneralName::Type::ip, host_of(*l)});
    if (!ip || ip->value == "0.0.0.0" || ip->value == "::") continue;
    if (std::find(out.begin(), out.end(), ip->value) == out.end()) out.push_back(ip->value);
  }
  return out;
}

std::string single_address_range(const std::string& ip) {
  return ip + (ip.find(':') == std::string::npos ? "/32" : "/128");
}

std::string listener_url(const std::string& bound, bool tls, const std::vector<std::string>& named_ips,
                         const std::string& dns_name) {
  const std::string scheme = tls ? "https://" : "http://";
  auto ip = policy::normalize({crypto::GeneralName::Type::ip, host_of(bound)});
  const bool wildcard = !ip || ip->value == "0.0.0.0" || ip->value == "::";
  if (!wildcard && (!tls || std::find(named_ips.begin(), named_ips.end(), ip->value) != named_ips.end()))
    return scheme + bound;
  return scheme + dns_name + bound.substr(bound.rfind(':'));
}

Result<issuer::Issued> issue_own_certificate(const crypto::Signer& ca_key, crypto::Certificate ca_cert,
                                             const Config& config, policy::IdentifierPolicy allowed,
                                             const issuer::Request& request, const Clock& clock,
                                             store::CertificateLedger& ledger) {
  SIGIL_TRY(policy::Profiles profiles, config.effective_profiles());
  SIGIL_TRY(auto is, issuer::Issuer::create(ca_key, std::move(ca_cert), std::move(allowed), std::move(profiles),
                                            {config.public_url, config.backdate}, clock, ledger));
  SIGIL_TRY_STATUS(is->update_crl_layout(crl_layout(config)));
  SIGIL_TRY(auto prepared, is->prepare(request));
  return is->issue(std::move(prepared));
}

}  // namespace sigil::service
