#include "acme/wfe/wfe.hpp"

#include <cassert>
#include <nlohmann/json.hpp>

#include "acme/model/model.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"

namespace sigil::acme::wfe {
namespace {

using http::Request;
using http::Response;
using json = nlohmann::json;

// Paths below the base ("https://host:port").
constexpr const char* kDirectory = "/acme/directory";
constexpr const char* kNewNonce = "/acme/new-nonce";
constexpr const char* kNewAccount = "/acme/new-account";
constexpr const char* kNewOrder = "/acme/new-order";
constexpr const char* kRevokeCert = "/acme/revoke-cert";
constexpr const char* kKeyChange = "/acme/key-change";
constexpr const char* kRenewalInfo = "/acme/renewal-info";

std::string base_of(const Request& req) {
  auto host = req.header("host");
  return "https://" + std::string(host ? *host : "localhost");
}

std::string rfc3339(std::int64_t unix) { return format_rfc3339(from_unix(unix)); }

json problem_body(const Error& e) {
  const ErrorInfo& i = info(e.code);
  std::string type(i.problem_type);
  if (type == "about:blank") type = "urn:ietf:params:acme:error:malformed";
  json j = {{"type", type}, {"status", i.http_status}, {"detail", i.http_status >= 500 ? "internal error" : e.detail}};
  if (e.code == Errc::bad_signature_algorithm) j["algorithms"] = json::parse(jws::kAlgorithms);
  return j;
}

// The WFE's principal, set by the router before a handler runs: the verified JWS, the account
// when `kid` was used.
struct Verified final : http::Principal {
  jws::Jws jws;
  std::optional<store::AcmeAccount> account;
  std::string base;
};

class Wfe {
 public:
  explicit Wfe(Deps& d) : d_(d) {}

  // Every ACME response: a fresh nonce and the directory link.
  Response finish(const Request& req, Response r) {
    r.with("Replay-Nonce", d_.nonces.issue());
    r.with("Link", "<" + base_of(req) + kDirectory + ">;rel=\"index\"");
    r.with("Cache-Control", "no-store");
    return r;
  }

  Response fail(const Request& req, const Error& e, std::optional<std::int64_t> retry_after = std::nullopt,
                const std::vector<ra::Subproblem>& subs = {}) {
    const ErrorInfo& i = info(e.code);
    if (i.http_status >= 500) log::error("acme request failed", {{"path", req.path}, {"detail", e.detail}});
    json j = problem_body(e);
    if (e.code == Errc::not_found) j["status"] = 404;
    if (e.code == Errc::unauthorized || e.code == Errc::forbidden)
      j["status"] = 403;  // as Boulder: no WWW-Authenticate
    for (const auto& s : subs)
      j["subproblems"].push_back({{"type", info(s.code).problem_type},
                                  {"detail", s.detail},
                                  {"identifier", {{"type", s.identifier.type}, {"value", s.identifier.value}}}});
    Response r;
    r.status = j["status"].get<int>();
    r.body = j.dump();
    r.headers.emplace_back("Content-Type", "application/problem+json");
    if (e.code == Errc::rate_limited) {
      const std::int64_t t = to_unix(d_.clock.now());
      r.with("Retry-After", std::to_string(retry_after.value_or(3600 - t % 3600)));
    }
    // A database failover (a nonce could not be recorded, ...): nothing was done; retry shortly.
    if (e.code == Errc::unavailable) r.with("Retry-After", "2");
    return finish(req, std::move(r));
  }

  Response json_response(const Request& req, int status, const json& body) {
    return finish(req, Response::json(status, body.dump()));
  }

  // ---- unauthenticated ----

  Response directory(const Request& req) {
    const std::string b = base_of(req);
    json meta = {{"externalAccountRequired", d_.ra.config().eab_required}};
    if (!d_.meta.terms_of_service.empty()) meta["termsOfService"] = d_.meta.terms_of_service;
    if (!d_.meta.website.empty()) meta["website"] = d_.meta.website;
    json profiles = json::object();
    for (const auto& p : d_.ra.config().profiles)
      profiles[p] = p == "server"   ? "TLS server certificates (serverAuth)"
                    : p == "client" ? "TLS client and server certificates (serverAuth, clientAuth)"
                                    : "Sigil profile " + p;
    meta["profiles"] = profiles;
    json j = {{"newNonce", b + kNewNonce},
              {"newAccount", b + kNewAccount},
              {"newOrder", b + kNewOrder},
              {"revokeCert", b + kRevokeCert},
              {"keyChange", b + kKeyChange},
              {"renewalInfo", b + kRenewalInfo},
              {"meta", meta}};
    Response r = Response::json(200, j.dump());
    r.with("Link", "<" + b + kDirectory + ">;rel=\"index\"");
    return r;
  }

