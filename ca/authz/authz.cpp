#include "ca/authz/authz.hpp"

#include <algorithm>

#include "ca/crypto/oids.hpp"

namespace sigil::authz {
namespace {
Error forbidden(std::string why) { return make_error(Errc::forbidden, std::move(why)); }

// What a name or a pattern stands for. A pattern says it with a prefix ("dns:", "ip:", "uri:",
// "email:", "cn:"); an unprefixed one (the original syntax) by its shape, so existing
// configurations keep their meaning: "://" is a URI, '@' an email address, anything else a host
// (a DNS name or IP address, and for caller identities also a subject CN).
enum class Kind { dns, ip, uri, email, cn, host };

struct Typed {
  Kind kind;
  std::string_view value;
};

Typed typed_pattern(std::string_view p) {
  static constexpr std::pair<std::string_view, Kind> kPrefixes[] = {
      {"dns:", Kind::dns}, {"ip:", Kind::ip}, {"uri:", Kind::uri}, {"email:", Kind::email}, {"cn:", Kind::cn}};
  for (const auto& [prefix, kind] : kPrefixes)
    if (p.substr(0, prefix.size()) == prefix) return {kind, p.substr(prefix.size())};
  if (p.find("://") != std::string_view::npos) return {Kind::uri, p};
  if (p.find('@') != std::string_view::npos) return {Kind::email, p};
  return {Kind::host, p};
}

// `name` as the API passes it ("dns:x", "ip:y", "uri:z", "email:w"); nullopt for anything else.
std::optional<Typed> typed_name(std::string_view name) {
  const Typed t = typed_pattern(name);
  if (t.value.size() == name.size() || t.kind == Kind::cn) return std::nullopt;
  return t;
}

Kind kind_of(const Identity& id) {
  switch (id.kind) {
    case Identity::Kind::spiffe:
      return Kind::uri;
    case Identity::Kind::dns:
      return Kind::dns;
    case Identity::Kind::common_name:
      return Kind::cn;
  }
  return Kind::cn;
}

// The kinds a pattern of kind `pattern` covers.
bool covers(Kind pattern, Kind value, bool identity) {
  if (pattern == value) return true;
  if (pattern != Kind::host) return false;
  return identity ? value == Kind::dns || value == Kind::cn : value == Kind::dns || value == Kind::ip;
}
}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::admin:
      return "admin";
    case Role::issuer:
      return "issuer";
    case Role::renew_self:
      return "renew-self";
    case Role::viewer:
      return "viewer";
  }
  return "?";
}

bool identity_matches(std::string_view pattern, const Identity& id) {
  const Typed p = typed_pattern(pattern);
  return covers(p.kind, kind_of(id), true) && pattern_match(p.value, id.value);
}

bool identifier_matches(std::string_view pattern, std::string_view name) {
  const auto n = typed_name(name);
  if (!n) return false;
  const Typed p = typed_pattern(pattern);
  return covers(p.kind, n->kind, false) && pattern_match(p.value, n->value);
}

Status check_identity_pattern(std::string_view pattern) {
  const Kind k = typed_pattern(pattern).kind;
  if (k == Kind::email || k == Kind::ip)
    return make_error(Errc::invalid_argument, "a caller identity is a SPIFFE URI, a DNS name or a subject CN: '" +
                                                  std::string(pattern) +
                                                  "' can never match one (a subject CN is written cn:...)");
  return {};
}

Result<Identity> identity_of(const crypto::Certificate& cert) {
  if (const auto* e = cert.tbs().find(crypto::oid::subject_alt_name)) {
    SIGIL_TRY(auto names, crypto::decode_general_names(e->value));
    for (const auto& n : names)
      if (n.type == crypto::GeneralName::Type::uri && n.value.rfind("spiffe://", 0) == 0)
        return Identity{Identity::Kind::spiffe, n.value};
    for (const auto& n : names)
      if (n.type == crypto::GeneralName::Type::dns) return Identity{Identity::Kind::dns, n.value};
  }
  SIGIL_TRY(auto cn, crypto::name_common_name(cert.tbs().subject));
  if (cn && !cn->empty()) return Identity{Identity::Kind::common_name, *cn};
  return make_error(Errc::unauthorized, "the client certificate names no identity");
}

Result<Role> parse_role(std::string_view s) {
  if (s == "admin") return Role::admin;
  if (s == "issuer") return Role::issuer;
  if (s == "renew-self") return Role::renew_self;
  if (s == "viewer") return Role::viewer;
  return make_error(Errc::invalid_argument, "unknown role '" + std::string(s) + "'");
}

