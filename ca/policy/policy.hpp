#pragma once
// What may be certified: identifier policy, key policy, certificate profiles (data, not code
// paths). Shared by the REST API, the CLI and ACME: there is one identifier policy.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/crypto/x509.hpp"

namespace sigil::policy {

using crypto::GeneralName;

// Normalises (lower-cases DNS names and email domains, canonical IP text) and checks syntax.
Result<GeneralName> normalize(const GeneralName& name);
bool is_valid_dns_name(std::string_view name, bool allow_wildcard);
Status check_spiffe_id(std::string_view uri, std::string_view trust_domain);

struct IdentifierPolicy {
  std::vector<std::string> dns_names;     // exact names (the server's own)
  std::vector<std::string> dns_suffixes;  // "corp.example": the name itself and every subdomain
  std::vector<std::string> ip_ranges;     // CIDR, e.g. "10.0.0.0/8", "fd00::/8"
  std::string spiffe_trust_domain;        // empty: no URI SANs at all
  bool allow_wildcards = true;            // "*.svc.corp.example" when the suffix is allowed

  // Assumes `name` is normalised. Errc::rejected_identifier with the reason.
  Status check(const GeneralName& name) const;
  Status validate() const;  // config sanity: suffix syntax, CIDR syntax, trust domain syntax
};

// Name constraints of the issuing CA (RFC 5280 §4.2.1.10), when it has them.
Status check_name_constraints(const crypto::NameConstraints& nc, const GeneralName& name);

// The nameConstraints for an intermediate under `p`: it can certify what the policy allows plus
// `own_dns_names` (the CA's own identities: its server names, the admin identity), nothing else.
// A permitted subtree limits only its own name type, so a type the policy never allows is shut
// explicitly: IP families without a range get an excluded 0.0.0.0/0 or ::/0; URIs (no SPIFFE
// trust domain) and email (no domain) are permitted only under "invalid" (RFC 6761: never a
// real host), as URI and rfc822Name constraints have no "everything" form to exclude.
// Assumes p.validate() passed.
crypto::NameConstraints name_constraints_for(const IdentifierPolicy& p, const std::vector<std::string>& own_dns_names);

// RSA >= 2048 bits (<= 8192) with e = 65537; EC P-256/P-384; Ed25519.
Status check_key(const crypto::PublicKey& key);

// A certificate profile.
struct Profile {
  std::string name;
  std::vector<crypto::Eku> ext_key_usage;
  Seconds default_ttl{24 * 3600};
  Seconds max_ttl{24 * 3600};
  bool require_spiffe = false;  // exactly one spiffe:// URI SAN
  std::vector<GeneralName::Type> allowed_types;

  bool allows(GeneralName::Type t) const;
  // Key usage bits for a key of this algorithm under this profile.
  std::uint32_t key_usage_for(crypto::KeyAlgorithm key) const;
};

// No profile may be configured longer than this (the CA/B Forum's 398 days for server
// certificates is the outer bound any relying party still accepts).
inline constexpr Seconds kHardMaxTtl{398 * 86400};

class Profiles {
 public:
  static Profiles defaults();  // server, client, spiffe
  const Profile* find(std::string_view name) const;
  // Overrides TTLs of a known profile; refuses unknown profiles and TTLs past kHardMaxTtl.
  Status set_ttls(std::string_view name, std::optional<Seconds> default_ttl, std::optional<Seconds> max_ttl);
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Profile, std::less<>> profiles_;
};

// When a certificate should be renewed (one definition: the server's, the OCSP responder's, ACME
// renewalInfo and `sigil renew`): from two thirds to three quarters of its lifetime. A revoked
// certificate (or one flagged for replacement) should be replaced now: the window lies in the past.
struct RenewalWindow {
  TimePoint start, end;
};
RenewalWindow renewal_window(TimePoint not_before, TimePoint not_after);
RenewalWindow renew_now(TimePoint now);

}  // namespace sigil::policy
