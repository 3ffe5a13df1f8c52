#include "ca/service/server_identity.hpp"

#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/service/own_names.hpp"

namespace sigil::service {

namespace {
Result<issuer::Issued> issue_for(IssuerContext& ctx, const crypto::Signer& key, const std::vector<std::string>& ips) {
  std::vector<crypto::GeneralName> names;
  policy::IdentifierPolicy own;
  own.dns_names = ctx.config.server_dns;
  for (const auto& n : ctx.config.server_dns) names.push_back({crypto::GeneralName::Type::dns, n});
  for (const auto& ip : ips) {
    names.push_back({crypto::GeneralName::Type::ip, ip});
    own.ip_ranges.push_back(single_address_range(ip));
  }
  SIGIL_TRY(Bytes csr, crypto::make_csr(key, crypto::encode_name(""), names));
  const issuer::Authority& ca = ctx.issuer->current();
  SIGIL_TRY(crypto::Certificate ca_cert, crypto::Certificate::from_der(ca.cert.der()));
  return issue_own_certificate(*ca.key, std::move(ca_cert), ctx.config, std::move(own),
                               {std::string(as_chars(csr)), "server", ctx.config.tls.server_cert_ttl, kServeRequester},
                               ctx.clock, *ctx.store);
}
}  // namespace

Result<ServerIdentity> issue_server_identity(IssuerContext& ctx) {
  SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(ctx.config.key_type));
  SIGIL_TRY(auto key, crypto::KeySigner::generate(type));
  std::vector<std::string> ips = bound_ip_addresses(ctx.config);
  auto issued = issue_for(ctx, *key, ips);
  if (!issued && !ips.empty() && issued.error().code == Errc::rejected_identifier) {
    // An intermediate made before listener addresses were among the CA's own names excludes
    // them: serve on the DNS names alone (URLs are then printed with the first of them).
    log::warn("the server certificate names no IP address: the intermediate does not permit the bound addresses",
              {{"error", issued.error().detail}});
    ips.clear();
    issued = issue_for(ctx, *key, ips);
  }
  if (!issued) return issued.error();
  SIGIL_TRY(std::string key_pem, key->to_pem());
  return ServerIdentity{issued->chain_pem, key_pem,        issued->not_before,
                        issued->not_after, issued->serial, std::move(ips)};
}

policy::RenewalWindow server_renewal_window(TimePoint not_after, Seconds ttl) {
  return policy::renewal_window(not_after - ttl, not_after);
}

}  // namespace sigil::service
