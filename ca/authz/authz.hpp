#pragma once
// Authorization, kept apart from authentication: the TLS layer verified the caller's
// certificate; this module turns it into an identity, the identity into a role, and the role
// into a yes or no for one action.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/crypto/x509.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::authz {

struct Identity {
  enum class Kind { spiffe, dns, common_name };
  Kind kind = Kind::dns;
  std::string value;
};
// SPIFFE URI SAN, else the first DNS SAN, else the subject CN.
Result<Identity> identity_of(const crypto::Certificate& cert);

// viewer: reads everything an admin reads (certificates, hierarchy, stats, audit log, ACME
// accounts), the web console included, and changes nothing; it never sees a secret.
enum class Role { admin, issuer, renew_self, viewer };
const char* role_name(Role r);
Result<Role> parse_role(std::string_view s);

// Patterns are typed: "dns:", "uri:" or "cn:" for identities, "dns:", "ip:", "uri:" or "email:"
// for identifiers, each matching names of its type only. An unprefixed pattern is typed by its
// shape: containing "://" a URI, '@' an email address, else a host (DNS name or IP address; for
// identities a DNS SAN or the CN), so "*.svc.corp.example" never matches an email address.
struct Rule {
  std::string identity;  // exact, or "*" standing for one segment
  Role role = Role::renew_self;
  std::vector<std::string> identifiers;  // issuer: patterns for the names it may request
  std::vector<std::string> profiles;     // issuer: allowed profiles (empty: any)
  std::optional<Seconds> max_ttl;        // issuer: cap below the profile's maximum
};

// read: admin and viewer; revoke and administer (EAB keys, deactivations): admin only;
// explain: admin and issuer (policy explain).
enum class Action { read, revoke, renew_self, metrics, administer, explain };

// "*" matches one non-empty segment (no '.', '/' or '@'); everything else matches itself.
bool pattern_match(std::string_view pattern, std::string_view value);
// Typed matching (see Rule): an identity pattern against the caller, an identifier pattern
// against a requested name ("dns:x", "ip:y", "uri:z", "email:w").
bool identity_matches(std::string_view pattern, const Identity& id);
// Refuses an identity pattern no caller identity can ever match ("email:..." or "ip:...": a
// caller is named by a SPIFFE URI, a DNS SAN or its subject CN), so a typo in a rule is an error
// at load instead of a rule that silently never applies.
Status check_identity_pattern(std::string_view pattern);
bool identifier_matches(std::string_view pattern, std::string_view name);

// What the caller's role rule decides about a request (may_issue answers its first refusal):
// which rule applies and its role, its profiles, its max_ttl, and its identifier patterns.
struct IssueDecisions {
  policy::Decision role;  // "authorization[i]": the first rule matching the identity
  policy::Decision profile, ttl;
  std::vector<policy::Decision> names;  // one per name, in order; empty once `role` refuses
};

class Policy {
 public:
  explicit Policy(std::vector<Rule> rules) : rules_(std::move(rules)) {}
  // The first rule whose identity pattern matches.
  const Rule* rule_for(const Identity& id) const;
  // Errc::forbidden with the reason, or ok.
  Status may(const Identity& id, Action action) const;
  // `names` as "dns:x", "ip:y", "uri:z", "email:w" (the issuer's approved identifiers).
  Status may_issue(const Identity& id, const std::vector<std::string>& names, const std::string& profile,
                   Seconds ttl) const;
  IssueDecisions decide_issue(const Identity& id, const std::vector<std::string>& names, const std::string& profile,
                              Seconds ttl) const;

 private:
  std::vector<Rule> rules_;
};

}  // namespace sigil::authz
