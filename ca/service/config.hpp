#pragma once
// sigil.json, parsed once into typed structs. Unknown keys are refused; every error names its key.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "acme/va/va.hpp"
#include "ca/authz/authz.hpp"
#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::service {

struct AuthorizationRule {
  std::string identity;                  // exact, or with "*" segments
  std::string role;                      // admin | issuer | renew-self | viewer
  std::vector<std::string> identifiers;  // issuer: allowed identifier patterns
  std::vector<std::string> profiles;     // issuer: allowed profiles
  std::string max_ttl;                   // issuer: "" means the profile's maximum
};

// sigil.json "profiles": {"NAME": {...}}. A built-in name (server, client, spiffe) takes
// default_ttl and max_ttl only (the one override of a built-in profile); any other name defines
// a custom profile, used by the issuer exactly as a built-in one.
struct ProfileConfig {
  std::string name;
  std::string default_ttl;  // custom: "" = the lesser of 24h and max_ttl
  std::string max_ttl;      // custom: required
  bool custom = false;
  std::vector<std::string> ext_key_usage{};      // serverAuth, clientAuth (required)
  std::vector<std::string> key_usage{};          // digitalSignature, keyEncipherment, ...; empty: as built-ins
  std::vector<std::string> allowed_san_types{};  // dns, ip, uri, email (required)
  std::vector<std::string> key_types{};          // ec-p256, ec-p384, ed25519, rsa; empty: any
  bool require_spiffe = false;
  bool acme = false;  // offered over ACME (added to acme.profiles)
};

struct ListenerAddresses {
  std::string api = "127.0.0.1:9443";
  std::string acme = "127.0.0.1:8443";
  std::string public_ = "127.0.0.1:8080";
};

struct TlsOptions {
  Seconds client_skew{60};         // notBefore of client certificates may be this far ahead
  Seconds server_cert_ttl{86400};  // the server's own certificate, renewed at 2/3 of it
  bool acme_allow_tls12 = false;   // TLS 1.2 (ECDHE+AEAD only) on the acme listener
  // An api connection older than this is closed after its current response, so a revoked or
  // expired client certificate loses its open keep-alive connections within about this long.
  Seconds max_connection_age{300};
  // PEM files (relative to the home) of root CAs whose client certificates the listeners also
  // accept, besides Sigil's own roots (e.g. a corporate CA's device certificates). Sigil holds
  // no revocation data for those: they pass on their verified chain, and authorization decides.
  std::vector<std::string> client_trust_anchors;
};

struct LimitOptions {
  std::int64_t max_body = 1 << 20;
  std::int64_t max_header = 16 << 10;
  Seconds request_timeout{10};
  std::int64_t max_connections_per_address = 256;
};

struct RevocationOptions {
  Seconds crl_validity{86400};        // CRL nextUpdate - thisUpdate
  Seconds ocsp_validity{3600};        // OCSP response nextUpdate - thisUpdate
  Seconds ocsp_responder_ttl{86400};  // delegated responder certificate
  bool ocsp_sign_with_intermediate = false;
  std::int64_t crl_shards = 1;    // 1: one CRL per issuer; N > 1: new certificates spread over N shard CRLs
  Seconds delta_crl_interval{0};  // delta CRLs this often (and after revocations); 0: none
  // OCSP responses held in memory per intermediate (about 1 KB each): pre-signed up to this
  // many, the rest signed when asked (revocation::OcspOptions::max_cached).
  std::int64_t ocsp_cache_entries = 100000;
};

struct AcmeValidationOptions {
  std::string dns_resolver;  // "127.0.0.1:8053"; empty: the servers of /etc/resolv.conf
  std::int64_t http01_port = 80;
  std::int64_t tlsalpn01_port = 443;
  Seconds timeout{10};
  std::int64_t concurrency = 16;
  // Addresses the validation authority never contacts (CIDR); the VA's defaults (loopback
  // included) when absent.
  std::vector<std::string> forbidden_ranges = acme::va::kDefaultForbiddenRanges;
};

struct AcmeOptions {
  bool eab_required = false;
  std::string terms_of_service;  // URL; when set, accounts must agree to it
  std::string website;
  // Offered; the first is the default. Only "server" by default: a client certificate for a name
  // whose identity has a role in `authorization` would be an escalation for whoever controls DNS.
  std::vector<std::string> profiles = {"server"};
  Seconds order_lifetime{86400};
  Seconds authorization_lifetime{86400};  // a valid authorization stays usable this long
  std::int64_t new_orders_per_account_per_hour = 1000;
  std::int64_t failed_validations_per_identifier_per_hour = 60;
  std::int64_t new_accounts_per_address_per_hour = 300;
  AcmeValidationOptions validation;
};

// "postgresql://..." or "postgres://...": the database is PostgreSQL (else a SQLite file).
bool is_postgres_url(std::string_view database);

struct Config {
  std::string name = "Example Internal CA";
  std::string public_url = "http://localhost:8080";
  // The SQLite file (relative to the home) or a postgresql:// URL (libpq, multi-host included).
  std::string database = "sigil.db";
  // PostgreSQL: a file holding the password (relative to the home). The URL itself never
  // carries one (sigil.json is readable by more than the CA's operators).
  std::string database_password_file;
  std::string key_type = "ec-p256";  // for keys Sigil makes
  std::vector<std::string> server_dns = {"localhost"};
  policy::IdentifierPolicy policy;
  Seconds backdate{5 * 60};
  std::vector<ProfileConfig> profiles;  // overrides of the built-ins, and custom profiles
  std::vector<AuthorizationRule> authorization;
  ListenerAddresses listeners;
  TlsOptions tls;
  LimitOptions limits;
  RevocationOptions revocation;
  AcmeOptions acme;

  // The effective profiles (built-ins with their overrides, and the custom ones), validated;
  // every error names its key.
  Result<policy::Profiles> effective_profiles() const;
};

// The role rules of `authorization`, as the api listener applies them (and policy explain).
Result<std::shared_ptr<const authz::Policy>> authz_policy(const Config& c);

Result<Config> parse_config(std::string_view json_text);
std::string to_json(const Config& c);  // pretty, stable key order
Result<Config> load_config(const std::filesystem::path& file);

}  // namespace sigil::service
