#pragma once
// Policy explain and the profile list on the CA host (`sigil policy explain`, `sigil profile
// list`): the home's issuer, profiles and role rules, no server needed. The decisions are
// api::explain_request's, the very ones POST /api/v1/policy/explain answers with.
#include <nlohmann/json.hpp>
#include <string>

#include "ca/policy/policy.hpp"
#include "ca/service/config.hpp"

namespace sigil::service {

struct ExplainOptions {
  std::string csr;       // PEM or DER
  std::string profile;   // "" = server
  std::string identity;  // "dns:x", "uri:spiffe://...", "cn:x"; "" = CA-wide rules only
  std::string ttl;       // "" = the profile's default
  std::string actor;     // who asks, for the audit row
};

// Appends one audit row (policy-explain); issues and stores nothing else.
Result<nlohmann::json> explain_local(const std::string& home, const ExplainOptions& o);

// One profile as `sigil profile list --json` shows it: name, builtin, ext_key_usage, key_usage
// (non-RSA keys) and key_usage_rsa, allowed_san_types, key_types ([] = any), default_ttl,
// max_ttl, require_spiffe, acme (offered over ACME by this configuration).
nlohmann::json profile_json(const policy::Profile& p, const Config& c);
// Every effective profile (built-in and custom), by name.
Result<nlohmann::json> profiles_json(const Config& c);

}  // namespace sigil::service