  Response new_nonce(const Request& req) {
    Response r;
    r.status = req.method == "HEAD" ? 200 : 204;
    return finish(req, std::move(r));
  }

  Response renewal_info(const Request& req) {
    auto ri = d_.ra.renewal_info(req.params.at("id"));
    if (!ri) return fail(req, ri.error());
    json j = {{"suggestedWindow", {{"start", format_rfc3339(ri->start)}, {"end", format_rfc3339(ri->end)}}}};
    Response r = Response::json(200, j.dump());
    r.with("Retry-After", "21600");
    return r;
  }

  // ---- the POST pipeline (§6.2, §6.3, §6.5) ----

  // The router's authenticator for the JWS kinds: the verified request, or the problem document
  // (with a fresh nonce) that refuses it.
  http::Authenticated authenticate(const Request& req, const http::Route& route) {
    auto v = verify(req, route.auth.kind);
    if (!v) return fail(req, v.error());
    if (route.auth.kind == http::Auth::Kind::post_as_get && !v->jws.post_as_get())
      return fail(req, make_error(Errc::malformed, post_as_get_detail(route.pattern)));
    return std::make_shared<const Verified>(std::move(*v));
  }

  static std::string post_as_get_detail(std::string_view pattern) {
    if (pattern == "/acme/acct/{id}/orders") return "the orders list is fetched with POST-as-GET";
    if (pattern == "/acme/order/{id}") return "an order is fetched with POST-as-GET";
    if (pattern == "/acme/cert/{serial}") return "a certificate is fetched with POST-as-GET";
    return "this resource is fetched with POST-as-GET";
  }

  // What the router verified; it runs no JWS route's handler without it.
  static const Verified& verified(const Request& req) {
    const auto* v = req.principal_as<Verified>();
    assert(v != nullptr);
    return *v;
  }

  Result<Verified> verify(const Request& req, http::Auth::Kind kind) {
    using Kind = http::Auth::Kind;
    auto ct = req.header("content-type");
    if (!ct || ct->substr(0, 21) != "application/jose+json")
      return make_error(Errc::unsupported_media_type, "Content-Type must be application/jose+json");
    SIGIL_TRY(jws::Jws j, jws::parse(req.body));
    Verified v;
    v.base = base_of(req);
    if (j.header.url != v.base + req.target)
      return make_error(Errc::unauthorized, "the JWS url header does not match the request URL");
    if (j.header.jwk) {
      if (kind != Kind::jws_jwk && kind != Kind::jws_either)
        return make_error(Errc::malformed, "this request must be signed with a kid, not a jwk");
      SIGIL_TRY_STATUS(jws::verify(j, j.header.jwk->key));
    } else {
      if (kind == Kind::jws_jwk) return make_error(Errc::malformed, "this request must carry a jwk, not a kid");
      const std::string prefix = v.base + "/acme/acct/";
      if (j.header.kid.rfind(prefix, 0) != 0)
        return make_error(Errc::account_does_not_exist, "the kid is not an account URL");
      SIGIL_TRY(auto account, d_.ra.account(j.header.kid.substr(prefix.size())));
      auto key = d_.ra.account_key(account);
      if (!key) return make_error(Errc::internal, "stored account key: " + key.error().detail);
      SIGIL_TRY_STATUS(jws::verify(j, (*key)->key));
      v.account = std::move(account);
    }
    // Only a request whose signature verified may spend a nonce (Boulder's order): junk cannot
    // burn the nonces of others or make the store work.
    // A store that cannot record the nonce fails the request (503 in a failover): a nonce is
    // never accepted unrecorded, or it could be replayed on another node.
    SIGIL_TRY(const bool fresh, d_.nonces.redeem(j.header.nonce));
    if (!fresh) return make_error(Errc::bad_nonce, "the nonce is unknown, used or expired");
    v.jws = std::move(j);
    return v;
  }

  static Result<json> payload_object(const Verified& v) {
    if (v.jws.post_as_get()) return json::object();
    json p = json::parse(v.jws.payload, nullptr, false);
    if (p.is_discarded() || !p.is_object()) return make_error(Errc::malformed, "the JWS payload is not a JSON object");
    return p;
  }

