#include "ca/api/explain.hpp"

#include "ca/base/duration.hpp"

namespace sigil::api {
namespace {
using nlohmann::json;

json decision_json(const policy::Decision& d) {
  return {{"allowed", d.allowed}, {"rule", d.rule}, {"detail", d.detail}};
}

json check_json(std::string check, const policy::Decision& d) {
  json j = decision_json(d);
  j["check"] = std::move(check);
  return j;
}

// One line per identifier: refused, the first refusing rule (the one prepare would answer) and
// any others; allowed, every rule that allowed it.
json identifier_json(const std::string& identifier, const std::vector<policy::Decision>& decisions) {
  json all = json::array();
  const policy::Decision* first = nullptr;
  std::string rules, details, others;
  for (const auto& d : decisions) {
    all.push_back(decision_json(d));
    if (d.allowed) {
      rules += (rules.empty() ? "" : " + ") + d.rule;
      details += (details.empty() ? "" : "; ") + d.detail;
    } else if (!first) {
      first = &d;
    } else {
      others += "; also " + d.rule + ": " + d.detail;
    }
  }
  json j = {{"identifier", identifier}, {"allowed", first == nullptr}, {"decisions", all}};
  j["rule"] = first ? first->rule : rules;
  j["detail"] = first ? first->detail + others : details;
  return j;
}

std::string identity_text(const authz::Identity& id) {
  switch (id.kind) {
    case authz::Identity::Kind::spiffe:
      return "uri:" + id.value;
    case authz::Identity::Kind::dns:
      return "dns:" + id.value;
    case authz::Identity::Kind::common_name:
      return "cn:" + id.value;
  }
  return id.value;
}

}  // namespace

Result<authz::Identity> parse_identity(std::string_view text) {
  using K = authz::Identity::Kind;
  auto make = [&](K kind, std::string_view v) -> Result<authz::Identity> {
    if (v.empty() || v.size() > 2048)
      return make_error(Errc::invalid_argument, "identity '" + std::string(text) + "' names nothing");
    if (kind == K::spiffe && v.rfind("spiffe://", 0) != 0)
      return make_error(Errc::invalid_argument, "identity '" + std::string(text) + "': a URI identity is a SPIFFE ID");
    return authz::Identity{kind, std::string(v)};
  };
  if (text.rfind("dns:", 0) == 0) return make(K::dns, text.substr(4));
  if (text.rfind("uri:", 0) == 0) return make(K::spiffe, text.substr(4));
  if (text.rfind("cn:", 0) == 0) return make(K::common_name, text.substr(3));
  if (text.find("://") != std::string_view::npos) return make(K::spiffe, text);
  return make(K::dns, text);
}

Result<json> explain_request(const issuer::Issuer& issuer, const authz::Policy& roles, const ExplainRequest& req) {
  const std::string profile = req.profile.empty() ? "server" : req.profile;
  SIGIL_TRY(issuer::Assessment a, issuer.assess({req.csr, profile, req.ttl, ""}));
  json checks = json::array();
  for (const auto& [name, d] : a.checks) checks.push_back(check_json(name, d));

  // The role rule sees every name that has a syntax (the create handler passes the approved
  // ones; a refused one is refused either way, and its role decision is still worth knowing).
  std::vector<std::string> names;
  for (const auto& i : a.identifiers)
    if (i.name) names.push_back(i.identifier);
  std::vector<std::vector<policy::Decision>> decisions;
  for (const auto& i : a.identifiers) decisions.push_back(i.decisions);
  bool allowed = a.allowed();
  if (req.identity) {
    const authz::IssueDecisions r = roles.decide_issue(*req.identity, names, profile, a.ttl);
    checks.push_back(check_json("role", r.role));
    allowed = allowed && r.role.allowed;
    if (r.role.allowed) {
      checks.push_back(check_json("role_profiles", r.profile));
      checks.push_back(check_json("role_max_ttl", r.ttl));
      allowed = allowed && r.profile.allowed && r.ttl.allowed;
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < a.identifiers.size(); ++i)
      if (a.identifiers[i].name && k < r.names.size()) {
        allowed = allowed && r.names[k].allowed;
        decisions[i].push_back(r.names[k++]);
      }
  } else {
    checks.push_back(check_json(
        "role", policy::Decision::allow("authorization", "not checked: no identity given, only CA-wide rules apply")));
  }
  json ids = json::array();
  for (std::size_t i = 0; i < a.identifiers.size(); ++i)
    ids.push_back(identifier_json(a.identifiers[i].identifier, decisions[i]));
  return json{
      {"allowed", allowed},           {"profile", profile},
      {"ttl_seconds", a.ttl.count()}, {"identity", req.identity ? json(identity_text(*req.identity)) : json(nullptr)},
      {"identifiers", ids},           {"checks", checks}};
}

std::string explain_summary(const json& j) {
  std::string out;
  for (const auto& i : j.at("identifiers"))
    if (!i.at("allowed").get<bool>())
      out +=
          (out.empty() ? "" : "; ") + i.at("identifier").get<std::string>() + " by " + i.at("rule").get<std::string>();
  for (const auto& c : j.at("checks"))
    if (!c.at("allowed").get<bool>())
      out += (out.empty() ? "" : "; ") + c.at("check").get<std::string>() + " by " + c.at("rule").get<std::string>();
  const std::string head = "profile=" + j.at("profile").get<std::string>() + " ";
  return head + (out.empty() ? "allowed" : "refused: " + out);
}

http::Handler explain_handler(Deps& d) {
  return [&d](const http::Request& req) -> http::Response {
    auto caller = authz::identity_of(*req.peer);  // the router verified it (action "explain")
    if (!caller) return http::Response::problem(caller.error());
    const auto roles = d.policy.load();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return http::Response::problem(make_error(Errc::malformed, "the body must be a JSON object"));
    ExplainRequest er;
    std::string ttl, identity;
    for (const auto& [k, v] : body.items()) {
      std::string* field = k == "csr"        ? &er.csr
                           : k == "profile"  ? &er.profile
                           : k == "ttl"      ? &ttl
                           : k == "identity" ? &identity
                                             : nullptr;
      if (!field) return http::Response::problem(make_error(Errc::malformed, "unknown field '" + k + "'"));
      if (!v.is_string())
        return http::Response::problem(make_error(Errc::malformed, "field '" + k + "' must be a string"));
      *field = v.get<std::string>();
    }
    if (er.csr.find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos)
      return http::Response::problem(make_error(Errc::bad_csr, "csr must be a PEM CERTIFICATE REQUEST"));
    if (!ttl.empty()) {
      auto t = parse_duration(ttl);
      if (!t) return http::Response::problem(t.error());
      er.ttl = *t;
    }
    er.identity = *caller;
    if (!identity.empty()) {
      auto named = parse_identity(identity);
      if (!named) return http::Response::problem(named.error());
      // An issuer explains for itself; only an admin may ask on another's behalf.
      const bool self = named->kind == caller->kind && named->value == caller->value;
      if (!self) {
        if (auto ok = roles->may(*caller, authz::Action::administer); !ok) {
          d.metrics.add("sigil_authorization_denials_total", {{"action", "policy-explain"}});
          auto st =
              d.audit.append({to_unix(d.clock.now()), "api:" + caller->value, "policy-explain", identity_text(*named),
                              "refused", "only an admin may explain for another identity"});
          if (!st) return http::Response::problem(st.error());
          return http::Response::problem(make_error(Errc::forbidden, "only an admin may explain for another identity"));
        }
      }
      er.identity = *named;
    }
    auto explained = explain_request(d.issuer, *roles, er);
    if (!explained) return http::Response::problem(explained.error());
    auto st = d.audit.append({to_unix(d.clock.now()), "api:" + caller->value, "policy-explain",
                              identity_text(*er.identity), "ok", explain_summary(*explained)});
    if (!st) return http::Response::problem(st.error());
    return http::Response::json(200, explained->dump());
  };
}

}  // namespace sigil::api
