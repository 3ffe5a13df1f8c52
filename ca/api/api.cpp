#include "ca/api/api.hpp"

#include <cassert>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ca/api/console_routes.hpp"
#include "ca/api/explain.hpp"
#include "ca/api/health_routes.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/ocsp.hpp"

namespace sigil::api {
namespace {
using http::Request;
using http::Response;
using nlohmann::json;

// A JSON object body with only the given keys.
Result<json> json_body(const Request& req, std::initializer_list<std::string_view> allowed) {
  if (auto ct = req.header("content-type"); ct && ct->find("json") == std::string_view::npos)
    return make_error(Errc::malformed, "the body must be application/json");
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return make_error(Errc::malformed, "the body is not valid JSON");
  if (!j.is_object()) return make_error(Errc::malformed, "the body must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k == a;
    if (!ok) return make_error(Errc::malformed, "unknown field '" + k + "'");
  }
  return j;
}

Result<std::string> string_field(const json& j, const char* key, bool required) {
  if (!j.contains(key)) {
    if (required) return make_error(Errc::malformed, std::string("missing field '") + key + "'");
    return std::string();
  }
  if (!j[key].is_string()) return make_error(Errc::malformed, std::string("field '") + key + "' must be a string");
  return j[key].get<std::string>();
}

// The api's principal: who the verified client certificate names.
struct Caller final : http::Principal {
  authz::Identity id;
};

class Api {
 public:
  explicit Api(Deps& d) : d_(d) {}

  // Authorization failures are answered 403 and audited.
  Response deny(const authz::Identity& id, const std::string& action, const std::string& target, const Error& e) {
    d_.metrics.add("sigil_authorization_denials_total", {{"action", action}});
    auto audit = d_.audit.append({to_unix(d_.clock.now()), "api:" + id.value, action, target, "refused", e.detail});
    if (!audit) storage_error(audit.error());
    return Response::problem(e);
  }

  Response fail(const Error& e) {
    if (e.code == Errc::storage) storage_error(e);
    return Response::problem(e);
  }

  void storage_error(const Error&) { d_.metrics.add("sigil_store_errors_total", {}); }

  // The caller the router authenticated (Auth::client_cert): it runs no such route's handler
  // without one.
  static const authz::Identity* caller(const Request& req) {
    const auto* c = req.principal_as<Caller>();
    assert(c != nullptr);
    return &c->id;
  }

  // The router's authenticator for Auth::client_cert: the caller's identity from its verified
  // certificate, and, when the route names an action, the caller's role allowing it. A refusal
  // is answered 403 and audited as the handlers' own denials are.
  http::Authenticated authenticate(const Request& req, const http::Route& route) {
    auto id = authz::identity_of(*req.peer);
    if (!id) return fail(id.error());
    if (req.method == "POST")
      if (auto ok = check_browser_post(req); !ok) return deny(*id, "cross-site-post", route.name, ok.error());
    if (!route.auth.action.empty()) {
      auto action = action_of(route.auth.action);
      if (!action) return fail(make_error(Errc::internal, "route " + route.name + ": unknown action"));
      const std::string& audit_as = route.auth.audit_as.empty() ? route.auth.action : route.auth.audit_as;
      if (auto ok = d_.policy.load()->may(*id, *action); !ok)
        return deny(*id, audit_as, target_of(req, *action), ok.error());
    }
    auto c = std::make_shared<Caller>();
    c->id = std::move(*id);
    return c;
  }

  static std::optional<authz::Action> action_of(std::string_view name) {
    using authz::Action;
    for (auto [n, a] : {std::pair{"read", Action::read}, std::pair{"revoke", Action::revoke},
                        std::pair{"renew_self", Action::renew_self}, std::pair{"metrics", Action::metrics},
                        std::pair{"administer", Action::administer}, std::pair{"explain", Action::explain}})
      if (name == n) return a;
    return std::nullopt;
  }