  // ---- JSON views ----

  // §7.1.2: with the URL of the account's orders list.
  json account_json(const std::string& base, const store::AcmeAccount& a) {
    json j = {{"status", store::to_string(a.status)},
              {"contact", a.contact},
              {"termsOfServiceAgreed", a.terms_agreed},
              {"orders", base + orders_path(a.id)}};
    return j;
  }

  static std::string orders_path(const std::string& account_id) { return ra::account_path(account_id) + "/orders"; }

  json challenge_json(const std::string& base, const store::AcmeAuthorization& a, const store::AcmeChallenge& c) {
    json j = {{"type", c.type},
              {"url", base + "/acme/chall/" + a.id + "/" + c.type},
              {"status", store::to_string(c.status)},
              {"token", a.token}};
    if (c.status == store::ChallengeStatus::valid && c.validated) j["validated"] = rfc3339(c.validated);
    if (!c.error.empty()) j["error"] = json::parse(c.error, nullptr, false);
    return j;
  }

  json authz_json(const std::string& base, const store::AcmeAuthorization& a) {
    json j = {{"status", store::to_string(a.status)},
              {"expires", rfc3339(a.expires)},
              {"identifier", {{"type", a.identifier.type}, {"value", a.identifier.value}}},
              {"challenges", json::array()}};
    for (const auto& c : a.challenges) {
      // A final authorization shows only the challenge that decided it (§7.1.4).
      if (a.status == store::AuthorizationStatus::valid && c.status != store::ChallengeStatus::valid) continue;
      j["challenges"].push_back(challenge_json(base, a, c));
    }
    if (a.wildcard) j["wildcard"] = true;
    return j;
  }

  json order_json(const std::string& base, const store::AcmeOrder& o) {
    json ids = json::array();
    for (const auto& i : o.identifiers) ids.push_back({{"type", i.type}, {"value", i.value}});
    json authzs = json::array();
    for (const auto& id : o.authorization_ids) authzs.push_back(base + "/acme/authz/" + id);
    json j = {{"status", store::to_string(o.status)},
              {"expires", rfc3339(o.expires)},
              {"identifiers", ids},
              {"authorizations", authzs},
              {"finalize", base + "/acme/order/" + o.id + "/finalize"},
              {"profile", o.profile}};
    if (o.not_before) j["notBefore"] = rfc3339(*o.not_before);
    if (o.not_after) j["notAfter"] = rfc3339(*o.not_after);
    if (!o.replaces.empty()) j["replaces"] = o.replaces;
    if (o.status == store::OrderStatus::valid && !o.certificate_serial.empty())
      j["certificate"] = base + "/acme/cert/" + o.certificate_serial;
    if (o.status == store::OrderStatus::invalid && !o.error.empty()) j["error"] = json::parse(o.error, nullptr, false);
    return j;
  }

  Response order_response(const Request& req, const std::string& base, int status, const store::AcmeOrder& o) {
    Response r = Response::json(status, order_json(base, o).dump());
    r.with("Location", base + "/acme/order/" + o.id);
    if (o.status == store::OrderStatus::processing) r.with("Retry-After", "1");
    return finish(req, std::move(r));
  }

  // ---- accounts ----

  Response new_account(const Request& req) {
    const Verified* v = &verified(req);
    auto p = payload_object(*v);
    if (!p) return fail(req, p.error());
    const jws::Jwk& key = *v->jws.header.jwk;
    auto existing = d_.ra.find_account(key.thumbprint);
    if (!existing) return fail(req, existing.error());
    if (*existing) {
      if ((*existing)->status != store::AccountStatus::valid)
        return fail(req, make_error(Errc::unauthorized, std::string("the account for this key is ") +
                                                            store::to_string((*existing)->status)));
      Response r = Response::json(200, account_json(v->base, **existing).dump());
      r.with("Location", v->base + ra::account_path((*existing)->id));
      return finish(req, std::move(r));
    }
    if (p->value("onlyReturnExisting", false))
      return fail(req, make_error(Errc::account_does_not_exist, "no account exists for this key"));
    ra::NewAccount na;
    na.key = key;
    na.remote_address = req.remote_address;
    if (p->contains("contact")) {
      if (!(*p)["contact"].is_array()) return fail(req, make_error(Errc::malformed, "contact must be an array"));
      for (const auto& c : (*p)["contact"]) {
        if (!c.is_string()) return fail(req, make_error(Errc::malformed, "contact entries must be strings"));
        na.contact.push_back(c.get<std::string>());
      }
    }
    if (p->contains("termsOfServiceAgreed") && !(*p)["termsOfServiceAgreed"].is_boolean())
      return fail(req, make_error(Errc::malformed, "termsOfServiceAgreed must be a boolean"));
    na.terms_agreed = p->value("termsOfServiceAgreed", false);
    if (!d_.meta.terms_of_service.empty() && !na.terms_agreed)
      return fail(req, make_error(Errc::malformed, "the terms of service must be agreed to"));
    if (p->contains("externalAccountBinding")) {
      auto kid = jws::verify_eab((*p)["externalAccountBinding"].dump(), key, v->base + kNewAccount,
                                 [&](const std::string& k) { return d_.ra.eab_mac_key(k); });
      if (!kid) return fail(req, kid.error());
      na.eab_kid = *kid;
    }
    auto a = d_.ra.new_account(na);
    if (!a) return fail(req, a.error());
    Response r = Response::json(201, account_json(v->base, *a).dump());
    r.with("Location", v->base + ra::account_path(a->id));
    return finish(req, std::move(r));
  }

