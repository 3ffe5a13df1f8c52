#include "ca/service/server_identity.hpp"

#include "ca/base/encoding.hpp"

namespace sigil::service {

Result<ServerIdentity> issue_server_identity(IssuerContext& ctx) {
  SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(ctx.config.key_type));
  SIGIL_TRY(auto key, crypto::KeySigner::generate(type));
  std::vector<crypto::GeneralName> names;
  for (const auto& n : ctx.config.server_dns) names.push_back({crypto::GeneralName::Type::dns, n});
  SIGIL_TRY(Bytes csr, crypto::make_csr(*key, crypto::encode_name(""), names));
  const Seconds ttl = ctx.config.tls.server_cert_ttl;
  SIGIL_TRY(auto prepared, ctx.issuer->prepare({std::string(as_chars(csr)), "server", ttl, kServeRequester}));
  SIGIL_TRY(auto issued, ctx.issuer->issue(std::move(prepared)));
  SIGIL_TRY(std::string key_pem, key->to_pem());
  return ServerIdentity{issued.chain_pem, key_pem, issued.not_before, issued.not_after, issued.serial};
}

policy::RenewalWindow server_renewal_window(TimePoint not_after, Seconds ttl) {
  return policy::renewal_window(not_after - ttl, not_after);
}

}  // namespace sigil::service