  // What a denial's audit row names: the resource in the path (a serial as stored), else the
  // certificate being renewed (the caller's own).
  static std::string target_of(const Request& req, authz::Action action) {
    if (auto it = req.params.find("serial"); it != req.params.end()) {
      auto serial = store::normalize_serial(it->second);
      return serial ? *serial : it->second;
    }
    for (const char* name : {"kid", "id"})
      if (auto it = req.params.find(name); it != req.params.end()) return it->second;
    return action == authz::Action::renew_self ? req.peer->serial_hex() : "";
  }

  Response issued_response(const issuer::Issued& out, const std::string& profile) {
    d_.metrics.add("sigil_certificates_issued_total", {{"profile", profile}});
    const auto leaf_end = out.chain_pem.find("-----END CERTIFICATE-----");
    const std::string leaf = out.chain_pem.substr(0, leaf_end + std::string("-----END CERTIFICATE-----\n").size());
    json j = {{"serial", out.serial},
              {"certificate", leaf},
              {"chain", out.chain_pem},
              {"not_before", format_rfc3339(out.not_before)},
              {"not_after", format_rfc3339(out.not_after)}};
    return Response::json(201, j.dump()).with("Location", "/api/v1/certificates/" + out.serial);
  }

  Response create(const Request& req) {
    const authz::Identity* id = caller(req);
    auto body = json_body(req, {"csr", "profile", "ttl"});
    if (!body) return fail(body.error());
    auto csr = string_field(*body, "csr", true);
    auto profile = string_field(*body, "profile", false);
    auto ttl_text = string_field(*body, "ttl", false);
    if (!csr) return fail(csr.error());
    if (!profile) return fail(profile.error());
    if (!ttl_text) return fail(ttl_text.error());
    if (csr->find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos)
      return fail(make_error(Errc::bad_csr, "csr must be a PEM CERTIFICATE REQUEST"));
    const std::string prof = profile->empty() ? "server" : *profile;
    std::optional<Seconds> ttl;
    if (!ttl_text->empty()) {
      auto t = parse_duration(*ttl_text);
      if (!t) return fail(t.error());
      ttl = *t;
    }
    auto prepared = d_.issuer.prepare({*csr, prof, ttl, "api:" + id->value});
    if (!prepared) return fail(prepared.error());
    const auto* pc = &prepared->pending();
    const auto policy = d_.policy.load();
    // The requested lifetime (as clamped), without the backdating of notBefore.
    if (auto ok = policy->may_issue(*id, pc->sans, prof, Seconds(pc->not_after - pc->created_at)); !ok)
      return deny(*id, "issue", "", ok.error());
    auto out = d_.issuer.issue(std::move(*prepared));
    if (!out) return fail(out.error());
    return issued_response(*out, prof);
  }

  Response list(const Request& req) {
    store::ListFilter f;
    f.now = to_unix(d_.clock.now());
    auto q = [&](const char* k) -> std::string {
      auto it = req.query.find(k);
      return it == req.query.end() ? "" : it->second;
    };
    for (const auto& [k, v] : req.query)
      if (k != "status" && k != "expiring_within" && k != "profile" && k != "name" && k != "page_token" && k != "limit")
        return fail(make_error(Errc::malformed, "unknown query parameter '" + k + "'"));
    const std::string status = q("status");
    if (status == "valid")
      f.status = store::ListFilter::Status::valid;
    else if (status == "revoked")
      f.status = store::ListFilter::Status::revoked;
    else if (status == "expired")
      f.status = store::ListFilter::Status::expired;
    else if (!status.empty())
      return fail(make_error(Errc::malformed, "status must be valid, revoked or expired"));
    if (const std::string w = q("expiring_within"); !w.empty()) {
      auto d = parse_duration(w);
      if (!d) return fail(d.error());
      f.expiring_before = f.now + d->count();
      if (f.status == store::ListFilter::Status::any) f.status = store::ListFilter::Status::valid;
    }
    if (const std::string p = q("profile"); !p.empty()) f.profile = p;
    if (const std::string n = q("name"); !n.empty()) f.name = n;  // as stored: "dns:a.example"
    f.page_token = q("page_token");
    if (const std::string l = q("limit"); !l.empty()) {
      if (l.size() > 4 || l.find_first_not_of("0123456789") != std::string::npos)
        return fail(make_error(Errc::malformed, "limit must be a number between 1 and 1000"));
      f.limit = std::stoi(l);
    }
    auto page = d_.certificates.list(f);
    if (!page) return fail(page.error());
    json items = json::array();
    for (const auto& r : page->items) items.push_back(certificate_json(r, f.now));
    json j = {{"items", items}};
    if (!page->next_page_token.empty()) j["next_page_token"] = page->next_page_token;
    return Response::json(200, j.dump());
  }