  Response account(const Request& req) {
    const Verified* v = &verified(req);
    if (v->account->id != req.params.at("id"))
      return fail(req, make_error(Errc::unauthorized, "the kid names another account"));
    auto p = payload_object(*v);
    if (!p) return fail(req, p.error());
    std::optional<std::vector<std::string>> contact;
    bool deactivate = false;
    if (p->contains("contact")) {
      if (!(*p)["contact"].is_array()) return fail(req, make_error(Errc::malformed, "contact must be an array"));
      contact.emplace();
      for (const auto& c : (*p)["contact"]) {
        if (!c.is_string()) return fail(req, make_error(Errc::malformed, "contact entries must be strings"));
        contact->push_back(c.get<std::string>());
      }
    }
    if (p->contains("status")) {
      if ((*p)["status"] != store::to_string(store::AccountStatus::deactivated))
        return fail(req, make_error(Errc::malformed, "an account's status can only be set to deactivated"));
      deactivate = true;
    }
    store::AcmeAccount a = *v->account;
    if (contact || deactivate) {
      auto upd = d_.ra.update_account(a, contact, deactivate);
      if (!upd) return fail(req, upd.error());
      a = *upd;
    }
    Response r = Response::json(200, account_json(v->base, a).dump());
    r.with("Location", v->base + ra::account_path(a.id));
    return finish(req, std::move(r));
  }

  // §7.1.2.1: the account's orders, a page at a time, by POST-as-GET signed by that account.
  Response orders(const Request& req) {
    const Verified* v = &verified(req);
    if (v->account->id != req.params.at("id"))
      return fail(req, make_error(Errc::unauthorized, "the kid names another account"));
    auto it = req.query.find("cursor");
    auto list = d_.ra.orders(*v->account, it == req.query.end() ? "" : it->second);
    if (!list) return fail(req, list.error());
    json urls = json::array();
    for (const auto& id : list->order_ids) urls.push_back(v->base + "/acme/order/" + id);
    Response r = Response::json(200, json{{"orders", urls}}.dump());
    // The cursor is "<digits>.<base64url>": nothing in it needs percent-encoding.
    if (!list->next_cursor.empty())
      r.with("Link", "<" + v->base + orders_path(v->account->id) + "?cursor=" + list->next_cursor + ">;rel=\"next\"");
    return finish(req, std::move(r));
  }

  Response key_change(const Request& req) {
    const Verified* v = &verified(req);
    const std::string account_url = v->base + ra::account_path(v->account->id);
    auto old_key = jws::parse_jwk(v->account->jwk);
    if (!old_key) return fail(req, make_error(Errc::internal, old_key.error().detail));
    auto new_key = jws::verify_key_change(v->jws.payload, v->jws.header.url, account_url, *old_key);
    if (!new_key) return fail(req, new_key.error());
    auto other = d_.ra.find_account(new_key->thumbprint);
    if (!other) return fail(req, other.error());
    if (*other) {
      Response r = fail(req, make_error(Errc::conflict, "the new key already belongs to an account"));
      r.status = 409;
      r.with("Location", v->base + ra::account_path((*other)->id));
      return r;
    }
    auto a = d_.ra.change_key(*v->account, *new_key);
    if (!a) return fail(req, a.error());
    Response r = Response::json(200, account_json(v->base, *a).dump());
    r.with("Location", account_url);
    return finish(req, std::move(r));
  }

