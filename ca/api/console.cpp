// The web console on the api listener: its files (ca/ui) under /ui/, who the caller is, and the
// read-only endpoints it adds (hierarchy, stats, audit log, an ACME account's orders). Everything
// else it shows comes from the REST API the CLI uses.
#include <nlohmann/json.hpp>

#include "ca/api/console_routes.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/ui/ui.hpp"

namespace sigil::api {
namespace {
using http::Request;
using http::Response;
using nlohmann::json;

// Scripts, styles, images and API calls from this origin only; no inline script or style, no
// framing, no plugin, forms only back here.
constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

Response with_console_headers(Response r) {
  r.with("Content-Security-Policy", kCsp)
      .with("X-Content-Type-Options", "nosniff")
      .with("X-Frame-Options", "DENY")
      .with("Referrer-Policy", "no-referrer")
      .with("Cross-Origin-Opener-Policy", "same-origin");
  return r;
}

// A file of the console: revalidated on every load (no-cache with a strong ETag), so a new sigil
// never leaves an old script running against a new API.
Response asset_response(const Request& req, const ui::Asset& a) {
  const std::string etag = "\"" + to_hex(crypto::sha256(as_bytes(a.body))).substr(0, 16) + "\"";
  Response r;
  if (auto inm = req.header("if-none-match"); inm && *inm == etag) {
    r.status = 304;
  } else {
    r.status = 200;
    r.body.assign(a.body);
    r.with("Content-Type", std::string(a.content_type));
  }
  r.with("ETag", etag).with("Cache-Control", "no-cache");
  return with_console_headers(std::move(r));
}

Response json_or_problem(const Result<json>& j) {
  if (!j) return Response::problem(j.error());
  return with_console_headers(Response::json(200, j->dump()));
}

Response missing(const char* what) {
  return Response::problem(make_error(Errc::unavailable, std::string(what) + " is not available on this listener"));
}

json order_json(const store::AcmeOrder& o) {
  json ids = json::array();
  for (const auto& i : o.identifiers) ids.push_back(i.type + ":" + i.value);
  json j = {{"id", o.id},
            {"status", store::to_string(o.status)},
            {"identifiers", ids},
            {"profile", o.profile},
            {"expires", format_rfc3339(from_unix(o.expires))},
            {"created_at", format_rfc3339(from_unix(o.created_at))},
            {"certificate_serial", o.certificate_serial}};
  if (!o.replaces.empty()) j["replaces"] = o.replaces;
  return j;
}
}  // namespace

Status check_browser_post(const Request& req) {
  const auto site = req.header("sec-fetch-site");
  const auto origin = req.header("origin");
  if (!site && !origin) return {};  // not a browser
  auto refuse = [](const std::string& why) {
    return make_error(Errc::forbidden, "cross-site request refused: " + why);
  };
  if (site && *site != "same-origin") return refuse("Sec-Fetch-Site is " + std::string(*site));
  if (origin) {
    const auto host = req.header("host");
    if (!host || *origin != "https://" + std::string(*host)) return refuse("Origin " + std::string(*origin));
  }
  const auto marker = req.header("x-sigil-console");
  if (!marker || *marker != "1") return refuse("a browser's POST must carry X-Sigil-Console: 1");
  const auto ct = req.header("content-type");
  if (!ct || ct->find("application/json") == std::string_view::npos)
    return refuse("a browser's POST must be application/json");
  return {};
}

void add_console_routes(http::Router& r, Deps& d) {
  using http::Auth;
  const Auth read = Auth::client_cert_for("read", "console");
  r.add({"GET", "/ui", read,
         [](const Request&) {
           Response resp;
           resp.status = 308;
           resp.with("Location", "/ui/");
           return with_console_headers(std::move(resp));
         },
         ""});
  r.add({"GET", "/ui/", read, [](const Request& req) { return asset_response(req, *ui::find("index.html")); }, ""});
  r.add({"GET", "/ui/{file}", read,
         [](const Request& req) {
           const ui::Asset* a = ui::find(req.params.at("file"));
           if (!a) return Response::problem(404, "about:blank", "no such console file");
           return asset_response(req, *a);
         },
         ""});
  // Who the console's user is and what the role lets it do, so the console offers only that (the
  // server decides each request again).
  r.add({"GET", "/api/v1/whoami", Auth::client_cert,
         [&d](const Request& req) {
           auto id = authz::identity_of(*req.peer);
           if (!id) return Response::problem(id.error());
           const auto policy = d.policy.load();
           const authz::Rule* rule = policy->rule_for(*id);
           json may = json::object();
           for (auto [name, action] :
                {std::pair{"read", authz::Action::read}, std::pair{"revoke", authz::Action::revoke},
                 std::pair{"administer", authz::Action::administer}, std::pair{"explain", authz::Action::explain}})
             may[name] = policy->may(*id, action).has_value();
           json j = {{"identity", id->value},
                     {"role", rule ? json(authz::role_name(rule->role)) : json(nullptr)},
                     {"may", may}};
           return with_console_headers(Response::json(200, j.dump()));
         },
         ""});
  r.add({"GET", "/api/v1/hierarchy", Auth::client_cert_for("read", "hierarchy"),
         [&d](const Request&) {
           return d.overview.hierarchy ? json_or_problem(d.overview.hierarchy()) : missing("hierarchy");
         },
         ""});
  r.add({"GET", "/api/v1/stats", Auth::client_cert_for("read", "stats"),
         [&d](const Request&) { return d.overview.stats ? json_or_problem(d.overview.stats()) : missing("stats"); },
         ""});
  r.add({"GET", "/api/v1/audit", Auth::client_cert_for("read", "audit-list"),
         [&d](const Request& req) {
           return d.overview.audit ? json_or_problem(d.overview.audit(req.query)) : missing("audit");
         },
         ""});
  r.add({"GET", "/api/v1/acme/accounts/{id}/orders", Auth::client_cert_for("read", "acme-order-list"),
         [&d](const Request& req) {
           const std::string& acct = req.params.at("id");
           auto a = d.acme.account(acct);
           if (!a) return Response::problem(a.error());
           if (!*a) return Response::problem(make_error(Errc::not_found, "no ACME account " + acct));
           auto orders = d.acme.orders_of_account(acct, to_unix(d.clock.now()), std::nullopt, 100);
           if (!orders) return Response::problem(orders.error());
           json items = json::array();
           for (const auto& o : *orders) items.push_back(order_json(o));
           return with_console_headers(Response::json(200, json{{"items", items}}.dump()));
         },
         ""});
}

}  // namespace sigil::api
