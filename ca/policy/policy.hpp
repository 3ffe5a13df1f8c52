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

// What one rule decided about one identifier or one request-wide check. Issuer::prepare answers
// the first refusal (its code and detail, as before these existed); `sigil policy explain`
// shows every decision, with the rule that made it.
struct Decision {
  bool allowed = true;
  std::string rule;                       // which rule decided: "policy.allowed_domains", "profile.server.max_ttl", ...
  std::string detail;                     // why, one line
  Errc code = Errc::rejected_identifier;  // what a refusal is answered as

  static Decision allow(std::string rule, std::string detail) { return {true, std::move(rule), std::move(detail)}; }
  static Decision refuse(Errc code, std::string rule, std::string detail) {
    return {false, std::move(rule), std::move(detail), code};
  }
  Status status() const { return allowed ? Status() : Status(make_error(code, detail)); }
};

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

  // Assumes `name` is normalised. The rule that allowed it, or refused it (rejected_identifier).
  Decision decide(const GeneralName& name) const;
  Status check(const GeneralName& name) const { return decide(name).status(); }
  Status validate() const;  // config sanity: suffix syntax, CIDR syntax, trust domain syntax
};

// Name constraints of the issuing CA (RFC 5280 §4.2.1.10), when it has them.
Decision decide_name_constraints(const crypto::NameConstraints& nc, const GeneralName& name);
inline Status check_name_constraints(const crypto::NameConstraints& nc, const GeneralName& name) {
  return decide_name_constraints(nc, name).status();
}

// The nameConstraints for an intermediate under `p`: it can certify what the policy allows plus
// `own_dns_names` (the CA's own identities: its server names, the admin identity), nothing else.
// A permitted subtree limits only its own name type, so a type the policy never allows is shut
// explicitly: IP families without a range get an excluded 0.0.0.0/0 or ::/0; URIs (no SPIFFE
// trust domain) and email (no domain) are permitted only under "invalid" (RFC 6761: never a
// real host), as URI and rfc822Name constraints have no "everything" form to exclude.
// Assumes p.validate() passed.
crypto::NameConstraints name_constraints_for(const IdentifierPolicy& p, const std::vector<std::string>& own_dns_names);

// RSA >= 2048 bits (<= 8192) with e = 65537; EC P-256/P-384; Ed25519. Rule "key_policy";
// a refusal is bad_public_key.
Decision decide_key(const crypto::PublicKey& key);
inline Status check_key(const crypto::PublicKey& key) { return decide_key(key).status(); }

// A certificate profile: data, built in (server, client, spiffe) or from sigil.json.
struct Profile {
  std::string name;
  std::vector<crypto::Eku> ext_key_usage;
  Seconds default_ttl{24 * 3600};
  Seconds max_ttl{24 * 3600};
  bool require_spiffe = false;  // exactly one spiffe:// URI SAN
  std::vector<GeneralName::Type> allowed_types;
  // Custom profiles: these keyUsage bits, those the key can have (keyEncipherment and
  // dataEncipherment on RSA keys, keyAgreement on EC keys); none: the built-in rule
  // (digitalSignature, plus keyEncipherment for RSA keys of serverAuth profiles).
  std::optional<std::uint32_t> key_usage;
  std::vector<crypto::KeyAlgorithm> key_types;  // empty: every key the key policy accepts
  bool acme = false;                            // offered over ACME (custom profiles)
  bool builtin = false;

  bool allows(GeneralName::Type t) const;
  // Key usage bits for a key of this algorithm under this profile.
  std::uint32_t key_usage_for(crypto::KeyAlgorithm key) const;
  // Rule "profile.<name>.allowed_san_types" (rejected_identifier).
  Decision decide_type(const GeneralName& name) const;
  // Rule "profile.<name>.key_types" (bad_public_key).
  Decision decide_key_type(crypto::KeyAlgorithm key) const;
  // Rule "profile.<name>.max_ttl" (policy_violation).
  Decision decide_ttl(Seconds ttl) const;
  // Rule "profile.<name>.require_spiffe" on the approved names (rejected_identifier).
  Decision decide_spiffe(const std::vector<GeneralName>& names) const;
};

// The names sigil.json and `sigil profile list` use for a profile's data, and back.
Result<crypto::Eku> parse_eku(std::string_view name);  // serverAuth, clientAuth
std::string_view eku_name(crypto::Eku e);
Result<std::uint32_t> parse_key_usage(std::string_view name);  // digitalSignature, keyEncipherment, ...
std::vector<std::string> key_usage_names(std::uint32_t bits);
Result<GeneralName::Type> parse_san_type(std::string_view name);  // dns, ip, uri, email
std::string_view san_type_name(GeneralName::Type t);
Result<crypto::KeyAlgorithm> parse_key_algorithm(std::string_view name);  // ec-p256, ec-p384, ed25519, rsa

// No profile may be configured longer than this (the CA/B Forum's 398 days for server
// certificates is the outer bound any relying party still accepts).
inline constexpr Seconds kHardMaxTtl{398 * 86400};

class Profiles {
 public:
  static Profiles defaults();  // server, client, spiffe
  const Profile* find(std::string_view name) const;
  // Overrides TTLs of a known profile; refuses unknown profiles and TTLs past kHardMaxTtl.
  Status set_ttls(std::string_view name, std::optional<Seconds> default_ttl, std::optional<Seconds> max_ttl);
  // A custom profile. Refused: a name taken (a built-in is overridden through set_ttls only) or
  // not [a-z0-9-]{1,32}, "ocsp-responder" (what the responder certificates are recorded as), no
  // EKU or SAN type, CA key usages, TTLs outside 1s..kHardMaxTtl or default > max, require_spiffe
  // without URI SANs, ACME without DNS or IP SANs or with require_spiffe.
  Status add(Profile p);
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
