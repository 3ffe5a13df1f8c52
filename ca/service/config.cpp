#include "ca/service/config.hpp"

#include <nlohmann/json.hpp>

#include "ca/authz/authz.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/file.hpp"
#include "ca/issuer/issuer.hpp"

namespace sigil::service {
namespace {
using nlohmann::json;

Error key_error(const std::string& key, const std::string& what) {
  return make_error(Errc::invalid_argument, "sigil.json: " + key + ": " + what);
}

Status only_keys(const json& obj, const std::string& where, std::initializer_list<std::string_view> allowed) {
  if (!obj.is_object()) return key_error(where.empty() ? "(top level)" : where, "must be an object");
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k == a;
    if (!ok) return key_error(where.empty() ? k : where + "." + k, "unknown key");
  }
  return {};
}

Status get_string(const json& obj, const std::string& where, const char* key, std::string& out) {
  if (!obj.contains(key)) return {};
  if (!obj[key].is_string()) return key_error(where + key, "must be a string");
  out = obj[key].get<std::string>();
  return {};
}

Status get_strings(const json& obj, const std::string& where, const char* key, std::vector<std::string>& out) {
  if (!obj.contains(key)) return {};
  const json& a = obj[key];
  if (!a.is_array()) return key_error(where + key, "must be an array of strings");
  out.clear();
  for (const auto& v : a) {
    if (!v.is_string()) return key_error(where + key, "must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return {};
}

Status get_duration(const json& obj, const std::string& where, const char* key, Seconds& out) {
  std::string text;
  SIGIL_TRY_STATUS(get_string(obj, where, key, text));
  if (text.empty()) return {};
  auto d = parse_duration(text);
  if (!d) return key_error(where + key, d.error().detail);
  out = *d;
  return {};
}

Status get_bool(const json& obj, const std::string& where, const char* key, bool& out) {
  if (!obj.contains(key)) return {};
  if (!obj[key].is_boolean()) return key_error(where + key, "must be true or false");
  out = obj[key].get<bool>();
  return {};
}

Status get_int(const json& obj, const std::string& where, const char* key, std::int64_t& out, std::int64_t lo,
               std::int64_t hi) {
  if (!obj.contains(key)) return {};
  if (!obj[key].is_number_integer() || obj[key].get<std::int64_t>() < lo || obj[key].get<std::int64_t>() > hi)
    return key_error(where + key, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  out = obj[key].get<std::int64_t>();
  return {};
}

Status parse_acme(const json& a, AcmeOptions& o) {
  SIGIL_TRY_STATUS(only_keys(a, "acme",
                             {"eab_required", "terms_of_service", "website", "profiles", "order_lifetime",
                              "authorization_lifetime", "rate_limits", "validation"}));
  SIGIL_TRY_STATUS(get_bool(a, "acme.", "eab_required", o.eab_required));
  SIGIL_TRY_STATUS(get_string(a, "acme.", "terms_of_service", o.terms_of_service));
  SIGIL_TRY_STATUS(get_string(a, "acme.", "website", o.website));
  SIGIL_TRY_STATUS(get_strings(a, "acme.", "profiles", o.profiles));
  if (o.profiles.empty()) return key_error("acme.profiles", "must offer at least one profile");
  SIGIL_TRY_STATUS(get_duration(a, "acme.", "order_lifetime", o.order_lifetime));
  SIGIL_TRY_STATUS(get_duration(a, "acme.", "authorization_lifetime", o.authorization_lifetime));
  if (o.order_lifetime < Seconds(60) || o.authorization_lifetime < Seconds(60))
    return key_error("acme.order_lifetime", "order and authorization lifetimes must be at least 1m");
  if (a.contains("rate_limits")) {
    const json& r = a["rate_limits"];
    SIGIL_TRY_STATUS(only_keys(r, "acme.rate_limits",
                               {"new_orders_per_account_per_hour", "failed_validations_per_identifier_per_hour",
                                "new_accounts_per_address_per_hour"}));
    const std::int64_t max = std::int64_t(1) << 40;
    SIGIL_TRY_STATUS(
        get_int(r, "acme.rate_limits.", "new_orders_per_account_per_hour", o.new_orders_per_account_per_hour, 1, max));
    SIGIL_TRY_STATUS(get_int(r, "acme.rate_limits.", "failed_validations_per_identifier_per_hour",
                             o.failed_validations_per_identifier_per_hour, 1, max));
    SIGIL_TRY_STATUS(get_int(r, "acme.rate_limits.", "new_accounts_per_address_per_hour",
                             o.new_accounts_per_address_per_hour, 1, max));
  }
  if (a.contains("validation")) {
    const json& v = a["validation"];
    SIGIL_TRY_STATUS(
        only_keys(v, "acme.validation",
                  {"dns_resolver", "http01_port", "tlsalpn01_port", "timeout", "concurrency", "forbidden_ranges"}));
    SIGIL_TRY_STATUS(get_string(v, "acme.validation.", "dns_resolver", o.validation.dns_resolver));
    SIGIL_TRY_STATUS(get_int(v, "acme.validation.", "http01_port", o.validation.http01_port, 1, 65535));
    SIGIL_TRY_STATUS(get_int(v, "acme.validation.", "tlsalpn01_port", o.validation.tlsalpn01_port, 1, 65535));
    SIGIL_TRY_STATUS(get_duration(v, "acme.validation.", "timeout", o.validation.timeout));
    SIGIL_TRY_STATUS(get_int(v, "acme.validation.", "concurrency", o.validation.concurrency, 1, 1024));
    SIGIL_TRY_STATUS(get_strings(v, "acme.validation.", "forbidden_ranges", o.validation.forbidden_ranges));
    if (o.validation.timeout < Seconds(1) || o.validation.timeout > Seconds(300))
      return key_error("acme.validation.timeout", "must be between 1s and 5m");
  }
  return {};
}

}  // namespace

namespace {
// Names in `names` through `parse` into `out`, an error naming the key and the bad name.
template <class T, class Parse>
Status parse_names(const std::vector<std::string>& names, const std::string& key, Parse parse, std::vector<T>& out) {
  for (const auto& n : names) {
    auto v = parse(n);
    if (!v) return key_error(key, v.error().detail);
    if (std::find(out.begin(), out.end(), *v) == out.end()) out.push_back(*v);
  }
  return {};
}

Result<policy::Profile> custom_profile(const ProfileConfig& c) {
  const std::string where = "profiles." + c.name;
  policy::Profile p;
  p.name = c.name;
  if (c.ext_key_usage.empty()) return key_error(where + ".ext_key_usage", "required for a custom profile");
  if (c.allowed_san_types.empty()) return key_error(where + ".allowed_san_types", "required for a custom profile");
  if (c.max_ttl.empty()) return key_error(where + ".max_ttl", "required for a custom profile");
  SIGIL_TRY_STATUS(parse_names(c.ext_key_usage, where + ".ext_key_usage", policy::parse_eku, p.ext_key_usage));
  SIGIL_TRY_STATUS(
      parse_names(c.allowed_san_types, where + ".allowed_san_types", policy::parse_san_type, p.allowed_types));
  SIGIL_TRY_STATUS(parse_names(c.key_types, where + ".key_types", policy::parse_key_algorithm, p.key_types));
  if (!c.key_usage.empty()) {
    std::vector<std::uint32_t> bits;
    SIGIL_TRY_STATUS(parse_names(c.key_usage, where + ".key_usage", policy::parse_key_usage, bits));
    p.key_usage = 0;
    for (auto b : bits) *p.key_usage |= b;
  }
  auto max = parse_duration(c.max_ttl);
  if (!max) return key_error(where + ".max_ttl", max.error().detail);
  p.max_ttl = *max;
  p.default_ttl = std::min(Seconds(86400), p.max_ttl);
  if (!c.default_ttl.empty()) {
    auto def = parse_duration(c.default_ttl);
    if (!def) return key_error(where + ".default_ttl", def.error().detail);
    p.default_ttl = *def;
  }
  p.require_spiffe = c.require_spiffe;
  p.acme = c.acme;
  return p;
}
// ACME offers server and client if listed, and every custom profile marked "acme": true (listed
// or not, after the listed ones). Never spiffe (an ACME order names no URI), nor a custom
// profile not marked for it.
Status offer_acme_profiles(const policy::Profiles& profiles, AcmeOptions& o) {
  for (const auto& name : o.profiles) {
    const policy::Profile* p = profiles.find(name);
    if (!p) return key_error("acme.profiles", "unknown profile '" + name + "'");
    if (p->builtin ? name != "server" && name != "client" : !p->acme)
      return key_error("acme.profiles", "'" + name + "' cannot be offered over ACME" +
                                            (p->builtin ? "" : " (its profile is not marked \"acme\": true)"));
  }
  for (const auto& name : profiles.names())
    if (profiles.find(name)->acme && std::find(o.profiles.begin(), o.profiles.end(), name) == o.profiles.end())
      o.profiles.push_back(name);
  return {};
}

}  // namespace

Result<policy::Profiles> Config::effective_profiles() const {
  policy::Profiles p = policy::Profiles::defaults();
  for (const auto& o : profiles) {
    if (o.custom) {
      SIGIL_TRY(auto custom, custom_profile(o));
      if (auto s = p.add(std::move(custom)); !s) return key_error("profiles." + o.name, s.error().detail);
      continue;
    }
    std::optional<Seconds> def, max;
    if (!o.default_ttl.empty()) {
      SIGIL_TRY(def, parse_duration(o.default_ttl));
    }
    if (!o.max_ttl.empty()) {
      SIGIL_TRY(max, parse_duration(o.max_ttl));
    }
    if (auto s = p.set_ttls(o.name, def, max); !s) return key_error("profiles." + o.name, s.error().detail);
  }
  return p;
}

Result<std::shared_ptr<const authz::Policy>> authz_policy(const Config& c) {
  std::vector<authz::Rule> rules;
  for (const auto& r : c.authorization) {
    authz::Rule rule;
    rule.identity = r.identity;
    SIGIL_TRY(rule.role, authz::parse_role(r.role));
    rule.identifiers = r.identifiers;
    rule.profiles = r.profiles;
    if (!r.max_ttl.empty()) {
      SIGIL_TRY(rule.max_ttl, parse_duration(r.max_ttl));
    }
    rules.push_back(std::move(rule));
  }
  return std::make_shared<const authz::Policy>(std::move(rules));
}

bool is_postgres_url(std::string_view database) {
  return database.rfind("postgresql://", 0) == 0 || database.rfind("postgres://", 0) == 0;
}

namespace {
// A PostgreSQL URL names where, never the secret: no password in its userinfo or its query.
Status check_database(const Config& c) {
  if (!is_postgres_url(c.database)) {
    if (!c.database_password_file.empty())
      return key_error("database_password_file", "applies only to a postgresql:// database");
    if (c.database.find("://") != std::string::npos)
      return key_error("database", "must be a SQLite file path or a postgresql:// URL");
    return {};
  }
  const std::string_view url = c.database;
  const std::size_t scheme_end = url.find("://") + 3;
  const std::size_t authority_end = url.find_first_of("/?", scheme_end);
  const std::string_view authority = url.substr(scheme_end, authority_end - scheme_end);
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos && authority.substr(0, at).find(':') != std::string_view::npos)
    return key_error("database", "must not contain a password: name a file in database_password_file");
  const std::size_t query = url.find('?');
  if (query != std::string_view::npos) {
    const std::string_view q = url.substr(query + 1);
    for (std::size_t i = 0; i <= q.size();) {
      const std::size_t amp = std::min(q.find('&', i), q.size());
      if (q.substr(i, amp - i).rfind("password=", 0) == 0)
        return key_error("database", "must not contain a password: name a file in database_password_file");
      i = amp + 1;
    }
  }
  return {};
}
}  // namespace

Result<Config> parse_config(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(Errc::malformed, "sigil.json: not valid JSON");
  Config c;
  SIGIL_TRY_STATUS(
      only_keys(j, "",
                {"name", "public_url", "database", "database_password_file", "key_type", "server", "policy", "issuance",
                 "profiles", "authorization", "listeners", "tls", "limits", "revocation", "acme"}));
  SIGIL_TRY_STATUS(get_string(j, "", "name", c.name));
  SIGIL_TRY_STATUS(get_string(j, "", "public_url", c.public_url));
  SIGIL_TRY_STATUS(get_string(j, "", "database", c.database));
  SIGIL_TRY_STATUS(get_string(j, "", "key_type", c.key_type));
  if (c.public_url.rfind("http://", 0) != 0 && c.public_url.rfind("https://", 0) != 0)
    return key_error("public_url", "must start with http:// or https://");
  if (c.database.empty()) return key_error("database", "must not be empty");
  SIGIL_TRY_STATUS(get_string(j, "", "database_password_file", c.database_password_file));
  SIGIL_TRY_STATUS(check_database(c));
  if (j.contains("server")) {
    SIGIL_TRY_STATUS(only_keys(j["server"], "server", {"dns"}));
    SIGIL_TRY_STATUS(get_strings(j["server"], "server.", "dns", c.server_dns));
    // The server's certificate names them, and printed URLs use the first one.
    if (c.server_dns.empty()) return key_error("server.dns", "must name at least one DNS name");
  }
  if (j.contains("policy")) {
    const json& p = j["policy"];
    SIGIL_TRY_STATUS(only_keys(
        p, "policy", {"dns_names", "allowed_domains", "allowed_ip_ranges", "spiffe_trust_domain", "allow_wildcards"}));
    SIGIL_TRY_STATUS(get_strings(p, "policy.", "dns_names", c.policy.dns_names));
    SIGIL_TRY_STATUS(get_strings(p, "policy.", "allowed_domains", c.policy.dns_suffixes));
    SIGIL_TRY_STATUS(get_strings(p, "policy.", "allowed_ip_ranges", c.policy.ip_ranges));
    SIGIL_TRY_STATUS(get_string(p, "policy.", "spiffe_trust_domain", c.policy.spiffe_trust_domain));
    if (p.contains("allow_wildcards")) {
      if (!p["allow_wildcards"].is_boolean()) return key_error("policy.allow_wildcards", "must be true or false");
      c.policy.allow_wildcards = p["allow_wildcards"].get<bool>();
    }
    if (auto v = c.policy.validate(); !v) return key_error("policy", v.error().detail);
  }
  if (j.contains("issuance")) {
    SIGIL_TRY_STATUS(only_keys(j["issuance"], "issuance", {"backdate"}));
    SIGIL_TRY_STATUS(get_duration(j["issuance"], "issuance.", "backdate", c.backdate));
    if (c.backdate > Seconds(86400)) return key_error("issuance.backdate", "must be at most 1d");
  }
  if (j.contains("profiles")) {
    const json& ps = j["profiles"];
    if (!ps.is_object()) return key_error("profiles", "must be an object");
    const policy::Profiles builtins = policy::Profiles::defaults();
    for (const auto& [name, v] : ps.items()) {
      const std::string where = "profiles." + name, w = where + ".";
      ProfileConfig t;
      t.name = name;
      t.custom = builtins.find(name) == nullptr;
      if (!t.custom && v.is_object())
        for (const auto& [k, unused] : v.items())
          if (k != "default_ttl" && k != "max_ttl")
            return key_error(where + "." + k,
                             "a built-in profile takes default_ttl and max_ttl only (a custom profile needs its own "
                             "name)");
      SIGIL_TRY_STATUS(only_keys(v, where,
                                 {"default_ttl", "max_ttl", "ext_key_usage", "key_usage", "allowed_san_types",
                                  "key_types", "require_spiffe", "acme"}));
      SIGIL_TRY_STATUS(get_string(v, w, "default_ttl", t.default_ttl));
      SIGIL_TRY_STATUS(get_string(v, w, "max_ttl", t.max_ttl));
      SIGIL_TRY_STATUS(get_strings(v, w, "ext_key_usage", t.ext_key_usage));
      SIGIL_TRY_STATUS(get_strings(v, w, "key_usage", t.key_usage));
      SIGIL_TRY_STATUS(get_strings(v, w, "allowed_san_types", t.allowed_san_types));
      SIGIL_TRY_STATUS(get_strings(v, w, "key_types", t.key_types));
      SIGIL_TRY_STATUS(get_bool(v, w, "require_spiffe", t.require_spiffe));
      SIGIL_TRY_STATUS(get_bool(v, w, "acme", t.acme));
      c.profiles.push_back(t);
    }
  }
  SIGIL_TRY(const policy::Profiles effective, c.effective_profiles());
  if (j.contains("authorization")) {
    const json& a = j["authorization"];
    if (!a.is_array()) return key_error("authorization", "must be an array");
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string where = "authorization[" + std::to_string(i) + "]";
      SIGIL_TRY_STATUS(only_keys(a[i], where, {"identity", "role", "identifiers", "profiles", "max_ttl"}));
      AuthorizationRule r;
      SIGIL_TRY_STATUS(get_string(a[i], where + ".", "identity", r.identity));
      SIGIL_TRY_STATUS(get_string(a[i], where + ".", "role", r.role));
      SIGIL_TRY_STATUS(get_strings(a[i], where + ".", "identifiers", r.identifiers));
      SIGIL_TRY_STATUS(get_strings(a[i], where + ".", "profiles", r.profiles));
      SIGIL_TRY_STATUS(get_string(a[i], where + ".", "max_ttl", r.max_ttl));
      if (r.identity.empty()) return key_error(where + ".identity", "must not be empty");
      if (auto st = authz::check_identity_pattern(r.identity); !st)
        return key_error(where + ".identity", st.error().detail);
      if (!authz::parse_role(r.role)) return key_error(where + ".role", "must be admin, issuer, renew-self or viewer");
      if (!r.max_ttl.empty() && !parse_duration(r.max_ttl)) return key_error(where + ".max_ttl", "invalid duration");
      c.authorization.push_back(std::move(r));
    }
  }
  if (j.contains("listeners")) {
    SIGIL_TRY_STATUS(only_keys(j["listeners"], "listeners", {"api", "acme", "public"}));
    SIGIL_TRY_STATUS(get_string(j["listeners"], "listeners.", "api", c.listeners.api));
    SIGIL_TRY_STATUS(get_string(j["listeners"], "listeners.", "acme", c.listeners.acme));
    SIGIL_TRY_STATUS(get_string(j["listeners"], "listeners.", "public", c.listeners.public_));
  }
  if (j.contains("tls")) {
    const json& t = j["tls"];
    SIGIL_TRY_STATUS(only_keys(
        t, "tls",
        {"client_skew", "server_cert_ttl", "acme_allow_tls12", "client_trust_anchors", "max_connection_age"}));
    SIGIL_TRY_STATUS(get_strings(t, "tls.", "client_trust_anchors", c.tls.client_trust_anchors));
    for (const auto& f : c.tls.client_trust_anchors)
      if (f.empty()) return key_error("tls.client_trust_anchors", "a file name must not be empty");
    SIGIL_TRY_STATUS(get_duration(t, "tls.", "client_skew", c.tls.client_skew));
    SIGIL_TRY_STATUS(get_duration(t, "tls.", "server_cert_ttl", c.tls.server_cert_ttl));
    SIGIL_TRY_STATUS(get_duration(t, "tls.", "max_connection_age", c.tls.max_connection_age));
    if (t.contains("acme_allow_tls12")) {
      if (!t["acme_allow_tls12"].is_boolean()) return key_error("tls.acme_allow_tls12", "must be true or false");
      c.tls.acme_allow_tls12 = t["acme_allow_tls12"].get<bool>();
    }
    if (c.tls.client_skew > Seconds(3600)) return key_error("tls.client_skew", "must be at most 1h");
    if (c.tls.server_cert_ttl < Seconds(10)) return key_error("tls.server_cert_ttl", "must be at least 10s");
    if (c.tls.max_connection_age < Seconds(1) || c.tls.max_connection_age > Seconds(86400))
      return key_error("tls.max_connection_age", "must be between 1s and 24h");
  }
  if (j.contains("limits")) {
    const json& l = j["limits"];
    SIGIL_TRY_STATUS(
        only_keys(l, "limits", {"max_body", "max_header", "request_timeout", "max_connections_per_address"}));
    auto number = [&](const char* key, std::int64_t& out, std::int64_t lo, std::int64_t hi) -> Status {
      if (!l.contains(key)) return {};
      if (!l[key].is_number_integer() || l[key].get<std::int64_t>() < lo || l[key].get<std::int64_t>() > hi)
        return key_error(std::string("limits.") + key,
                         "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      out = l[key].get<std::int64_t>();
      return {};
    };
    SIGIL_TRY_STATUS(number("max_body", c.limits.max_body, 1024, 64 << 20));
    SIGIL_TRY_STATUS(number("max_header", c.limits.max_header, 1024, 1 << 20));
    SIGIL_TRY_STATUS(number("max_connections_per_address", c.limits.max_connections_per_address, 1, 1 << 20));
    SIGIL_TRY_STATUS(get_duration(l, "limits.", "request_timeout", c.limits.request_timeout));
  }
  if (j.contains("revocation")) {
    const json& r = j["revocation"];
    SIGIL_TRY_STATUS(only_keys(r, "revocation",
                               {"crl_validity", "ocsp_validity", "ocsp_responder_ttl", "ocsp_sign_with_intermediate",
                                "crl_shards", "delta_crl_interval", "ocsp_cache_entries"}));
    SIGIL_TRY_STATUS(get_duration(r, "revocation.", "crl_validity", c.revocation.crl_validity));
    SIGIL_TRY_STATUS(get_duration(r, "revocation.", "ocsp_validity", c.revocation.ocsp_validity));
    SIGIL_TRY_STATUS(get_duration(r, "revocation.", "ocsp_responder_ttl", c.revocation.ocsp_responder_ttl));
    if (r.contains("ocsp_sign_with_intermediate")) {
      if (!r["ocsp_sign_with_intermediate"].is_boolean())
        return key_error("revocation.ocsp_sign_with_intermediate", "must be true or false");
      c.revocation.ocsp_sign_with_intermediate = r["ocsp_sign_with_intermediate"].get<bool>();
    }
    if (c.revocation.crl_validity < Seconds(60) || c.revocation.crl_validity > Seconds(366 * 86400))
      return key_error("revocation.crl_validity", "must be between 1m and 366d");
    if (c.revocation.ocsp_validity < Seconds(60) || c.revocation.ocsp_validity > Seconds(7 * 86400))
      return key_error("revocation.ocsp_validity", "must be between 1m and 7d");
    if (c.revocation.ocsp_responder_ttl < 2 * c.revocation.ocsp_validity)
      return key_error("revocation.ocsp_responder_ttl", "must be at least twice ocsp_validity");
    SIGIL_TRY_STATUS(get_int(r, "revocation.", "crl_shards", c.revocation.crl_shards, 1, issuer::kMaxCrlShards));
    SIGIL_TRY_STATUS(
        get_int(r, "revocation.", "ocsp_cache_entries", c.revocation.ocsp_cache_entries, 1, std::int64_t{1} << 32));
    SIGIL_TRY_STATUS(get_duration(r, "revocation.", "delta_crl_interval", c.revocation.delta_crl_interval));
    const Seconds delta = c.revocation.delta_crl_interval;
    if (delta.count() != 0 && (delta < Seconds(60) || delta > c.revocation.crl_validity / 2))
      return key_error("revocation.delta_crl_interval",
                       "must be 0 (no delta CRLs) or between 1m and half of crl_validity");
  }
  if (j.contains("acme")) SIGIL_TRY_STATUS(parse_acme(j["acme"], c.acme));
  SIGIL_TRY_STATUS(offer_acme_profiles(effective, c.acme));
  return c;
}

std::string to_json(const Config& c) {
  json j = json::object();
  j["name"] = c.name;
  j["public_url"] = c.public_url;
  j["database"] = c.database;
  if (!c.database_password_file.empty()) j["database_password_file"] = c.database_password_file;
  j["key_type"] = c.key_type;
  j["server"] = {{"dns", c.server_dns}};
  j["policy"] = {{"dns_names", c.policy.dns_names},
                 {"allowed_domains", c.policy.dns_suffixes},
                 {"allowed_ip_ranges", c.policy.ip_ranges},
                 {"spiffe_trust_domain", c.policy.spiffe_trust_domain},
                 {"allow_wildcards", c.policy.allow_wildcards}};
  j["issuance"] = {{"backdate", format_duration(c.backdate)}};
  json profiles = json::object();
  for (const auto& p : c.profiles) {
    json o = json::object();
    if (!p.default_ttl.empty()) o["default_ttl"] = p.default_ttl;
    if (!p.max_ttl.empty()) o["max_ttl"] = p.max_ttl;
    if (p.custom) {
      o["ext_key_usage"] = p.ext_key_usage;
      if (!p.key_usage.empty()) o["key_usage"] = p.key_usage;
      o["allowed_san_types"] = p.allowed_san_types;
      if (!p.key_types.empty()) o["key_types"] = p.key_types;
      o["require_spiffe"] = p.require_spiffe;
      o["acme"] = p.acme;
    }
    profiles[p.name] = o;
  }
  j["profiles"] = profiles;
  json auth = json::array();
  for (const auto& r : c.authorization) {
    json o = {{"identity", r.identity}, {"role", r.role}};
    if (!r.identifiers.empty()) o["identifiers"] = r.identifiers;
    if (!r.profiles.empty()) o["profiles"] = r.profiles;
    if (!r.max_ttl.empty()) o["max_ttl"] = r.max_ttl;
    auth.push_back(o);
  }
  j["authorization"] = auth;
  j["listeners"] = {{"api", c.listeners.api}, {"acme", c.listeners.acme}, {"public", c.listeners.public_}};
  j["tls"] = {{"client_skew", format_duration(c.tls.client_skew)},
              {"server_cert_ttl", format_duration(c.tls.server_cert_ttl)},
              {"acme_allow_tls12", c.tls.acme_allow_tls12},
              {"max_connection_age", format_duration(c.tls.max_connection_age)},
              {"client_trust_anchors", c.tls.client_trust_anchors}};
  j["revocation"] = {{"crl_validity", format_duration(c.revocation.crl_validity)},
                     {"ocsp_validity", format_duration(c.revocation.ocsp_validity)},
                     {"ocsp_responder_ttl", format_duration(c.revocation.ocsp_responder_ttl)},
                     {"ocsp_sign_with_intermediate", c.revocation.ocsp_sign_with_intermediate},
                     {"crl_shards", c.revocation.crl_shards},
                     {"delta_crl_interval", format_duration(c.revocation.delta_crl_interval)},
                     {"ocsp_cache_entries", c.revocation.ocsp_cache_entries}};
  j["limits"] = {{"max_body", c.limits.max_body},
                 {"max_header", c.limits.max_header},
                 {"request_timeout", format_duration(c.limits.request_timeout)},
                 {"max_connections_per_address", c.limits.max_connections_per_address}};
  const AcmeOptions& a = c.acme;
  j["acme"] = {{"eab_required", a.eab_required},
               {"terms_of_service", a.terms_of_service},
               {"website", a.website},
               {"profiles", a.profiles},
               {"order_lifetime", format_duration(a.order_lifetime)},
               {"authorization_lifetime", format_duration(a.authorization_lifetime)},
               {"rate_limits",
                {{"new_orders_per_account_per_hour", a.new_orders_per_account_per_hour},
                 {"failed_validations_per_identifier_per_hour", a.failed_validations_per_identifier_per_hour},
                 {"new_accounts_per_address_per_hour", a.new_accounts_per_address_per_hour}}},
               {"validation",
                {{"dns_resolver", a.validation.dns_resolver},
                 {"http01_port", a.validation.http01_port},
                 {"tlsalpn01_port", a.validation.tlsalpn01_port},
                 {"timeout", format_duration(a.validation.timeout)},
                 {"concurrency", a.validation.concurrency},
                 {"forbidden_ranges", a.validation.forbidden_ranges}}}};
  return j.dump(2) + "\n";
}

Result<Config> load_config(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) {
    if (text.error().code == Errc::not_found)
      return make_error(Errc::not_found,
                        "no CA at this home (" + file.string() + " is missing); run 'sigil init' first");
    return text.error();
  }
  return parse_config(*text);
}

}  // namespace sigil::service