  Response show(const Request& req) {
    auto serial = store::normalize_serial(req.params.at("serial"));
    if (!serial) return fail(serial.error());
    auto rec = d_.certificates.find(*serial);
    if (!rec) return fail(rec.error());
    if (!*rec || (*rec)->der.empty()) return fail(make_error(Errc::not_found, "no certificate with serial " + *serial));
    const auto& r = **rec;
    const std::string pem = pem_encode("CERTIFICATE", r.der);
    if (auto accept = req.header("accept");
        accept && accept->find("application/pem-certificate-chain") != std::string_view::npos) {
      // Its own issuer's certificate: a replaced intermediate's leaves keep their chain.
      const auto* by = d_.issuer.authority(r.issuer_id);
      const std::string chain = pem + (by ? by->pem : d_.issuer.certificate().pem());
      return Response::text(200, chain, "application/pem-certificate-chain");
    }
    json j = certificate_json(r, to_unix(d_.clock.now()));
    j["certificate"] = pem;
    return Response::json(200, j.dump());
  }

  Response revoke(const Request& req) {
    const authz::Identity* id = caller(req);
    auto serial = store::normalize_serial(req.params.at("serial"));
    if (!serial) return fail(serial.error());
    auto rec = d_.revoker.find(*serial);
    if (!rec) return fail(rec.error());
    // An admin may revoke anything; any caller may revoke the very certificate it presents: the
    // same DER, not the same serial (a leaf of a tls.client_trust_anchors CA may share one).
    const bool self = req.peer && *rec && !(*rec)->der.empty() && (*rec)->der == req.peer->der();
    if (!self) {
      if (auto ok = d_.policy.load()->may(*id, authz::Action::revoke); !ok)
        return deny(*id, "revoke", *serial, ok.error());
    }
    auto body = json_body(req, {"reason"});
    if (!body) return fail(body.error());
    auto reason_text = string_field(*body, "reason", false);
    if (!reason_text) return fail(reason_text.error());
    auto reason = store::parse_revocation_reason(reason_text->empty() ? "unspecified" : *reason_text);
    if (!reason) return fail(reason.error());
    if (!*rec) return fail(make_error(Errc::not_found, "no certificate with serial " + *serial));
    auto done = d_.revoker.revoke(**rec, {*reason, "api:" + id->value, ""});
    if (!done) return fail(done.error());
    json j = {{"serial", *serial},
              {"status", "revoked"},
              {"reason", store::to_string(done->reason)},
              {"revoked_at", format_rfc3339(from_unix(done->revoked_at))}};
    return Response::json(200, j.dump());
  }