  // ---- orders ----

  Response new_order(const Request& req) {
    const Verified* v = &verified(req);
    auto p = payload_object(*v);
    if (!p) return fail(req, p.error());
    ra::NewOrder no;
    if (!p->contains("identifiers") || !(*p)["identifiers"].is_array())
      return fail(req, make_error(Errc::malformed, "identifiers must be an array"));
    for (const auto& i : (*p)["identifiers"]) {
      if (!i.is_object() || !i.contains("type") || !i["type"].is_string() || !i.contains("value") ||
          !i["value"].is_string())
        return fail(req, make_error(Errc::malformed, "an identifier needs a string type and value"));
      no.identifiers.push_back({i["type"].get<std::string>(), i["value"].get<std::string>()});
    }
    for (const char* field : {"notBefore", "notAfter"}) {
      if (!p->contains(field)) continue;
      if (!(*p)[field].is_string())
        return fail(req, make_error(Errc::malformed, std::string(field) + " must be a string"));
      auto t = parse_rfc3339((*p)[field].get<std::string>());
      if (!t) return fail(req, make_error(Errc::malformed, std::string(field) + ": " + t.error().detail));
      (std::string(field) == "notBefore" ? no.not_before : no.not_after) = to_unix(*t);
    }
    for (const char* field : {"profile", "replaces"}) {
      if (!p->contains(field)) continue;
      if (!(*p)[field].is_string())
        return fail(req, make_error(Errc::malformed, std::string(field) + " must be a string"));
      (std::string(field) == "profile" ? no.profile : no.replaces) = (*p)[field].get<std::string>();
    }
    auto out = d_.ra.new_order(*v->account, no, req.remote_address);
    if (auto* refusal = std::get_if<ra::Refusal>(&out))
      return fail(req, refusal->error, refusal->retry_after, refusal->subproblems);
    return order_response(req, v->base, 201, std::get<ra::Ra::OrderView>(out).order);
  }

  Response order(const Request& req) {
    const Verified* v = &verified(req);
    auto o = d_.ra.order(*v->account, req.params.at("id"));
    if (!o) return fail(req, o.error());
    return order_response(req, v->base, 200, o->order);
  }

  Response finalize(const Request& req) {
    const Verified* v = &verified(req);
    auto p = payload_object(*v);
    if (!p) return fail(req, p.error());
    if (!p->contains("csr") || !(*p)["csr"].is_string())
      return fail(req, make_error(Errc::malformed, "finalize needs a csr (base64url DER)"));
    auto der = base64url_decode((*p)["csr"].get<std::string>());
    if (!der) return fail(req, make_error(Errc::malformed, "the csr is not base64url"));
    auto o = d_.ra.finalize(*v->account, req.params.at("id"), *der);
    if (!o) return fail(req, o.error());
    return order_response(req, v->base, 200, o->order);
  }

  // ---- authorizations and challenges ----

  Response authz(const Request& req) {
    const Verified* v = &verified(req);
    auto p = payload_object(*v);
    if (!p) return fail(req, p.error());
    Result<store::AcmeAuthorization> a = make_error(Errc::internal, "");
    if (p->contains("status")) {
      if ((*p)["status"] != store::to_string(store::AuthorizationStatus::deactivated))
        return fail(req, make_error(Errc::malformed, "an authorization's status can only be set to deactivated"));
      a = d_.ra.deactivate_authorization(*v->account, req.params.at("id"));
    } else {
      a = d_.ra.authorization(*v->account, req.params.at("id"));
    }
    if (!a) return fail(req, a.error());
    Response r = Response::json(200, authz_json(v->base, *a).dump());
    r.with("Location", v->base + "/acme/authz/" + a->id);
    if (a->status == store::AuthorizationStatus::pending) r.with("Retry-After", "1");
    return finish(req, std::move(r));
  }

