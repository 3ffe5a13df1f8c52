#include "ca/service/explain.hpp"

#include <algorithm>

#include "ca/api/explain.hpp"
#include "ca/base/duration.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

Result<nlohmann::json> explain_local(const std::string& home, const ExplainOptions& o) {
  api::ExplainRequest req{o.csr, o.profile, std::nullopt, std::nullopt};
  if (!o.ttl.empty()) {
    SIGIL_TRY(req.ttl, parse_duration(o.ttl));
  }
  if (!o.identity.empty()) {
    SIGIL_TRY(req.identity, api::parse_identity(o.identity));
  }
  SIGIL_TRY(auto ctx, open_issuer(home));
  SIGIL_TRY(auto roles, authz_policy(ctx->config));
  SIGIL_TRY(auto explained, api::explain_request(*ctx->issuer, *roles, req));
  SIGIL_TRY_STATUS(ctx->store->append(
      {to_unix(ctx->clock.now()), o.actor, "policy-explain", o.identity, "ok", api::explain_summary(explained)}));
  return explained;
}

nlohmann::json profile_json(const policy::Profile& p, const Config& c) {
  nlohmann::json eku = nlohmann::json::array(), types = nlohmann::json::array(), keys = nlohmann::json::array();
  for (auto e : p.ext_key_usage) eku.push_back(policy::eku_name(e));
  for (auto t : p.allowed_types) types.push_back(policy::san_type_name(t));
  for (auto k : p.key_types) keys.push_back(crypto::to_string(k));
  const bool acme = std::find(c.acme.profiles.begin(), c.acme.profiles.end(), p.name) != c.acme.profiles.end();
  return {{"name", p.name},
          {"builtin", p.builtin},
          {"ext_key_usage", eku},
          {"key_usage", policy::key_usage_names(p.key_usage_for(crypto::KeyAlgorithm::ec_p256))},
          {"key_usage_rsa", policy::key_usage_names(p.key_usage_for(crypto::KeyAlgorithm::rsa))},
          {"allowed_san_types", types},
          {"key_types", keys},
          {"default_ttl", format_duration(p.default_ttl)},
          {"max_ttl", format_duration(p.max_ttl)},
          {"require_spiffe", p.require_spiffe},
          {"acme", acme}};
}

Result<nlohmann::json> profiles_json(const Config& c) {
  SIGIL_TRY(auto profiles, c.effective_profiles());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : profiles.names()) out.push_back(profile_json(*profiles.find(name), c));
  return out;
}

}  // namespace sigil::service