  Response renew(const Request& req) {
    const authz::Identity* id = caller(req);
    const crypto::Certificate& current = *req.peer;
    auto body = json_body(req, {"csr", "rotate_key"});
    if (!body) return fail(body.error());
    auto csr = string_field(*body, "csr", false);
    if (!csr) return fail(csr.error());
    bool rotate = false;
    if (body->contains("rotate_key")) {
      if (!(*body)["rotate_key"].is_boolean())
        return fail(make_error(Errc::malformed, "rotate_key must be true or false"));
      rotate = (*body)["rotate_key"].get<bool>();
    }
    if (rotate && csr->empty()) return fail(make_error(Errc::bad_csr, "rotate_key needs a csr with the new key"));
    if (!rotate && !csr->empty())
      return fail(
          make_error(Errc::bad_csr, "a csr means a new key: set rotate_key to true, or send no csr to keep the key"));
    auto rec = d_.certificates.find(current.serial_hex());
    if (!rec) return fail(rec.error());
    if (!*rec || (*rec)->der != current.der())
      return fail(make_error(Errc::forbidden, "the presented certificate was not issued by this CA"));
    const auto& old = **rec;
    // Same lifetime as the certificate being renewed (the issuer caps it at the profile's maximum).
    const auto profiles = d_.issuer.profiles();
    const policy::Profile* p = profiles.find(old.profile);
    if (!p) return fail(make_error(Errc::policy_violation, "profile '" + old.profile + "' no longer exists"));
    // created_at is when it was signed: not_after - created_at is the TTL asked for, without
    // the backdating of notBefore (which would otherwise grow with every renewal).
    const Seconds lifetime = std::min(Seconds(old.not_after - old.created_at), p->max_ttl);
    if (rotate) {
      auto new_key = crypto::Csr::from_pem_or_der(*csr);
      if (new_key && new_key->public_key().spki == current.public_key().spki)
        return fail(make_error(Errc::bad_csr, "rotate_key: the CSR has the same key as the current certificate"));
    }
    auto prepared = d_.issuer.prepare({*csr, old.profile, lifetime, "api-renew:" + id->value, &current});
    if (!prepared) return fail(prepared.error());
    auto out = d_.issuer.issue(std::move(*prepared));
    if (!out) return fail(out.error());
    Response resp = issued_response(*out, old.profile);
    auto j = json::parse(resp.body);
    j["replaces"] = current.serial_hex();
    resp.body = j.dump();
    return resp;
  }

  // RFC 9773's JSON shape for cron clients that do not speak ACME: when to renew this
  // certificate. Not secret (any caller may ask); "now" for revoked and flagged certificates.
  Response renewal_info(const Request& req) {
    auto serial = store::normalize_serial(req.params.at("serial"));
    if (!serial) return fail(serial.error());
    auto rec = d_.certificates.find(*serial);
    if (!rec) return fail(rec.error());
    if (!*rec || (*rec)->der.empty()) return fail(make_error(Errc::not_found, "no certificate with that serial"));
    auto w = revocation::suggested_renewal_window(d_.certificates, **rec, d_.clock.now());
    if (!w) return fail(w.error());
    json j = {{"suggestedWindow", {{"start", format_rfc3339(w->start)}, {"end", format_rfc3339(w->end)}}}};
    return Response::json(200, j.dump()).with("Retry-After", "21600");
  }

  // ACME EAB keys (admin): POST creates (the HMAC key is shown once), GET lists, revoke.
  Response eab_create(const Request& req) {
    const authz::Identity* id = caller(req);
    auto body = json_body(req, {"kid", "description", "allow"});
    if (!body) return fail(body.error());
    auto kid = string_field(*body, "kid", false);
    if (!kid) return fail(kid.error());
    auto desc = string_field(*body, "description", false);
    if (!desc) return fail(desc.error());
    std::vector<std::string> allow;
    if (body->contains("allow")) {
      if (!(*body)["allow"].is_array()) return fail(make_error(Errc::malformed, "allow must be an array of strings"));
      for (const auto& a : (*body)["allow"]) {
        if (!a.is_string()) return fail(make_error(Errc::malformed, "allow must be an array of strings"));
        allow.push_back(a.get<std::string>());
      }
    }
    const std::int64_t now = to_unix(d_.clock.now());
    auto key = make_eab_key(*kid, *desc, allow, now);
    if (!key) return fail(key.error());
    if (auto st = d_.acme.create_eab_key(*key, {now, "api:" + id->value, "acme-eab-create", key->kid, "ok", *desc});
        !st)
      return fail(st.error());
    json j = {{"kid", key->kid}, {"hmac_key", base64url_encode(key->hmac_key)}, {"allowed_identifiers", allow}};
    return Response::json(201, j.dump()).with("Location", "/api/v1/acme/eab/" + key->kid);
  }