bool pattern_match(std::string_view p, std::string_view v) {
  std::size_t i = 0, j = 0;
  while (i < p.size()) {
    if (p[i] == '*') {
      const std::size_t start = j;
      // '@' ends a segment too: "*@corp.example" is one mailbox name, never part of a host.
      while (j < v.size() && v[j] != '.' && v[j] != '/' && v[j] != '@') ++j;
      if (j == start) return false;  // a segment is never empty
      ++i;
      continue;
    }
    if (j >= v.size() || p[i] != v[j]) return false;
    ++i;
    ++j;
  }
  return j == v.size();
}

const Rule* Policy::rule_for(const Identity& id) const {
  for (const auto& r : rules_)
    if (identity_matches(r.identity, id)) return &r;
  return nullptr;
}

Status Policy::may(const Identity& id, Action action) const {
  const Rule* r = rule_for(id);
  if (!r) return forbidden("identity '" + id.value + "' has no role");
  switch (action) {
    case Action::metrics:
    case Action::renew_self:
      return {};  // every role may renew itself and read metrics
    case Action::explain:
      if (r->role == Role::admin || r->role == Role::issuer) return {};
      return forbidden("role " + std::string(role_name(r->role)) + " of '" + id.value + "' may not do this");
    case Action::read:
      if (r->role == Role::admin || r->role == Role::viewer) return {};
      return forbidden("role " + std::string(role_name(r->role)) + " of '" + id.value + "' may not do this");
    case Action::revoke:
    case Action::administer:
      if (r->role == Role::admin) return {};
      return forbidden("role " + std::string(role_name(r->role)) + " of '" + id.value + "' may not do this");
  }
  return forbidden("unknown action");
}

IssueDecisions Policy::decide_issue(const Identity& id, const std::vector<std::string>& names,
                                    const std::string& profile, Seconds ttl) const {
  using policy::Decision;
  IssueDecisions out;
  const Rule* r = rule_for(id);
  if (!r) {
    out.role = Decision::refuse(Errc::forbidden, "authorization", "identity '" + id.value + "' has no role");
    return out;
  }
  const std::string rule = "authorization[" + std::to_string(r - rules_.data()) + "]";
  const std::string who = rule + " (" + r->identity + ", " + role_name(r->role) + ")";
  if (r->role == Role::admin) {
    out.role = Decision::allow(rule, who + ": an admin may request anything the CA allows");
    out.profile = out.ttl = out.role;
    for (std::size_t i = 0; i < names.size(); ++i) out.names.push_back(out.role);
    return out;
  }
  if (r->role != Role::issuer) {
    out.role = Decision::refuse(
        Errc::forbidden, rule,
        "role " + std::string(role_name(r->role)) + " of '" + id.value + "' may not request new certificates");
    return out;
  }
  out.role = Decision::allow(rule, who);
  if (!r->profiles.empty() && std::find(r->profiles.begin(), r->profiles.end(), profile) == r->profiles.end())
    out.profile = Decision::refuse(Errc::forbidden, rule + ".profiles",
                                   "'" + id.value + "' may not use profile '" + profile + "'");
  else
    out.profile =
        Decision::allow(rule + ".profiles", r->profiles.empty() ? "any profile" : "'" + profile + "' is listed");
  if (r->max_ttl && ttl > *r->max_ttl)
    out.ttl =
        Decision::refuse(Errc::forbidden, rule + ".max_ttl", "'" + id.value + "' may not request a TTL this long");
  else
    out.ttl =
        Decision::allow(rule + ".max_ttl", r->max_ttl ? "within the rule's max_ttl" : "no cap below the profile's");
  for (const auto& n : names) {
    const std::string* match = nullptr;
    for (const auto& p : r->identifiers)
      if (!match && identifier_matches(p, n)) match = &p;
    out.names.push_back(
        match ? Decision::allow(rule + ".identifiers", "matches " + *match)
              : Decision::refuse(Errc::forbidden, rule + ".identifiers", "'" + id.value + "' may not request " + n));
  }
  return out;
}

Status Policy::may_issue(const Identity& id, const std::vector<std::string>& names, const std::string& profile,
                         Seconds ttl) const {
  const IssueDecisions d = decide_issue(id, names, profile, ttl);
  if (!d.role.allowed) return d.role.status();
  SIGIL_TRY_STATUS(d.profile.status());
  SIGIL_TRY_STATUS(d.ttl.status());
  for (const auto& n : d.names) SIGIL_TRY_STATUS(n.status());
  return {};
}

}  // namespace sigil::authz