  Response challenge(const Request& req) {
    const Verified* v = &verified(req);
    const std::string& authz_id = req.params.at("authz");
    const std::string& type = req.params.at("type");
    store::AcmeAuthorization a;
    if (v->jws.post_as_get()) {
      auto got = d_.ra.authorization(*v->account, authz_id);
      if (!got) return fail(req, got.error());
      a = *got;
    } else {
      auto p = payload_object(*v);
      if (!p) return fail(req, p.error());
      auto out = d_.ra.answer_challenge(*v->account, authz_id, type);
      if (auto* refusal = std::get_if<ra::Refusal>(&out)) return fail(req, refusal->error, refusal->retry_after);
      a = std::get<store::AcmeAuthorization>(out);
    }
    for (const auto& c : a.challenges) {
      if (c.type != type) continue;
      Response r = Response::json(200, challenge_json(v->base, a, c).dump());
      r.with("Link", "<" + v->base + "/acme/authz/" + a.id + ">;rel=\"up\"");
      if (c.status == store::ChallengeStatus::processing) r.with("Retry-After", "1");
      return finish(req, std::move(r));
    }
    return fail(req, make_error(Errc::not_found, "the challenge"));
  }

  // ---- certificates ----

  Response certificate(const Request& req) {
    auto pem = d_.ra.certificate_chain(req.params.at("serial"));
    if (!pem) return fail(req, pem.error());
    Response r = Response::text(200, *pem, "application/pem-certificate-chain");
    return finish(req, std::move(r));
  }

  Response revoke_cert(const Request& req) {
    const Verified* v = &verified(req);
    auto p = payload_object(*v);
    if (!p) return fail(req, p.error());
    if (!p->contains("certificate") || !(*p)["certificate"].is_string())
      return fail(req, make_error(Errc::malformed, "revokeCert needs a certificate (base64url DER)"));
    auto der = base64url_decode((*p)["certificate"].get<std::string>());
    if (!der) return fail(req, make_error(Errc::malformed, "the certificate is not base64url"));
    int reason = 0;
    if (p->contains("reason")) {
      if (!(*p)["reason"].is_number_integer())
        return fail(req, make_error(Errc::bad_revocation_reason, "reason must be an integer"));
      reason = (*p)["reason"].get<int>();
    }
    const store::AcmeAccount* account = v->account ? &*v->account : nullptr;
    const crypto::PublicKey* key = v->jws.header.jwk ? &v->jws.header.jwk->key : nullptr;
    auto st = d_.ra.revoke(account, key, *der, reason);
    if (!st) return fail(req, st.error());
    Response r;
    r.status = 200;
    return finish(req, std::move(r));
  }

 private:
  Deps& d_;
};

}  // namespace

void add_routes(http::Router& router, Deps& deps) {
  auto w = std::make_shared<Wfe>(deps);
  auto bind = [w](Response (Wfe::*fn)(const Request&)) { return [w, fn](const Request& r) { return ((*w).*fn)(r); }; };
  using http::Auth;
  // The whole ACME API (RFC 8555 §7.1): method, path, authentication, handler.
  router.add({"GET", kDirectory, Auth::none, bind(&Wfe::directory), ""});
  router.add({"GET", kNewNonce, Auth::none, bind(&Wfe::new_nonce), ""});
  router.add({"POST", kNewAccount, Auth::jws_jwk, bind(&Wfe::new_account), ""});
  router.add({"POST", "/acme/acct/{id}", Auth::jws_kid, bind(&Wfe::account), ""});
  router.add({"POST", "/acme/acct/{id}/orders", Auth::post_as_get, bind(&Wfe::orders), ""});
  router.add({"POST", kKeyChange, Auth::jws_kid, bind(&Wfe::key_change), ""});
  router.add({"POST", kNewOrder, Auth::jws_kid, bind(&Wfe::new_order), ""});
  router.add({"POST", "/acme/order/{id}", Auth::post_as_get, bind(&Wfe::order), ""});
  router.add({"POST", "/acme/order/{id}/finalize", Auth::jws_kid, bind(&Wfe::finalize), ""});
  router.add({"POST", "/acme/authz/{id}", Auth::jws_kid, bind(&Wfe::authz), ""});
  router.add({"POST", "/acme/chall/{authz}/{type}", Auth::jws_kid, bind(&Wfe::challenge), ""});
  router.add({"POST", "/acme/cert/{serial}", Auth::post_as_get, bind(&Wfe::certificate), ""});
  router.add({"POST", kRevokeCert, Auth::jws_either, bind(&Wfe::revoke_cert), ""});
  router.add({"GET", "/acme/renewal-info/{id}", Auth::none, bind(&Wfe::renewal_info), ""});
  auto authenticate = [w](const Request& req, const http::Route& route) { return w->authenticate(req, route); };
  for (auto kind : {Auth::Kind::jws_jwk, Auth::Kind::jws_kid, Auth::Kind::jws_either, Auth::Kind::post_as_get})
    router.authenticate(kind, authenticate);
}

}  // namespace sigil::acme::wfe