  Response eab_list(const Request&) {
    auto keys = d_.acme.list_eab_keys();
    if (!keys) return fail(keys.error());
    json out = json::array();
    for (const auto& k : *keys) out.push_back(eab_key_json(k));
    return Response::json(200, json{{"items", out}}.dump());
  }

  // Body (optional): {"deactivate_account": true} also deactivates the account bound to the key.
  Response eab_revoke(const Request& req) {
    const authz::Identity* id = caller(req);
    const std::string& kid = req.params.at("kid");
    bool deactivate = false;
    if (!req.body.empty()) {
      auto body = json_body(req, {"deactivate_account"});
      if (!body) return fail(body.error());
      if (body->contains("deactivate_account")) {
        if (!(*body)["deactivate_account"].is_boolean())
          return fail(make_error(Errc::malformed, "field 'deactivate_account' must be a boolean"));
        deactivate = (*body)["deactivate_account"].get<bool>();
      }
    }
    auto out = revoke_eab(d_.acme, kid, deactivate, to_unix(d_.clock.now()), "api:" + id->value);
    if (!out) return fail(out.error());
    return Response::json(200, out->dump());
  }

  Response accounts_list(const Request&) {
    auto list = d_.acme.list_accounts();
    if (!list) return fail(list.error());
    json out = json::array();
    for (const auto& a : *list) out.push_back(acme_account_json(a));
    return Response::json(200, json{{"items", out}}.dump());
  }

  Response account_show(const Request& req) {
    const std::string& acct = req.params.at("id");
    auto a = d_.acme.account(acct);
    if (!a) return fail(a.error());
    if (!*a) return fail(make_error(Errc::not_found, "no ACME account " + acct));
    return Response::json(200, acme_account_json(**a).dump());
  }

  Response account_deactivate(const Request& req) {
    const authz::Identity* id = caller(req);
    const std::string& acct = req.params.at("id");
    auto out = deactivate_acme_account(d_.acme, acct, to_unix(d_.clock.now()), "api:" + id->value);
    if (!out) return fail(out.error());
    return Response::json(200, acme_account_json(out->account).dump());
  }

