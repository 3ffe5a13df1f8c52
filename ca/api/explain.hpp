#pragma once
// Policy explain: every decision issuance would make on a request, and the rule behind each,
// without issuing anything. The same checks as Issuer::prepare (Issuer::assess) and the REST
// create handler's role rule (authz::Policy::decide_issue): one policy, one decision.
// POST /api/v1/policy/explain and `sigil policy explain` answer with explain_request's JSON:
//   {"allowed", "profile", "ttl_seconds", "identity",
//    "identifiers": [{"identifier", "allowed", "rule", "detail", "decisions": [{rule, allowed, detail}]}],
//    "checks": [{"check", "allowed", "rule", "detail"}]}
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ca/api/api.hpp"

namespace sigil::api {

struct ExplainRequest {
  std::string csr;      // PEM or DER
  std::string profile;  // "" = "server", as for POST /api/v1/certificates
  std::optional<Seconds> ttl;
  // The caller the role rules apply to; none: only the CA-wide rules (the answer says so).
  std::optional<authz::Identity> identity;
};

// An error only where issuance would stop before any rule applies (a CSR that does not parse or
// verify, an unknown profile, a TTL that is not positive): a 400 problem, exit 3.
Result<nlohmann::json> explain_request(const issuer::Issuer& issuer, const authz::Policy& roles,
                                       const ExplainRequest& req);

// A caller identity as written: "dns:x", "uri:spiffe://td/p", "cn:name"; unprefixed, a value
// with "://" is a SPIFFE ID, anything else a DNS name.
Result<authz::Identity> parse_identity(std::string_view text);

// One line for the audit log: "allowed" or "refused: <what> by <rule>; ...".
std::string explain_summary(const nlohmann::json& explained);

// POST /api/v1/policy/explain (route action "explain": admin and issuer roles). An issuer
// explains for itself; an admin may name another identity. One audit row, nothing else stored.
http::Handler explain_handler(Deps& deps);

}  // namespace sigil::api
