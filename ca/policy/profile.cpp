// Certificate profiles as data: the three built-in ones, custom ones from sigil.json, and the
// decisions a profile makes about a request (which SAN types, key types, lifetime).
#include <algorithm>

#include "ca/base/duration.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::policy {
namespace {

using Type = GeneralName::Type;
using crypto::Eku;
using crypto::KeyAlgorithm;

constexpr std::pair<std::string_view, Eku> kEkus[] = {{"serverAuth", Eku::server_auth},
                                                      {"clientAuth", Eku::client_auth}};
// Never keyCertSign or cRLSign: a leaf is not a CA.
constexpr std::pair<std::string_view, std::uint32_t> kKeyUsages[] = {
    {"digitalSignature", crypto::ku::digital_signature},
    {"contentCommitment", crypto::ku::content_commitment},
    {"keyEncipherment", crypto::ku::key_encipherment},
    {"dataEncipherment", crypto::ku::data_encipherment},
    {"keyAgreement", crypto::ku::key_agreement}};
constexpr std::pair<std::string_view, Type> kSanTypes[] = {
    {"dns", Type::dns}, {"ip", Type::ip}, {"uri", Type::uri}, {"email", Type::email}};
constexpr std::pair<std::string_view, KeyAlgorithm> kKeyAlgorithms[] = {{"ec-p256", KeyAlgorithm::ec_p256},
                                                                        {"ec-p384", KeyAlgorithm::ec_p384},
                                                                        {"ed25519", KeyAlgorithm::ed25519},
                                                                        {"rsa", KeyAlgorithm::rsa}};

template <class T, std::size_t N>
Result<T> lookup(const std::pair<std::string_view, T> (&table)[N], std::string_view name, const char* what) {
  std::string known;
  for (const auto& [n, v] : table) {
    if (n == name) return v;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  return make_error(Errc::invalid_argument,
                    "unknown " + std::string(what) + " '" + std::string(name) + "' (known: " + known + ")");
}

template <class T, std::size_t N>
std::string_view name_of(const std::pair<std::string_view, T> (&table)[N], T value) {
  for (const auto& [n, v] : table)
    if (v == value) return n;
  return "?";
}

bool valid_profile_name(std::string_view n) {
  return !n.empty() && n.size() <= 32 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Profile builtin(std::string name, std::vector<Eku> ekus, Seconds max_ttl, bool require_spiffe,
                std::vector<Type> types) {
  Profile p;
  p.name = std::move(name);
  p.ext_key_usage = std::move(ekus);
  p.default_ttl = Seconds(86400);
  p.max_ttl = max_ttl;
  p.require_spiffe = require_spiffe;
  p.allowed_types = std::move(types);
  p.builtin = true;
  return p;
}

Status check_ttls(const std::string& name, Seconds def, Seconds max) {
  if (max > kHardMaxTtl || max.count() <= 0)
    return make_error(Errc::invalid_argument, "profile '" + name + "': max_ttl must be between 1s and 398d");
  if (def > max || def.count() <= 0)
    return make_error(Errc::invalid_argument,
                      "profile '" + name + "': default_ttl must be positive and at most max_ttl");
  return {};
}

}  // namespace

Result<Eku> parse_eku(std::string_view name) { return lookup(kEkus, name, "extended key usage"); }
std::string_view eku_name(Eku e) { return e == Eku::ocsp_signing ? "OCSPSigning" : name_of(kEkus, e); }
Result<std::uint32_t> parse_key_usage(std::string_view name) { return lookup(kKeyUsages, name, "key usage"); }
std::vector<std::string> key_usage_names(std::uint32_t bits) {
  std::vector<std::string> out;
  for (const auto& [n, v] : kKeyUsages)
    if (bits & v) out.emplace_back(n);
  return out;
}
Result<Type> parse_san_type(std::string_view name) { return lookup(kSanTypes, name, "SAN type"); }
std::string_view san_type_name(Type t) { return name_of(kSanTypes, t); }
Result<KeyAlgorithm> parse_key_algorithm(std::string_view name) { return lookup(kKeyAlgorithms, name, "key type"); }

bool Profile::allows(GeneralName::Type t) const {
  return std::find(allowed_types.begin(), allowed_types.end(), t) != allowed_types.end();
}

std::uint32_t Profile::key_usage_for(crypto::KeyAlgorithm key) const {
  // Only what the key can do (RFC 4055, 5480, 8410): encipherment is RSA's, key agreement EC's
  // (ECDH); an Ed25519 key only signs. A usage the key cannot have would be a lie (and, for
  // keyEncipherment, a lint error), so a custom profile's list applies where it fits.
  if (key_usage) {
    constexpr std::uint32_t encipherment = crypto::ku::key_encipherment | crypto::ku::data_encipherment;
    switch (key) {
      case KeyAlgorithm::rsa:
        return *key_usage & ~crypto::ku::key_agreement;
      case KeyAlgorithm::ec_p256:
      case KeyAlgorithm::ec_p384:
        return *key_usage & ~encipherment;
      case KeyAlgorithm::ed25519:
        return *key_usage & ~(encipherment | crypto::ku::key_agreement);
    }
  }
  std::uint32_t bits = crypto::ku::digital_signature;
  // RSA key transport in TLS 1.2 (non-ECDHE suites) needs keyEncipherment on server keys.
  const bool server = std::find(ext_key_usage.begin(), ext_key_usage.end(), Eku::server_auth) != ext_key_usage.end();
  if (key == KeyAlgorithm::rsa && server) bits |= crypto::ku::key_encipherment;
  return bits;
}

Decision Profile::decide_type(const GeneralName& n) const {
  const std::string rule = "profile." + name + ".allowed_san_types";
  if (allows(n.type)) return Decision::allow(rule, std::string(san_type_name(n.type)) + " names are allowed");
  return Decision::refuse(Errc::rejected_identifier, rule,
                          "profile '" + name + "' does not allow the identifier " + crypto::to_string(n));
}

Decision Profile::decide_key_type(KeyAlgorithm key) const {
  const std::string rule = "profile." + name + ".key_types";
  if (key_types.empty()) return Decision::allow(rule, "any key the key policy accepts");
  if (std::find(key_types.begin(), key_types.end(), key) != key_types.end())
    return Decision::allow(rule, std::string(crypto::to_string(key)) + " is listed");
  return Decision::refuse(Errc::bad_public_key, rule,
                          "profile '" + name + "' does not accept " + std::string(crypto::to_string(key)) + " keys");
}

Decision Profile::decide_ttl(Seconds ttl) const {
  const std::string rule = "profile." + name + ".max_ttl";
  if (ttl > max_ttl)
    return Decision::refuse(
        Errc::policy_violation, rule,
        "TTL " + format_duration(ttl) + " exceeds the '" + name + "' profile's maximum of " + format_duration(max_ttl));
  return Decision::allow(rule, format_duration(ttl) + " is within the maximum of " + format_duration(max_ttl));
}

Decision Profile::decide_spiffe(const std::vector<GeneralName>& names) const {
  const std::string rule = "profile." + name + ".require_spiffe";
  if (!require_spiffe) return Decision::allow(rule, "no SPIFFE ID required");
  const auto uris = std::count_if(names.begin(), names.end(), [](const auto& n) { return n.type == Type::uri; });
  if (uris == 1) return Decision::allow(rule, "exactly one spiffe:// URI SAN");
  return Decision::refuse(
      Errc::rejected_identifier, rule,
      "profile '" + name + "' needs exactly one spiffe:// URI SAN, the CSR has " + std::to_string(uris));
}

Profiles Profiles::defaults() {
  Profiles p;
  const Seconds day{86400};
  p.profiles_["server"] = builtin("server", {Eku::server_auth}, 90 * day, false, {Type::dns, Type::ip});
  p.profiles_["client"] =
      builtin("client", {Eku::client_auth}, 90 * day, false, {Type::dns, Type::ip, Type::uri, Type::email});
  p.profiles_["spiffe"] =
      builtin("spiffe", {Eku::server_auth, Eku::client_auth}, 30 * day, true, {Type::uri, Type::dns, Type::ip});
  return p;
}

const Profile* Profiles::find(std::string_view name) const {
  auto it = profiles_.find(name);
  return it == profiles_.end() ? nullptr : &it->second;
}

Status Profiles::set_ttls(std::string_view name, std::optional<Seconds> default_ttl, std::optional<Seconds> max_ttl) {
  auto it = profiles_.find(name);
  if (it == profiles_.end()) return make_error(Errc::invalid_argument, "unknown profile '" + std::string(name) + "'");
  Profile& p = it->second;
  // Check first: a refused change leaves the profile as it was.
  const Seconds max = max_ttl.value_or(p.max_ttl);
  const Seconds def = default_ttl.value_or(p.default_ttl);
  SIGIL_TRY_STATUS(check_ttls(p.name, def, max));
  p.max_ttl = max;
  p.default_ttl = def;
  return {};
}

Status Profiles::add(Profile p) {
  auto bad = [&](std::string what) { return make_error(Errc::invalid_argument, "profile '" + p.name + "': " + what); };
  if (!valid_profile_name(p.name))
    return make_error(Errc::invalid_argument, "profile name '" + p.name + "' must be 1 to 32 of a-z, 0-9 and '-'");
  if (p.name == "ocsp-responder") return bad("the name is reserved for OCSP responder certificates");
  if (profiles_.count(p.name)) return bad("the name is taken (a built-in profile takes default_ttl and max_ttl only)");
  if (p.ext_key_usage.empty()) return bad("ext_key_usage must name at least one usage");
  for (auto e : p.ext_key_usage)
    if (e == Eku::ocsp_signing) return bad("OCSPSigning is for the CA's own responder certificates");
  if (p.allowed_types.empty()) return bad("allowed_san_types must name at least one type");
  if (p.key_usage && (*p.key_usage & (crypto::ku::key_cert_sign | crypto::ku::crl_sign)))
    return bad("a leaf may not have CA key usages");
  if (p.key_usage && !(*p.key_usage & crypto::ku::digital_signature))
    return bad("key_usage must include digitalSignature (TLS 1.3 signs with the key)");
  SIGIL_TRY_STATUS(check_ttls(p.name, p.default_ttl, p.max_ttl));
  if (p.require_spiffe && !p.allows(Type::uri)) return bad("require_spiffe needs \"uri\" in allowed_san_types");
  if (p.acme && (p.require_spiffe || !(p.allows(Type::dns) || p.allows(Type::ip))))
    return bad("ACME orders name DNS names and IP addresses: an ACME profile must allow one and not require SPIFFE");
  p.builtin = false;
  std::string name = p.name;
  profiles_.emplace(std::move(name), std::move(p));
  return {};
}

std::vector<std::string> Profiles::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : profiles_) out.push_back(k);
  return out;
}

}  // namespace sigil::policy