  Response metrics(const Request&) {
    return Response::text(200, d_.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  }

 private:
  Deps& d_;
};

template <class F>
http::Handler bind(std::shared_ptr<Api> api, F f) {
  return [api, f](const Request& r) { return ((*api).*f)(r); };
}

}  // namespace

json acme_account_json(const store::AcmeAccount& a) {
  return json{{"id", a.id},
              {"path", "/acme/acct/" + a.id},
              {"status", store::to_string(a.status)},
              {"contact", a.contact},
              {"terms_agreed", a.terms_agreed},
              {"eab_kid", a.eab_kid},
              {"thumbprint", a.thumbprint},
              {"created_at", format_rfc3339(from_unix(a.created_at))}};
}

Result<std::string> acme_account_id(const std::string& id_or_url) {
  std::string id = id_or_url;
  if (const auto at = id.rfind("/acme/acct/"); at != std::string::npos) id = id.substr(at + 11);
  if (id.empty() || id.size() > 128 ||
      id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos)
    return make_error(Errc::invalid_argument,
                      "'" + id_or_url + "' is not an ACME account id or URL (.../acme/acct/<id>)");
  return id;
}

Result<AccountDeactivation> deactivate_acme_account(store::AcmeRepository& store, const std::string& id,
                                                    std::int64_t now, const std::string& actor) {
  // Compare-and-set: a concurrent ACME write (contact, key change) makes this read again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    SIGIL_TRY(auto a, store.account(id));
    if (!a) return make_error(Errc::not_found, "no ACME account " + id);
    // acme/model's deactivation, which ca/ cannot include: only a valid account can be deactivated.
    if (a->status != store::AccountStatus::valid) return AccountDeactivation{*a, false};
    store::AcmeAccount off = *a;
    off.status = store::AccountStatus::deactivated;
    auto st = store.update_account(off, *a, {now, actor, "acme-account-deactivate", id, "ok", "by an operator"});
    if (st) return AccountDeactivation{off, true};
    if (st.error().code != Errc::conflict) return st.error();
  }
  return make_error(Errc::conflict, "ACME account " + id + " keeps changing; try again");
}

Result<json> revoke_eab(store::AcmeRepository& store, const std::string& kid, bool deactivate_account, std::int64_t now,
                        const std::string& actor) {
  auto st = store.revoke_eab_key(kid, now, {now, actor, "acme-eab-revoke", kid, "ok", ""});
  // Already revoked: with --deactivate-account the account is still cut off.
  if (!st && !(deactivate_account && st.error().code == Errc::conflict)) return st.error();
  json out = {{"kid", kid}, {"state", "revoked"}};
  if (!deactivate_account) return out;
  SIGIL_TRY(auto key, store.eab_key(kid));
  if (!key || key->account_id.empty()) {
    out["account"] = nullptr;  // never bound: nothing to deactivate
    return out;
  }
  SIGIL_TRY(auto d, deactivate_acme_account(store, key->account_id, now, actor));
  out["account"] = acme_account_json(d.account);
  return out;
}

json eab_key_json(const store::EabKey& k) {
  json j = {{"kid", k.kid},
            {"state", k.revoked_at           ? "revoked"
                      : k.account_id.empty() ? "unused"
                                             : "bound"},
            {"description", k.description},
            {"allowed_identifiers", k.allowed_identifiers},
            {"created_at", format_rfc3339(from_unix(k.created_at))},
            {"account", k.account_id}};
  if (k.revoked_at) j["revoked_at"] = format_rfc3339(from_unix(*k.revoked_at));
  return j;
}

Result<store::EabKey> make_eab_key(const std::string& kid, const std::string& description,
                                   const std::vector<std::string>& allow, std::int64_t now) {
  store::EabKey k;
  // Hex, not base64url: a random kid never begins with '-', which a command line (`sigil acme eab
  // revoke KID`) or a client's flag parser would take for an option.
  k.kid = kid.empty() ? to_hex(crypto::random_bytes(12)) : kid;
  if (k.kid.size() > 128 || k.kid.front() == '-' ||
      k.kid.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != std::string::npos)
    return make_error(Errc::invalid_argument,
                      "kid: letters, digits, '-', '_' and '.' only, not beginning with '-', at most 128");
  policy::IdentifierPolicy check;  // the syntax of `allow`, as the identifier policy reads it
  for (const auto& a : allow) (a.find('/') != std::string::npos ? check.ip_ranges : check.dns_suffixes).push_back(a);
  if (auto st = check.validate(); !st) return make_error(Errc::invalid_argument, "allow: " + st.error().detail);
  // Clients take the key base64url-encoded on their command line (certbot --eab-hmac-key, lego
  // --hmac), where a leading '-' reads as an option: draw again when the encoding would start
  // with one (first octet 0xf8-0xfb; costs 0.02 of the key's 256 bits).
  do {
    k.hmac_key = crypto::random_bytes(32);
  } while ((k.hmac_key[0] >> 2) == 62);
  k.description = description;
  k.allowed_identifiers = allow;
  k.created_at = now;
  return k;
}

namespace {
// Installs the api's client-certificate authenticator on a router holding api routes.
void authenticate_callers(http::Router& r, const std::shared_ptr<Api>& api) {
  r.authenticate(http::Auth::Kind::client_cert,
                 [api](const Request& req, const http::Route& route) { return api->authenticate(req, route); });
}
}  // namespace

std::shared_ptr<const http::Router> api_router(Deps& deps) {
  auto api = std::make_shared<Api>(deps);
  auto r = std::make_shared<http::Router>();
  using http::Auth;
  // The whole REST API: method, path, authentication (and the action the caller's role must
  // allow, audited under its own name when refused), handler. Issuing and revoking are decided
  // by their handlers: on the request's names and profile, and on whose certificate it is.
  add_health_routes(*r, deps.readiness);
  r->add({"POST", "/api/v1/certificates", Auth::client_cert, bind(api, &Api::create), ""});
  r->add({"GET", "/api/v1/certificates", Auth::client_cert_for("read", "list"), bind(api, &Api::list), ""});
  r->add({"GET", "/api/v1/certificates/{serial}", Auth::client_cert_for("read"), bind(api, &Api::show), ""});
  r->add({"POST", "/api/v1/certificates/{serial}/revoke", Auth::client_cert, bind(api, &Api::revoke), ""});
  r->add({"POST", "/api/v1/renew", Auth::client_cert_for("renew_self", "renew"), bind(api, &Api::renew), ""});
  r->add({"GET", "/api/v1/renewal-info/{serial}", Auth::none, bind(api, &Api::renewal_info), ""});
  r->add({"GET", "/metrics", Auth::client_cert_for("metrics"), bind(api, &Api::metrics), ""});
  r->add(
      {"POST", "/api/v1/acme/eab", Auth::client_cert_for("administer", "eab-create"), bind(api, &Api::eab_create), ""});
  r->add({"GET", "/api/v1/acme/eab", Auth::client_cert_for("administer", "eab-list"), bind(api, &Api::eab_list), ""});
  r->add({"POST", "/api/v1/acme/eab/{kid}/revoke", Auth::client_cert_for("administer", "eab-revoke"),
          bind(api, &Api::eab_revoke), ""});
  // Accounts are read (a viewer's too): they hold no secret. EAB keys stay the admin's.
  r->add({"GET", "/api/v1/acme/accounts", Auth::client_cert_for("read", "acme-account-list"),
          bind(api, &Api::accounts_list), ""});
  r->add({"GET", "/api/v1/acme/accounts/{id}", Auth::client_cert_for("read", "acme-account-show"),
          bind(api, &Api::account_show), ""});
  r->add({"POST", "/api/v1/acme/accounts/{id}/deactivate",
          Auth::client_cert_for("administer", "acme-account-deactivate"), bind(api, &Api::account_deactivate), ""});
  add_console_routes(*r, deps);
  r->add({"POST", "/api/v1/policy/explain", Auth::client_cert_for("explain", "policy-explain"), explain_handler(deps),
          ""});
  authenticate_callers(*r, api);
  return r;
}

std::shared_ptr<http::Router> acme_router(Deps& deps) {
  auto api = std::make_shared<Api>(deps);
  auto r = std::make_shared<http::Router>();
  using http::Auth;
  add_health_routes(*r, deps.readiness);
  r->add({"POST", "/api/v1/renew", Auth::client_cert_for("renew_self", "renew"), bind(api, &Api::renew), ""});
  r->add({"GET", "/api/v1/renewal-info/{serial}", Auth::none, bind(api, &Api::renewal_info), ""});
  authenticate_callers(*r, api);
  return r;
}

nlohmann::json certificate_json(const store::CertificateRecord& r, std::int64_t now) {
  std::string status = store::to_string(r.status);
  if (r.status == store::CertStatus::valid && r.not_after <= now) status = "expired";
  nlohmann::json j = {{"serial", r.serial},
                      {"status", status},
                      {"profile", r.profile},
                      {"subject", r.subject},
                      {"sans", r.sans},
                      {"not_before", format_rfc3339(from_unix(r.not_before))},
                      {"not_after", format_rfc3339(from_unix(r.not_after))},
                      {"requester", r.requester},
                      {"issuer_id", r.issuer_id},
                      {"created_at", format_rfc3339(from_unix(r.created_at))}};
  if (r.revoked_at) j["revoked_at"] = format_rfc3339(from_unix(*r.revoked_at));
  if (r.revocation_reason) j["revocation_reason"] = store::to_string(*r.revocation_reason);
  return j;
}

void describe_metrics(Deps& deps) {
  // Families exist from the start, so rate() and increase() in alerting rules see the first event.
  deps.metrics.describe("sigil_certificates_issued_total", "counter",
                        "Certificates issued through the REST API by profile");
  deps.metrics.describe("sigil_authorization_denials_total", "counter", "Requests refused by authorization, by action");
  deps.metrics.describe("sigil_store_errors_total", "counter", "REST requests failed by the database");
  deps.metrics.add("sigil_store_errors_total", {}, 0);
}

}  // namespace sigil::api
